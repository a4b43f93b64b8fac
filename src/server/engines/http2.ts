import {
  createServer as createH2Server,
  type Http2Server,
  type Http2Session,
  constants as h2c,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2'
import type { Readable } from 'node:stream'
import { PassThrough, pipeline as pipeStreams } from 'node:stream'
import { ErrCode } from '../../basic/error-code.js'
import { isFieldValue, isToken } from '../../basic/field-syntax.js'
import { validHost } from '../../basic/host.js'
import { BfeRequest } from '../../basic/request.js'
import type { Engine } from '../accept/acceptor.js'
import type { Conn, ConnHandler, H2Settings } from '../accept/conn.js'
import { Deadline, type DeadlineOwner, newDeadlines } from '../accept/deadlines.js'
import { RequestPipeline } from '../pipeline/pipeline.js'
import { bodyLength, noBodyStatus, type ResponseWriter } from '../pipeline/writer.js'
import type { ServerContext } from '../runtime.js'

/**
 * Counters of the HTTP/2 engine (BFE's `http2_state` names, every one present from start-up).
 * nghttp2 hides some of what BFE counts: H2_REQ_OVERLOAD, H2_CONN_EXCEED_MAX_QUEUED_CONTROL_FRAMES,
 * H2_PANIC_CONN, the compressed header sizes, H2_TIMEOUT_PREFACE and H2_TIMEOUT_SETTING stay 0.
 * Ours, not BFE's: H2_CONN_SERVED, H2_ERR_SESSION, H2_ERR_FRAME.
 */
export interface Http2Counters {
  H2_CONN_SERVED: number
  H2_ERR_MAX_HEADER_LIST_SIZE: number
  H2_ERR_MAX_HEADER_URI_SIZE: number
  H2_ERR_MAX_STREAM_PER_CONN: number
  H2_ERR_GOT_RESET: number
  H2_CONN_OVERLOAD: number
  H2_PANIC_STREAM: number
  H2_TIMEOUT_CONN: number
  H2_TIMEOUT_READ_STREAM: number
  H2_TIMEOUT_WRITE_STREAM: number
  H2_ERR_SESSION: number
  H2_ERR_FRAME: number
  H2_REQ_OVERLOAD: number
  H2_CONN_EXCEED_MAX_QUEUED_CONTROL_FRAMES: number
  H2_PANIC_CONN: number
  H2_REQ_HEADER_COMPRESS_SIZE: number
  H2_REQ_HEADER_ORIGINAL_SIZE: number
  H2_RES_HEADER_COMPRESS_SIZE: number
  H2_RES_HEADER_ORIGINAL_SIZE: number
  H2_TIMEOUT_PREFACE: number
  H2_TIMEOUT_SETTING: number
}

export function newHttp2Counters(): Http2Counters {
  return {
    H2_CONN_SERVED: 0,
    H2_ERR_MAX_HEADER_LIST_SIZE: 0,
    H2_ERR_MAX_HEADER_URI_SIZE: 0,
    H2_ERR_MAX_STREAM_PER_CONN: 0,
    H2_ERR_GOT_RESET: 0,
    H2_CONN_OVERLOAD: 0,
    H2_PANIC_STREAM: 0,
    H2_TIMEOUT_CONN: 0,
    H2_TIMEOUT_READ_STREAM: 0,
    H2_TIMEOUT_WRITE_STREAM: 0,
    H2_ERR_SESSION: 0,
    H2_ERR_FRAME: 0,
    H2_REQ_OVERLOAD: 0,
    H2_CONN_EXCEED_MAX_QUEUED_CONTROL_FRAMES: 0,
    H2_PANIC_CONN: 0,
    H2_REQ_HEADER_COMPRESS_SIZE: 0,
    H2_REQ_HEADER_ORIGINAL_SIZE: 0,
    H2_RES_HEADER_COMPRESS_SIZE: 0,
    H2_RES_HEADER_ORIGINAL_SIZE: 0,
    H2_TIMEOUT_PREFACE: 0,
    H2_TIMEOUT_SETTING: 0,
  }
}

export interface Http2EngineSettings {
  maxHeaderBytes: number
  maxUriBytes: number
  /** Idle time of a connection without streams before the first request (ClientReadTimeout). */
  firstRequestMs: number
}

/** How long a peer may keep a connection open after our GOAWAY for idleness. */
const GOAWAY_GRACE_MS = 1000

/** BFE enlarges the connection-level receive window beyond the 64 KiB default. */
const CONN_WINDOW = 1 << 20

const kConn = Symbol('bfe.h2conn')
type ConnSession = Http2Session & { [kConn]?: H2Conn }
const kWriter = Symbol('bfe.h2writer')
type WriterStream = ServerHttp2Stream & { [kWriter]?: Http2Writer }

/**
 * More client resets than this within RESET_WINDOW_MS end the connection: a rapid-reset flood
 * (CVE-2023-44487). nghttp2 answers a flood with GOAWAY but leaves the TCP connection open and
 * unread; this closes it.
 */
const MAX_RESETS_PER_WINDOW = 100
const RESET_WINDOW_MS = 1000

/** The per-connection state of the engine: open streams, recent client resets. */
class H2Conn {
  readonly conn: Conn
  readonly session: Http2Session
  open: number
  closing: boolean
  resets: number
  resetWindowStart: number

  constructor(conn: Conn, session: Http2Session) {
    this.conn = conn
    this.session = session
    this.open = 0
    this.closing = false
    this.resets = 0
    this.resetWindowStart = 0
  }

  /** Counts a client reset; true when the connection is over the reset rate. */
  reset(now: number): boolean {
    if (now - this.resetWindowStart > RESET_WINDOW_MS) {
      this.resetWindowStart = now
      this.resets = 0
    }
    return ++this.resets > MAX_RESETS_PER_WINDOW
  }

  /** GOAWAY: no new streams, the open ones finish. */
  close(): void {
    if (this.closing) return
    this.closing = true
    if (!this.session.closed && !this.session.destroyed) this.session.close()
  }
}

/**
 * The HTTP/2 engine (protocols.md §3): connections that negotiated `h2` are handed to a
 * node:http2 server with the rule's settings; each stream becomes a `BfeRequest` run by the same
 * `RequestPipeline` as HTTP/1, answering through `Http2Writer`. A stream that fails is reset on
 * its own; the connection and its other streams carry on.
 */
export class Http2Engine implements Engine, ConnHandler {
  readonly counters: Http2Counters
  private readonly ctx: ServerContext
  private readonly settings: Http2EngineSettings
  /** One node:http2 server per distinct (mcs, isw) pair of the TLS rules. */
  private readonly servers = new Map<string, Http2Server>()
  private pending: Conn | undefined

  constructor(ctx: ServerContext, settings: Http2EngineSettings) {
    this.ctx = ctx
    this.settings = settings
    this.counters = newHttp2Counters()
    this.pending = undefined
  }

  serve(conn: Conn): void {
    const s = conn.h2 ?? { maxConcurrentStreams: 200, initialWindowSize: 65535 }
    conn.handler = this
    conn.session.protocol = 'h2'
    this.counters.H2_CONN_SERVED++
    conn.due[Deadline.Http2Idle] = Date.now() + this.settings.firstRequestMs
    this.pending = conn
    try {
      this.serverFor(s).emit('connection', conn.socket)
    } finally {
      this.pending = undefined
    }
  }

  /**
   * An idle connection (no stream open for the idle time): GOAWAY, then, if the peer keeps the
   * connection open, it is cut GOAWAY_GRACE_MS later.
   */
  expired(conn: Conn, kind: Deadline): void {
    if (kind !== Deadline.Http2Idle) return
    const h = this.stateOf(conn)
    if (h !== undefined && h.open > 0) return
    if (h === undefined || h.closing) {
      conn.destroy()
      return
    }
    this.counters.H2_TIMEOUT_CONN++
    if (conn.served === 0) conn.fail(ErrCode.ClientTimeout)
    h.close()
    conn.due[Deadline.Http2Idle] = Date.now() + GOAWAY_GRACE_MS
  }

  closed(_conn: Conn): void {}

  /** GOAWAY: open streams finish, no new ones start; the connection ends when they are done. */
  drain(conn: Conn): void {
    const h = this.stateOf(conn)
    if (h === undefined) conn.destroy()
    else h.close()
  }

  private stateOf(conn: Conn): H2Conn | undefined {
    return (conn as Conn & { [kConn]?: H2Conn })[kConn]
  }

  private serverFor(s: H2Settings): Http2Server {
    const key = `${s.maxConcurrentStreams}/${s.initialWindowSize}`
    let srv = this.servers.get(key)
    if (srv !== undefined) return srv
    srv = createH2Server({
      settings: {
        maxConcurrentStreams: s.maxConcurrentStreams,
        initialWindowSize: s.initialWindowSize,
        maxHeaderListSize: this.settings.maxHeaderBytes,
        enablePush: false,
      },
      maxHeaderListPairs: 512,
      maxSessionMemory: 32,
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
      peerMaxConcurrentStreams: 100,
    })
    srv.on('session', (session: Http2Session) => this.onSession(session))
    srv.on('stream', (stream: ServerHttp2Stream, _h: unknown, flags: number, raw: string[]) =>
      this.onStream(stream, flags, raw),
    )
    this.servers.set(key, srv)
    return srv
  }

  private onSession(session: Http2Session): void {
    const conn = this.pending
    if (conn === undefined) {
      session.destroy()
      return
    }
    const h = new H2Conn(conn, session)
    ;(session as ConnSession)[kConn] = h
    ;(conn as Conn & { [kConn]?: H2Conn })[kConn] = h
    session.on('error', (err: NodeJS.ErrnoException) => {
      this.counters.H2_ERR_SESSION++
      if (err.code === 'ERR_HTTP2_SESSION_ERROR' || err.code === 'ERR_HTTP2_ERROR')
        this.counters.H2_CONN_OVERLOAD++
      conn.fail(ErrCode.ClientClose, err.message)
    })
    session.on('frameError', () => {
      this.counters.H2_ERR_FRAME++
    })
    session.on('close', () => conn.destroy())
    session.on('goaway', () => h.close())
    session.once('localSettings', () => {
      if (!session.destroyed) session.setLocalWindowSize(CONN_WINDOW)
    })
  }

  private onStream(stream: ServerHttp2Stream, flags: number, raw: string[]): void {
    stream.on('error', onStreamError)
    const h = (stream.session as ConnSession | undefined)?.[kConn]
    if (h === undefined) {
      stream.close(h2c.NGHTTP2_INTERNAL_ERROR)
      return
    }
    const conn = h.conn
    h.open++
    conn.due[Deadline.Http2Idle] = 0
    const writer = new Http2Writer(stream, h, this.ctx, this.counters)
    ;(stream as WriterStream)[kWriter] = writer
    stream.once('close', () => this.onStreamClose(h, stream as WriterStream))
    let method = 'GET'
    let path = ''
    let authority = ''
    const headers: string[] = []
    let cookies: string[] | undefined
    let hosts = 0
    let host = ''
    // The header list size as HTTP/2 counts it (RFC 9113 §6.5.2). node:http2 enforces
    // maxHeaderListSize only once the client has acknowledged our SETTINGS; this holds always.
    let listSize = 0
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!
      const value = raw[i + 1]!
      listSize += name.length + value.length + 32
      if (name.charCodeAt(0) === 58 /* : */) {
        if (name === ':method') method = value
        else if (name === ':path') path = value
        else if (name === ':authority') authority = value
        continue
      }
      if (name === 'cookie') {
        // RFC 9113 §8.2.3: split cookie fields are joined for an HTTP/1.1 backend.
        if (cookies === undefined) cookies = []
        cookies.push(value)
        continue
      }
      if (name === 'host') {
        hosts++
        host = value
      }
      headers.push(name, value)
    }
    this.counters.H2_REQ_HEADER_ORIGINAL_SIZE += listSize
    if (listSize > this.settings.maxHeaderBytes) {
      this.counters.H2_ERR_MAX_HEADER_LIST_SIZE++
      writer.reset(h2c.NGHTTP2_ENHANCE_YOUR_CALM)
      return
    }
    // RFC 9113 §8.3.1 (and D21 for HTTP/1.1): one valid Host at most, a valid :authority, and
    // the two naming the same host when both come; otherwise the request is malformed (400).
    if (
      hosts > 1 ||
      (hosts === 1 && !validHost(host)) ||
      (authority !== '' && !validHost(authority)) ||
      (hosts === 1 && authority !== '' && host.toLowerCase() !== authority.toLowerCase())
    ) {
      this.ctx.counters.ERR_CLIENT_BAD_REQUEST++
      writer.respond(400, ['server', 'bfe'], undefined)
      return
    }
    if (hosts === 0 && authority !== '') headers.unshift('host', authority)
    if (cookies !== undefined) headers.push('cookie', cookies.join('; '))
    if (path === '') path = '/'
    writer.isHead = method === 'HEAD'
    if (path.length > this.settings.maxUriBytes) {
      this.counters.H2_ERR_MAX_HEADER_URI_SIZE++
      writer.respond(414, ['server', 'bfe'], undefined)
      return
    }
    let req: BfeRequest
    const hasBody = (flags & h2c.NGHTTP2_FLAG_END_STREAM) === 0
    try {
      req = new BfeRequest(conn.session, {
        method,
        rawUri: path,
        proto: 'HTTP/2.0',
        headers,
        body: hasBody ? requestBody(stream) : stream,
        hasBody,
      })
    } catch {
      this.ctx.counters.ERR_CLIENT_BAD_REQUEST++
      writer.respond(400, ['server', 'bfe'], undefined)
      return
    }
    const ses = conn.session
    ses.reqNum++
    ses.reqNumActive++
    conn.served++
    const accept = req.headers.get('accept')
    if (accept?.includes('text/event-stream')) req.isSse = true
    const p = new RequestPipeline(req, writer, this.ctx)
    writer.pipeline = p
    p.start()
  }

  private onStreamClose(h: H2Conn, stream: WriterStream): void {
    h.open--
    const w = stream[kWriter]
    const clientReset = stream.rstCode !== h2c.NGHTTP2_NO_ERROR && w !== undefined && !w.localReset
    if (clientReset) {
      this.counters.H2_ERR_GOT_RESET++
      if (h.reset(Date.now())) {
        this.counters.H2_CONN_OVERLOAD++
        h.conn.fail(ErrCode.ClientReset, 'too many stream resets (rapid reset)')
        h.conn.destroy()
      }
    }
    if (w !== undefined) {
      w.stopDeadlines()
      const p = w.pipeline
      if (p !== undefined && !p.done) {
        if (stream.rstCode === h2c.NGHTTP2_NO_ERROR && w.ended) p.finished()
        else p.clientGone(clientReset ? ErrCode.ClientReset : ErrCode.ClientClose)
      }
    }
    if (h.open === 0 && !h.closing) {
      const conn = h.conn
      conn.due[Deadline.Http2Idle] = Date.now() + conn.keepAliveMs
    }
  }
}

