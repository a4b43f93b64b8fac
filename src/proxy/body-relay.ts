import { Readable } from 'node:stream'

/**
 * The client's request body as one attempt hands it to undici. The client stream is not touched
 * until undici starts reading (so a connect failure leaves the body unread and the request can
 * be retried), and what undici does to the stream it was given (it destroys it when the attempt
 * ends early) stays on this relay: the client's stream, and with it the client connection, is
 * left alone, so the pipeline can still answer (408 on a body timeout).
 */
export class BodyRelay extends Readable {
  private readonly src: Readable
  private attached: boolean
  /** The whole body has been passed on. */
  ended: boolean

  constructor(src: Readable) {
    super({ highWaterMark: src.readableHighWaterMark })
    this.src = src
    this.attached = false
    this.ended = false
    this.onData = this.onData.bind(this)
    this.onEnd = this.onEnd.bind(this)
    this.onError = this.onError.bind(this)
  }

  override _read(): void {
    const src = this.src
    if (!this.attached) {
      this.attached = true
      src.on('data', this.onData)
      src.once('end', this.onEnd)
      src.once('error', this.onError)
      if (src.readableEnded) this.onEnd()
    }
    src.resume()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.detach()
    cb(err)
  }

  private onData(chunk: Buffer): void {
    if (!this.push(chunk)) this.src.pause()
  }

  private onEnd(): void {
    this.ended = true
    this.detach()
    this.push(null)
  }

  private onError(err: Error): void {
    this.destroy(err)
  }

  private detach(): void {
    if (!this.attached) return
    const src = this.src
    src.off('data', this.onData)
    src.off('end', this.onEnd)
    src.off('error', this.onError)
    if (!this.ended && !src.destroyed) src.pause()
  }
}
