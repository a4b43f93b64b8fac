import { Transform, type TransformCallback } from 'node:stream'
import zlib from 'node:zlib'

/** What a rule asks for. */
export interface CompressAction {
  readonly Cmd: 'GZIP' | 'BROTLI'
  readonly Quality: number
  readonly FlushSize: number
}

type Zstream = zlib.Gzip | zlib.BrotliCompress

function makeZ(a: CompressAction): { z: Zstream; flushKind: number } {
  if (a.Cmd === 'GZIP') {
    // BFE's gzip levels: -2 = Huffman coding only, -1 = zlib's default, 0..9.
    const z =
      a.Quality === -2
        ? zlib.createGzip({ level: 1, strategy: zlib.constants.Z_HUFFMAN_ONLY })
        : zlib.createGzip({ level: a.Quality })
    return { z, flushKind: zlib.constants.Z_SYNC_FLUSH }
  }
  const z = zlib.createBrotliCompress({
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: a.Quality },
  })
  return { z, flushKind: zlib.constants.BROTLI_OPERATION_FLUSH }
}

/**
 * A streaming gzip or brotli compressor that flushes its output every `FlushSize` bytes of
 * input (as BFE does), so a client sees compressed data as the backend sends it rather than when
 * zlib's window fills. Backpressure passes through: while the client is slow, the compressed
 * output waits in this stream's readable buffer and no more input is taken.
 */
export class FlushingCompressor extends Transform {
  private readonly z: Zstream
  private readonly flushKind: number
  private readonly flushSize: number
  /** Input bytes since the last flush. */
  private pending: number

  constructor(a: CompressAction) {
    super()
    const { z, flushKind } = makeZ(a)
    this.z = z
    this.flushKind = flushKind
    this.flushSize = a.FlushSize
    this.pending = 0
    z.on('data', (d: Buffer) => this.push(d))
    z.on('error', (err) => this.destroy(err))
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const z = this.z
    if (z.destroyed) {
      cb(new Error('compressor closed'))
      return
    }
    const done = (err?: Error | null): void => cb(err)
    let off = 0
    while (off < chunk.length) {
      const take = Math.min(this.flushSize - this.pending, chunk.length - off)
      const piece = take === chunk.length ? chunk : chunk.subarray(off, off + take)
      off += take
      this.pending += take
      const last = off === chunk.length
      if (this.pending === this.flushSize) {
        this.pending = 0
        z.write(piece)
        if (last) z.flush(this.flushKind, done)
        else z.flush(this.flushKind)
      } else if (last) z.write(piece, done)
      else z.write(piece)
    }
    if (chunk.length === 0) cb()
  }

  override _flush(cb: TransformCallback): void {
    const z = this.z
    z.once('end', () => cb())
    z.end()
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.z.destroy()
    cb(err)
  }
}
