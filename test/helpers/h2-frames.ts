// A tiny HTTP/2 frame writer and reader for hostile-input tests (RFC 9113 §4, §6; RFC 7541).
// Only what tests need: every frame type a client sends, an HPACK encoder limited to indexed fields
// and literals with plain (non-Huffman) strings, and a reader that splits what the server sends
// into frames. The server's own HPACK blocks are not decoded: tests look at frame types, flags,
// stream ids, DATA payloads and the error codes of GOAWAY and RST_STREAM.
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import { SocketWatch } from './socket-watch.js'

/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const

/** HTTP/2 error codes (RFC 9113 §7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const

/** The name of an error code, or its number in hex. */
export function errorName(code: number): string {
  for (const [k, v] of Object.entries(ErrorCode)) if (v === code) return k
  return `0x${code.toString(16)}`
}

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const

// ---------------------------------------------------------------------------------------------
// Frame writer

/** One frame: 9-byte header (length, type, flags, stream id) + payload. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = EMPTY,
): Buffer {
  const b = Buffer.allocUnsafe(9 + payload.length)
  b.writeUIntBE(payload.length, 0, 3)
  b[3] = type
  b[4] = flags
  b.writeUInt32BE(streamId & 0x7fffffff, 5)
  payload.copy(b, 9)
  return b
}

const EMPTY = Buffer.alloc(0)

/** SETTINGS with `[id, value]` pairs (none: an empty SETTINGS). */
export function settings(entries: readonly (readonly [number, number])[] = []): Buffer {
  const p = Buffer.allocUnsafe(6 * entries.length)
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, 6 * i)
    p.writeUInt32BE(v, 6 * i + 2)
  })
  return frame(FrameType.SETTINGS, 0, 0, p)
}

export function settingsAck(): Buffer {
  return frame(FrameType.SETTINGS, Flag.ACK, 0)
}

/** HEADERS carrying `block`; END_HEADERS unless `endHeaders: false`. */
export function headers(
  streamId: number,
  block: Buffer,
  opts: { endStream?: boolean; endHeaders?: boolean } = {},
): Buffer {
  let flags = 0
  if (opts.endStream ?? true) flags |= Flag.END_STREAM
  if (opts.endHeaders ?? true) flags |= Flag.END_HEADERS
  return frame(FrameType.HEADERS, flags, streamId, block)
}

export function continuation(streamId: number, block: Buffer, endHeaders = false): Buffer {
  return frame(FrameType.CONTINUATION, endHeaders ? Flag.END_HEADERS : 0, streamId, block)
}

export function data(streamId: number, payload: Buffer | string, endStream = false): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, p)
}

export function rstStream(streamId: number, code: number = ErrorCode.CANCEL): Buffer {
  const p = Buffer.allocUnsafe(4)
  p.writeUInt32BE(code >>> 0, 0)
  return frame(FrameType.RST_STREAM, 0, streamId, p)
}

/** PING with 8 bytes of opaque data (zero-padded / cut to 8). */
export function ping(opaque: Buffer = Buffer.alloc(8), ack = false): Buffer {
  const p = Buffer.alloc(8)
  opaque.copy(p, 0, 0, 8)
  return frame(FrameType.PING, ack ? Flag.ACK : 0, 0, p)
}

export function goaway(lastStreamId: number, code: number, debug = ''): Buffer {
  const d = Buffer.from(debug)
  const p = Buffer.allocUnsafe(8 + d.length)
  p.writeUInt32BE(lastStreamId & 0x7fffffff, 0)
  p.writeUInt32BE(code >>> 0, 4)
  d.copy(p, 8)
  return frame(FrameType.GOAWAY, 0, 0, p)
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const p = Buffer.allocUnsafe(4)
  p.writeUInt32BE(increment & 0x7fffffff, 0)
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, p)
}

// ---------------------------------------------------------------------------------------------
// HPACK encoder (RFC 7541): integers, plain strings, three field representations.

