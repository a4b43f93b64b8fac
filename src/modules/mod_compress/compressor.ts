import { Transform, type TransformCallback } from 'node:stream'
import zlib from 'node:zlib'

/** What a rule asks for. */
export interface CompressAction {
  readonly Cmd: 'GZIP' | 'BROTLI'
  readonly Quality: number
  readonly FlushSize: number
}

type Zstream = zlib.Gzip | zlib.BrotliCompress

/** A compressor whose every write ends with a flush (the output of each write is complete). */
function makeZ(a: CompressAction): Zstream {
  if (a.Cmd === 'GZIP') {
    const flush = zlib.constants.Z_SYNC_FLUSH
    // BFE's gzip levels: -2 = Huffman coding only, -1 = zlib's default, 0..9.
    return a.Quality === -2
      ? zlib.createGzip({ flush, level: 1, strategy: zlib.constants.Z_HUFFMAN_ONLY })
      : zlib.createGzip({ flush, level: a.Quality })
  }
  return zlib.createBrotliCompress({
    flush: zlib.constants.BROTLI_OPERATION_FLUSH,
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: a.Quality },
  })
}

/**
 * A streaming gzip or brotli compressor that flushes its output each time `FlushSize` bytes of
 * input have come in since the last flush, so a client sees compressed data as the backend sends
 * it: input is collected until FlushSize bytes are there (small backend writes are coalesced), then
 * compressed and flushed in one zlib operation. A backend write larger than FlushSize is
 * compressed whole with one flush at its end (BFE flushes at every FlushSize boundary inside it,
 * which costs ratio and, in Node, one thread-pool round trip per FlushSize bytes).
 * Backpressure passes through: while the client is slow, the compressed output waits in this
 * stream's readable buffer and no more input is taken.
 */
export class FlushingCompressor extends Transform {
  private readonly z: Zstream
  private readonly flushSize: number
  /** Input held until FlushSize bytes are there. */
  private held: Buffer[]
  private heldBytes: number

  constructor(a: CompressAction) {
    super()
    const z = makeZ(a)
    this.z = z
    this.flushSize = a.FlushSize
    this.held = []
    this.heldBytes = 0
    z.on('data', (d: Buffer) => this.push(d))
    z.on('error', (err) => this.destroy(err))
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const n = this.heldBytes + chunk.length
    if (n < this.flushSize) {
      this.held.push(chunk)
      this.heldBytes = n
      cb()
      return
    }
    let input = chunk
    if (this.heldBytes > 0) {
      this.held.push(chunk)
      input = Buffer.concat(this.held, n)
      this.held = []
      this.heldBytes = 0
    }
    this.z.write(input, (err) => cb(err))
  }

  override _flush(cb: TransformCallback): void {
    const z = this.z
    z.once('end', () => cb())
    if (this.heldBytes > 0) {
      z.write(Buffer.concat(this.held, this.heldBytes))
      this.held = []
      this.heldBytes = 0
    }
    z.end()
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.z.destroy()
    cb(err)
  }
}