function onStreamError(this: WriterStream, err: NodeJS.ErrnoException): void {
  const w = this[kWriter]
  if (w?.pipeline !== undefined && w.pipeline.req.errCode === undefined) {
    w.pipeline.req.errCode = ErrCode.ClientWrite
    w.pipeline.req.errMsg = err.message
  }
}

/**
 * The request body as the pipeline and undici read it: the stream's readable side, not the stream.
 * undici destroys a body stream once it has sent it, and destroying a ServerHttp2Stream closes the
 * whole exchange before the response is written. A stream that closes before its body ended
 * (client reset, deadline) errors the body, as a broken HTTP/1 request body does.
 */
function requestBody(stream: ServerHttp2Stream): Readable {
  const body = new PassThrough()
  stream.pipe(body)
  stream.once('close', () => {
    if (stream.readableEnded || body.destroyed) return
    body.destroy(
      Object.assign(new Error('the client closed the stream before the request body ended'), {
        code: 'ECONNRESET',
      }),
    )
  })
  return body
}

function onWantTrailers(this: WriterStream): void {
  const w = this[kWriter]
  const t = w?.trailers
  try {
    this.sendTrailers(t === undefined ? {} : toH2Headers(t, undefined))
  } catch {
    w?.reset(h2c.NGHTTP2_INTERNAL_ERROR)
  }
}