/** An HPACK integer with an N-bit prefix; `first` holds the pattern bits above the prefix. */
export function hpackInt(value: number, prefixBits: number, first = 0): Buffer {
  const max = (1 << prefixBits) - 1
  if (value < max) return Buffer.from([first | value])
  const out = [first | max]
  let v = value - max
  while (v >= 128) {
    out.push((v % 128) + 128)
    v = Math.floor(v / 128)
  }
  out.push(v)
  return Buffer.from(out)
}

/** A string literal, not Huffman-coded (H bit 0). */
export function hpackString(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s
  return Buffer.concat([hpackInt(b.length, 7, 0x00), b])
}

/** Indexed header field (§6.1): static 1..61, dynamic from 62. */
export function hpackIndexed(index: number): Buffer {
  return hpackInt(index, 7, 0x80)
}

/** Literal header field without indexing, new name (§6.2.2). */
export function hpackLiteral(name: string, value: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)])
}

/** Literal header field with incremental indexing, new name (§6.2.1): enters the dynamic table. */
export function hpackLiteralIndexed(name: string, value: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x40]), hpackString(name), hpackString(value)])
}

/** A header block of literals without indexing, in order. */
export function hpackBlock(fields: readonly (readonly [string, string])[]): Buffer {
  return Buffer.concat(fields.map(([n, v]) => hpackLiteral(n, v)))
}

/** The header block of a GET (`:method`, `:scheme`, `:path`, `:authority`, then `extra`). */
export function requestBlock(
  path = '/',
  authority = 'localhost',
  extra: readonly (readonly [string, string])[] = [],
): Buffer {
  return hpackBlock([
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', path],
    [':authority', authority],
    ...extra,
  ])
}

// ---------------------------------------------------------------------------------------------
// Frame reader

export interface Frame {
  type: number
  flags: number
  streamId: number
  payload: Buffer
}

/** Error code of a RST_STREAM frame. */
export function rstCode(f: Frame): number {
  return f.payload.length >= 4 ? f.payload.readUInt32BE(0) : -1
}

/** Last stream id, error code and debug text of a GOAWAY frame. */
export function goawayInfo(f: Frame): { lastStreamId: number; code: number; debug: string } {
  if (f.payload.length < 8) return { lastStreamId: -1, code: -1, debug: '' }
  return {
    lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff,
    code: f.payload.readUInt32BE(4),
    debug: f.payload.subarray(8).toString('latin1'),
  }
}

/** SETTINGS entries of a (non-ACK) SETTINGS frame. */
export function settingsOf(f: Frame): Map<number, number> {
  const m = new Map<number, number>()
  for (let i = 0; i + 6 <= f.payload.length; i += 6) {
    m.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2))
  }
  return m
}

/** Splits a byte stream into frames; feed it chunks with `push`. */
export class FrameReader {
  private buf: Buffer = EMPTY

  /** Appends `chunk` and returns the frames completed by it. */
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    const out: Frame[] = []
    let off = 0
    while (this.buf.length - off >= 9) {
      const len = this.buf.readUIntBE(off, 3)
      if (this.buf.length - off < 9 + len) break
      out.push({
        type: this.buf[off + 3] ?? 0,
        flags: this.buf[off + 4] ?? 0,
        streamId: this.buf.readUInt32BE(off + 5) & 0x7fffffff,
        payload: Buffer.from(this.buf.subarray(off + 9, off + 9 + len)),
      })
      off += 9 + len
    }
    this.buf = off === 0 ? this.buf : this.buf.subarray(off)
    return out
  }

  /** Bytes received but not yet part of a complete frame. */
  get pending(): number {
    return this.buf.length
  }
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/2-over-TLS client

export interface RawH2Options {
  port: number
  host?: string
  servername?: string
  /** ALPN offered; `['h2']` by default. */
  alpn?: string[]
  /** Send the preface and an empty SETTINGS once connected (default true). */
  preface?: boolean
  /** Answer the server's SETTINGS with an ACK as they arrive (default true). */
  autoAck?: boolean
}

