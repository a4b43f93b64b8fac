import { Readable, type Transform } from 'node:stream'
import type { BfeRequest } from '../basic/request.js'
import type { BfeResponse } from '../basic/response.js'

/** The start of a request body, read by a module. */
export interface BodyPeek {
  /** The bytes read: the whole body when `complete`, else the first `max` or more bytes. */
  readonly bytes: Buffer
  /** `bytes` is the whole body. */
  readonly complete: boolean
}

const NO_BODY: BodyPeek = Object.freeze({ bytes: Buffer.alloc(0), complete: true })

/** Bytes held by body peeks and not yet passed on to the backend (`/monitor/server_stat`). */
export const bodyBuffer = { bytes: 0 }

/**
 * Reads the request body until it ends or `max` bytes are in hand, and puts a stream back in
 * `req.body` that replays those bytes and then the rest, so the backend receives the whole body.
 * The client's pace is kept: nothing beyond `max` (plus one chunk) is buffered. A body the client
 * aborts rejects the Promise with the stream's error.
 */
export function readRequestBody(req: BfeRequest, max: number): Promise<BodyPeek> {
  const src = req.body
  if (src === undefined) return Promise.resolve(NO_BODY)
  const replay = src instanceof ReplayBody ? src : undefined
  if (replay !== undefined && (replay.ended || replay.held >= max))
    return Promise.resolve({ bytes: replay.head(), complete: replay.ended })
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = replay === undefined ? [] : [replay.head()]
    let size = chunks[0]?.length ?? 0
    const from = replay?.source ?? src
    const done = (complete: boolean): void => {
      from.off('data', onData)
      from.off('end', onEnd)
      from.off('error', onError)
      from.off('close', onClose)
      from.pause()
      const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)
      if (replay !== undefined) replay.setHead(bytes, complete)
      else req.body = new ReplayBody(from, bytes, complete)
      resolve({ bytes, complete })
    }
    const onData = (c: Buffer): void => {
      chunks.push(c)
      size += c.length
      if (size >= max) done(false)
    }
    const onEnd = (): void => done(true)
    const onError = (err: Error): void => {
      from.off('data', onData)
      from.off('end', onEnd)
      from.off('close', onClose)
      reject(err)
    }
    const onClose = (): void => {
      if (!from.readableEnded) onError(new Error('the client closed the request body'))
    }
    from.on('data', onData)
    from.once('end', onEnd)
    from.once('error', onError)
    from.once('close', onClose)
    from.resume()
  })
}

/** The body after a peek: the bytes read first, then whatever the client still sends. */
export class ReplayBody extends Readable {
  readonly source: Readable
  private buffered: Buffer | undefined
  /** The source has ended (the whole body is in `buffered`). */
  ended: boolean
  private wired: boolean

  constructor(source: Readable, head: Buffer, ended: boolean) {
    super()
    this.source = source
    this.buffered = head
    this.ended = ended
    this.wired = false
    bodyBuffer.bytes += head.length
    source.on('error', (err) => this.destroy(err))
  }

  /** Bytes held and not yet read. */
  get held(): number {
    return this.buffered?.length ?? 0
  }

  head(): Buffer {
    return this.buffered ?? Buffer.alloc(0)
  }

  /** A later, longer peek replaces the held bytes. */
  setHead(bytes: Buffer, ended: boolean): void {
    bodyBuffer.bytes += bytes.length - this.held
    this.buffered = bytes
    this.ended = ended
  }

  override _read(): void {
    const b = this.buffered
    if (b !== undefined) {
      this.buffered = undefined
      bodyBuffer.bytes -= b.length
      if (b.length > 0 && !this.push(b)) return
    }
    if (this.ended) {
      this.push(null)
      return
    }
    if (!this.wired) {
      this.wired = true
      this.source.on('data', (c: Buffer) => {
        if (!this.push(c)) this.source.pause()
      })
      this.source.once('end', () => this.push(null))
    }
    this.source.resume()
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.buffered !== undefined) {
      bodyBuffer.bytes -= this.buffered.length
      this.buffered = undefined
    }
    if (!this.source.destroyed && !this.source.readableEnded) this.source.destroy(err ?? undefined)
    cb(err)
  }
}

/**
 * Has the response body pass through a transform made by `make` (compression, rewriting ...) on
 * its way to the client, as a stream: nothing is buffered beyond the transform's own needs. Call
 * it from a HandleReadResponse filter. Several transforms run in the order they were added. The
 * response's `Content-Length` is dropped (the length changes); HEAD requests and 1xx/204/304
 * responses have no body and are left alone.
 */
export function transformResponseBody(res: BfeResponse, make: () => Transform): void {
  if (res.transforms === undefined) res.transforms = [make]
  else res.transforms.push(make)
}