/** Header names an HTTP/2 response must not carry (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
])

/**
 * A flat header list as an HTTP/2 header object: lower-case names, repeats as arrays. A field
 * that is not valid field syntax (a name that is not a token, a value with CR, LF, NUL or another
 * control byte) is left out, as Go's http2 server (BFE's) does: HTTP/2 must not carry it (RFC 9113
 * §8.2.1), and node:http2 would send it as it is. The first `checked` elements came from a strict
 * parser (HeaderList.checked).
 */
function toH2Headers(
  raw: readonly string[],
  status: number | undefined,
  checked = 0,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  if (status !== undefined) out[':status'] = status
  for (let i = 0; i < raw.length; i += 2) {
    const rawName = raw[i]!
    const value = raw[i + 1]!
    if (i + 2 > checked && (!isToken(rawName) || !isFieldValue(value))) continue
    const name = rawName.toLowerCase()
    if (CONNECTION_SPECIFIC.has(name)) continue
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else if (Array.isArray(prev)) prev.push(value)
    else out[name] = [String(prev), value]
  }
  return out
}

/** The pipeline's ResponseWriter over one HTTP/2 stream. */
export class Http2Writer implements ResponseWriter, DeadlineOwner {
  pipeline: RequestPipeline | undefined
  /** Streams share their connection: it stays open. */
  readonly persistent = true
  readonly due: Float64Array
  /** The response has been completely handed to the stream. */
  ended: boolean
  trailers: string[] | undefined
  /** The request is a HEAD: no body is sent. */
  isHead: boolean
  /** We reset the stream (not the client). */
  localReset: boolean
  private readonly stream: ServerHttp2Stream
  private readonly h: H2Conn
  private readonly ctx: ServerContext
  private readonly counters: Http2Counters
  sweepSlot: number