/**
 * A TLS connection that speaks raw frames: `send` writes bytes, `frames` collects everything the
 * server sent, `waitFrame` / `waitClose` wait (in waits of at most 200 ms) with a deadline.
 */
export class RawH2 extends SocketWatch {
  declare readonly socket: TLSSocket
  readonly frames: Frame[] = []
  /** Bytes written by `send` that the socket accepted. */
  sent = 0
  received = 0
  /** The first 64 KiB received, as is (to check that no HTTP/1 text came back). */
  head: Buffer = EMPTY
  private readonly reader = new FrameReader()

  private constructor(socket: TLSSocket, autoAck: boolean) {
    super(socket)
    socket.on('data', (c: Buffer) => {
      this.received += c.length
      if (this.head.length < 65536) this.head = Buffer.concat([this.head, c]).subarray(0, 65536)
      for (const f of this.reader.push(c)) {
        this.frames.push(f)
        if (autoAck && f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0 && !this.closed)
          socket.write(settingsAck())
      }
      this.wake()
    })
  }

  static open(opts: RawH2Options): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({
        port: opts.port,
        host: opts.host ?? '127.0.0.1',
        servername: opts.servername ?? 'localhost',
        ALPNProtocols: opts.alpn ?? ['h2'],
        rejectUnauthorized: false,
      })
      s.on('error', () => {})
      const onClose = () => reject(new Error('connection closed before the TLS handshake ended'))
      s.once('close', onClose)
      s.once('secureConnect', () => {
        s.off('close', onClose)
        const c = new RawH2(s, opts.autoAck ?? true)
        if (opts.preface ?? true) c.send(Buffer.concat([PREFACE, settings()]))
        resolve(c)
      })
    })
  }

  /** The ALPN protocol the server chose. */
  get alpn(): string | false {
    return this.socket.alpnProtocol ?? false
  }

  /** Writes bytes unless closed; returns the socket's `write` result (false = buffer full). */
  send(b: Buffer): boolean {
    if (this.closed || this.socket.destroyed) return false
    this.sent += b.length
    return this.socket.write(b)
  }

  /** Resolves once the socket's write buffer has drained (or the socket closed). */
  drained(): Promise<void> {
    if (this.closed || this.socket.writableLength === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done)
        this.socket.off('close', done)
        resolve()
      }
      this.socket.once('drain', done)
      this.socket.once('close', done)
    })
  }

  /** The first GOAWAY received, if any. */
  goaway(): { lastStreamId: number; code: number; debug: string } | undefined {
    const f = this.frames.find((x) => x.type === FrameType.GOAWAY)
    return f === undefined ? undefined : goawayInfo(f)
  }

  /** Frames of one stream. */
  streamFrames(id: number): Frame[] {
    return this.frames.filter((f) => f.streamId === id)
  }

  /** The DATA bytes received on a stream, as text. */
  body(id: number): string {
    return Buffer.concat(
      this.streamFrames(id)
        .filter((f) => f.type === FrameType.DATA)
        .map((f) => f.payload),
    ).toString()
  }

  /** True once the server ended the stream (END_STREAM on HEADERS/DATA) or reset it. */
  streamDone(id: number): boolean {
    return this.streamFrames(id).some(
      (f) =>
        f.type === FrameType.RST_STREAM ||
        ((f.type === FrameType.DATA || f.type === FrameType.HEADERS) &&
          (f.flags & Flag.END_STREAM) !== 0),
    )
  }

  /** Waits until `pred` holds or the connection closes; false on timeout or close. */
  async until(pred: () => boolean, timeoutMs = 2000): Promise<boolean> {
    const end = Date.now() + timeoutMs
    while (!pred()) {
      if (this.closed) return pred()
      const left = end - Date.now()
      if (left <= 0) return false
      await this.wait(left)
    }
    return true
  }

  /** Waits for a frame matching `pred`; undefined on timeout or close. */
  async waitFrame(pred: (f: Frame) => boolean, timeoutMs = 2000): Promise<Frame | undefined> {
    await this.until(() => this.frames.some(pred), timeoutMs)
    return this.frames.find(pred)
  }
}