  constructor(stream: ServerHttp2Stream, h: H2Conn, ctx: ServerContext, counters: Http2Counters) {
    this.pipeline = undefined
    this.due = newDeadlines()
    this.ended = false
    this.trailers = undefined
    this.isHead = false
    this.localReset = false
    this.stream = stream
    this.h = h
    this.ctx = ctx
    this.counters = counters
    this.sweepSlot = -1
  }

  /** Resets the stream with `code` (RST_STREAM), marked as ours. */
  reset(code: number): void {
    this.localReset = true
    if (!this.stream.closed) this.stream.close(code)
  }

  get headersSent(): boolean {
    return this.stream.headersSent
  }

  writeContinue(): void {}

  bodyDeadline(ms: number): void {
    this.arm(Deadline.Body, Date.now() + ms)
    this.stream.once('end', () => {
      this.due[Deadline.Body] = 0
    })
  }

  writeDeadline(at: number): void {
    this.arm(Deadline.Write, at)
  }

  headerDeadline(at: number): void {
    if (at === 0) this.due[Deadline.ResponseHeader] = 0
    else this.arm(Deadline.ResponseHeader, at)
  }

  private arm(kind: Deadline, at: number): void {
    this.due[kind] = at
    // a no-op when the sweeper has it already (its list knows its members)
    this.ctx.sweeper.add(this)
  }

  stopDeadlines(): void {
    this.ctx.sweeper.delete(this)
  }

  expired(kind: Deadline): void {
    if (kind === Deadline.ResponseHeader) {
      this.pipeline?.headerTimeout()
      return
    }
    if (kind === Deadline.Body) this.counters.H2_TIMEOUT_READ_STREAM++
    else if (kind === Deadline.Write) {
      this.counters.H2_TIMEOUT_WRITE_STREAM++
      this.ctx.counters.ERR_CLIENT_WRITE++
    } else return
    const p = this.pipeline
    // A body timeout before the response started is answered (408), as on HTTP/1.
    if (kind === Deadline.Body && p?.bodyTimedOut() === true) return
    if (p !== undefined && p.req.errCode === undefined) {
      p.req.errCode = kind === Deadline.Body ? ErrCode.ClientTimeout : ErrCode.ClientWrite
    }
    this.reset(h2c.NGHTTP2_CANCEL)
  }

  idleTimeout(ms: number): void {
    this.h.conn.keepAliveMs = ms
  }

  closeAfter(): void {
    this.h.close()
  }

  head(status: number, headers: string[], checked = 0): void {
    const stream = this.stream
    if (stream.closed || stream.destroyed) return
    if (this.isHead) {
      stream.respond(toH2Headers(headers, status, checked), { endStream: true })
      this.ended = true
      return
    }
    stream.on('wantTrailers', onWantTrailers)
    stream.respond(toH2Headers(headers, status, checked), { waitForTrailers: true })
  }

  write(chunk: Buffer): boolean {
    const stream = this.stream
    if (this.ended || stream.destroyed) return true
    const p = this.pipeline
    if (p !== undefined) p.req.stat.bodyLenOut += chunk.length
    return stream.write(chunk)
  }

  onceDrain(fn: () => void): void {
    this.stream.once('drain', fn)
  }

  end(trailers?: string[]): void {
    if (this.ended) return
    this.ended = true
    if (trailers !== undefined && trailers.length > 0) this.trailers = trailers
    if (!this.stream.destroyed) this.stream.end()
  }

  respond(status: number, headers: string[], body: string | Buffer | undefined): void {
    const stream = this.stream
    if (stream.closed || stream.destroyed) return
    const h = toH2Headers(headers, status)
    const noBody = noBodyStatus(status)
    const n = bodyLength(body)
    if (!noBody && h['content-length'] === undefined) h['content-length'] = n
    this.ended = true
    if (body === undefined || this.isHead || noBody) {
      stream.respond(h, { endStream: true })
      return
    }
    stream.respond(h)
    const p = this.pipeline
    if (p !== undefined) p.req.stat.bodyLenOut += n
    stream.end(body)
  }

  respondStream(status: number, headers: string[], body: Readable): void {
    const stream = this.stream
    if (stream.closed || stream.destroyed) {
      body.destroy()
      return
    }
    stream.respond(toH2Headers(headers, status))
    pipeStreams(body, stream, (err) => {
      if (err !== undefined && err !== null) this.reset(h2c.NGHTTP2_INTERNAL_ERROR)
    })
    const p = this.pipeline
    if (p !== undefined) {
      // the body is piped (flowing) already: one more 'data' listener only counts
      const stat = p.req.stat
      body.on('data', (c: Buffer | string) => {
        stat.bodyLenOut += typeof c === 'string' ? Buffer.byteLength(c) : c.length
      })
    }
    stream.once('finish', () => {
      this.ended = true
    })
  }

  abort(): void {
    this.reset(h2c.NGHTTP2_INTERNAL_ERROR)
  }

  drop(): void {
    this.reset(h2c.NGHTTP2_CANCEL)
    this.h.close()
  }

  done(close: boolean): void {
    this.stopDeadlines()
    if (close) this.h.close()
  }
}
