import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  ServerResponse,
} from 'node:http'
import { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { pipeline as pipeStreams } from 'node:stream'
import { ErrCode } from '../../basic/error-code.js'
import { sameName } from '../../basic/header-list.js'
import { absoluteFormAuthority, validHost } from '../../basic/host.js'
import { BfeRequest } from '../../basic/request.js'
import { dropConnectionNamed } from '../../proxy/hop-headers.js'
import { type SwitchResponse, switchHead, Tunnel } from '../../proxy/tunnel.js'
import type { Conn, ConnHandler } from '../accept/conn.js'
import { Deadline } from '../accept/deadlines.js'
import { RequestPipeline } from '../pipeline/pipeline.js'
import { bodyLength, noBodyStatus, type ResponseWriter } from '../pipeline/writer.js'
import { countConnProtocol, type ServerContext } from '../runtime.js'

/** Graceful shutdown: an idle keep-alive connection is closed after this much idleness. */
const DRAIN_IDLE_MS = 1000

/**
 * Header fields one request may carry. node:http's own default cut-off (it silently dropped the
 * fields past it); BFE and nginx bound a head by bytes only. A request with more gets a raw 413.
 */
export const MAX_HEADER_FIELDS = 1000

/**
 * Bytes an unfinished request head may hold without drawing on the worker's head budget. Heads
 * of ordinary requests (cookies included) fit well within it.
 */
export const HEAD_FREE_BYTES = 16 * 1024

/**
 * The worker-wide budget for the part of unfinished heads above HEAD_FREE_BYTES (at least twice
 * the largest head MaxHeaderBytes allows). A head that grows past HEAD_FREE_BYTES while the
 * budget is spent gets the oversized-head answer (raw 413), so N slow clients pin at most
 * N × HEAD_FREE_BYTES + budget, not N × MaxHeaderBytes.
 */
export const HEAD_BUDGET_MIN = 16 * 1024 * 1024

const kConn = Symbol('bfe.conn')
/** Bytes of the current unfinished head read so far (counted in the head budget). */
const kHead = Symbol('bfe.head')
/** The engine has answered (refused) on this connection: nothing more is read or answered. */
const kAnswered = Symbol('bfe.answered')
/** `socket.bytesRead` where the current head started (moved along while a request is in flight). */
const kHeadBase = Symbol('bfe.headBase')
/** The writer of the request in flight (to know whether its answer has started). */
const kCurrentWriter = Symbol('bfe.currentWriter')
/**
 * node:net's per-read hook: node:http calls `socket._unrefTimer()` after every read it parses
 * (natively consumed sockets included), and net does on every read of a socket read through
 * 'data' events. Not in the typings; the head-budget test fails if it stops being called.
 */
type UnrefSocket = { _unrefTimer: (this: Socket) => void }
const protoUnrefTimer = (Socket.prototype as unknown as UnrefSocket)._unrefTimer

type ConnSocket = Socket & {
  [kConn]?: Conn
  [kHead]?: number
  [kAnswered]?: boolean
  [kHeadBase]?: number
  [kCurrentWriter]?: Http1Writer | undefined
}

// The response knows its writer, so one shared 'finish' listener serves every request.
const kWriter = Symbol('bfe.writer')
type WriterResponse = ServerResponse & { [kWriter]?: Http1Writer }
function onResponseFinish(this: WriterResponse): void {
  this[kWriter]?.pipeline?.finished()
}

export interface Http1Settings {
  maxHeaderBytes: number
  maxUriBytes: number
  /** ClientReadTimeout (ms): the first request header of a connection. */
  firstHeaderMs: number
}

/**
 * The HTTP/1.x engine: node:http parses requests on connections handed over by the acceptor
 * (plain TCP, or TLS with ALPN `http/1.1` or none), each request becomes a `BfeRequest` run by a
 * `RequestPipeline`, and answers go out through `Http1Writer`. Requests the parser rejects get
 * BFE's raw status lines (lifecycle.md §3).
 */
export class Http1Engine implements ConnHandler {
  private readonly http: HttpServer
  private readonly ctx: ServerContext
  private readonly settings: Http1Settings
  /** Bytes of unfinished heads above HEAD_FREE_BYTES, over every connection of this worker. */
  headExcess: number
  readonly headBudget: number
  /** The per-read hook that accounts unfinished heads (one function for every connection). */
  private readonly onRead: (this: Socket) => void

  constructor(ctx: ServerContext, settings: Http1Settings) {
    this.ctx = ctx
    this.settings = settings
    this.headExcess = 0
    this.headBudget = Math.max(HEAD_BUDGET_MIN, 2 * (settings.maxHeaderBytes + 4096))
    const engine = this
    this.onRead = function (this: Socket) {
      protoUnrefTimer.call(this)
      engine.headRead(this as ConnSocket)
    }
    const http = createHttpServer(
      {
        maxHeaderSize: settings.maxHeaderBytes + 4096,
        // Strict parsing whatever NODE_OPTIONS says (--insecure-http-parser would accept obs-fold,
        // bare LF, CL+TE and other framing that a backend may read differently).
        insecureHTTPParser: false,
        requireHostHeader: false,
        keepAliveTimeout: 0,
        headersTimeout: 0,
        requestTimeout: 0,
        connectionsCheckingInterval: 2 ** 30,
        noDelay: true,
      },
      (nreq, nres) => this.onRequest(nreq, nres),
    )
    // One more than the limit, so that a request over it is seen (and refused) in onRequest
    // instead of reaching us with its extra fields cut off.
    http.maxHeadersCount = MAX_HEADER_FIELDS + 1
    http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) =>
      this.onClientError(err, socket),
    )
    http.on('checkContinue', (nreq: IncomingMessage, nres: ServerResponse) =>
      this.onExpectContinue(nreq, nres),
    )
    http.on('checkExpectation', (nreq: IncomingMessage, nres: ServerResponse) =>
      this.onExpectOther(nreq, nres),
    )
    http.on('upgrade', (nreq: IncomingMessage, socket: Socket, head: Buffer) =>
      this.onUpgrade(nreq, socket, head),
    )
    // node:http lets go of a CONNECT request's connection (as for an upgrade) and, with no
    // listener, closes it without a word. A reverse proxy tunnels nothing: 400, as nginx.
    http.on('connect', (_nreq: IncomingMessage, socket: Socket) => {
      const conn = (socket as ConnSocket)[kConn]
      this.ctx.counters.ERR_CLIENT_BAD_REQUEST++
      conn?.fail(ErrCode.ClientBadRequest, 'CONNECT is not supported')
      this.answerRaw(socket as ConnSocket, RAW_400, false)
    })
    this.http = http
  }

  /** Takes over a connection: the parser starts reading its first request. */
  serve(conn: Conn): void {
    const socket = conn.socket as ConnSocket
    socket[kConn] = conn
    conn.handler = this
    conn.due[Deadline.FirstHeader] = Date.now() + this.settings.firstHeaderMs
    socket[kHead] = 0
    socket[kAnswered] = false
    socket[kHeadBase] = socket.bytesRead
    socket[kCurrentWriter] = undefined
    // Every read is seen here after the parser has taken it: the head budget. (A 'data'
    // listener would do the same at a measurable cost: node:http would stop consuming the
    // socket natively and every read would become a Buffer and an event.)
    ;(socket as unknown as UnrefSocket)._unrefTimer = this.onRead
    this.http.emit('connection', socket)
  }

  /**
   * Accounts the bytes read while the connection waits for a request head (called after each
   * read, and on writes). A head that grows past HEAD_FREE_BYTES draws on the worker's budget;
   * when the budget is spent, the connection is answered as for an oversized head (raw 413),
   * nothing more is read from it, and it is closed.
   */
  headRead(socket: ConnSocket): void {
    const conn = socket[kConn]
    const before = socket[kHead]
    if (conn === undefined || before === undefined || socket[kAnswered] === true) return
    const read = socket.bytesRead
    if (conn.current !== undefined) {
      // A body, or a request pipelined behind the one in flight: not an unfinished head.
      socket[kHeadBase] = read
      return
    }
    const after = read - (socket[kHeadBase] ?? read)
    if (after <= before) return
    socket[kHead] = after
    if (after <= HEAD_FREE_BYTES) return
    this.headExcess += after - Math.max(before, HEAD_FREE_BYTES)
    if (this.headExcess <= this.headBudget) return
    this.ctx.counters.ERR_CLIENT_LONG_HEADER++
    conn.fail(ErrCode.ClientLongHeader, 'request head over the memory budget of unfinished heads')
    // Closed right after the answer (no 500 ms linger as for a head over MaxHeaderBytes): the
    // refused head's memory, still counted in the budget until the close, is released at once.
    this.answerRaw(socket, RAW_413, false)
  }

  /** The head is complete or the connection is done with: its bytes leave the budget. */
  private headDone(socket: ConnSocket): void {
    const n = socket[kHead]
    if (n !== undefined && n > HEAD_FREE_BYTES) this.headExcess -= n - HEAD_FREE_BYTES
    if (n !== undefined && n > 0) socket[kHead] = 0
    socket[kHeadBase] = socket.bytesRead
  }

  /**
   * Answers a request the engine refuses with a raw status line and closes (lifecycle.md §3).
   * Nothing more is read (`pause` stops node:http's reads too): the parser is fed no more bytes,
   * so later parse errors cannot answer twice, and what the client still sends stays in the
   * kernel, costing this process nothing during the linger. What the head holds stays counted
   * in the head budget until the connection is closed (`closed`): node:http's parser keeps it
   * until then.
   */
  private answerRaw(socket: ConnSocket, text: string, linger: boolean): void {
    socket[kAnswered] = true
    socket.pause()
    rawReply(socket, text, linger)
  }

  expired(conn: Conn, kind: Deadline): void {
    if (kind === Deadline.ResponseHeader) {
      conn.current?.headerTimeout()
      return
    }
    if (kind === Deadline.Write) {
      this.ctx.counters.ERR_CLIENT_WRITE++
      conn.fail(ErrCode.ClientWrite)
      conn.destroy()
      return
    }
    conn.fail(ErrCode.ClientTimeout)
    this.ctx.counters.ERR_CLIENT_TIMEOUT++
    // A body timeout before the response started is answered (408, then close).
    if (kind === Deadline.Body && conn.current?.bodyTimedOut?.() === true) return
    conn.destroy()
  }

  closed(conn: Conn): void {
    this.headDone(conn.socket as ConnSocket)
    conn.current?.clientGone()
  }

  /**
   * Graceful shutdown (called repeatedly): a busy connection ends after its response
   * (`Connection: close`); an idle keep-alive connection ends once it has been idle for
   * DRAIN_IDLE_MS. A client that sends its next request right away (a busy keep-alive client)
   * is answered, with `Connection: close`, instead of finding its connection reset under it.
   */
  drain(conn: Conn): void {
    if (conn.current !== undefined) return
    const idleSince = conn.due[Deadline.KeepAliveIdle]! - conn.keepAliveMs
    if (Date.now() - idleSince >= DRAIN_IDLE_MS) conn.destroy()
  }

  // ---- requests ---------------------------------------------------------------------------

  /**
   * `upgrade` = the bytes read after a WebSocket handshake's header (the request then goes to
   * the backend for a tunnel; see onUpgrade).
   */
  private onRequest(nreq: IncomingMessage, nres: ServerResponse, upgrade?: Buffer): void {
    const socket = nreq.socket as ConnSocket
    const conn = socket[kConn]
    if (conn === undefined) {
      socket.destroy()
      return
    }
    const due = conn.due
    due[Deadline.FirstHeader] = 0
    due[Deadline.KeepAliveIdle] = 0
    if (socket[kAnswered] === true) {
      // Pipelined behind a request that was refused: never served.
      socket.destroy()
      return
    }
    this.headDone(socket)
    const version = nreq.httpVersion
    if (version !== '1.1' && version !== '1.0') {
      this.badVersion(socket, conn, version)
      return
    }
    let raw = nreq.rawHeaders
    if (raw.length > 2 * MAX_HEADER_FIELDS) {
      this.ctx.counters.ERR_CLIENT_LONG_HEADER++
      conn.fail(ErrCode.ClientLongHeader, `more than ${MAX_HEADER_FIELDS} header fields`)
      this.answerRaw(socket, RAW_413, true)
      return
    }
    const rawUri = nreq.url ?? '/'
    if (rawUri.length > this.settings.maxUriBytes) {
      this.ctx.counters.ERR_CLIENT_LONG_URL++
      conn.fail(ErrCode.ClientLongUrl)
      this.answerRaw(socket, RAW_414, false)
      return
    }
    const head = scanHead(raw, rawUri, version === '1.1')
    if (head.refuse !== '') {
      const notImpl = head.refuse === REFUSE_TE_CODING
      this.ctx.counters.ERR_CLIENT_BAD_REQUEST++
      conn.fail(ErrCode.ClientBadRequest, head.refuse)
      this.answerRaw(socket, notImpl ? RAW_501 : RAW_400, false)
      return
    }
    if (head.hostOverride !== undefined) raw = withHost(raw, head.hostOverride)
    if (head.connection !== '') raw = dropConnectionNamed(raw, head.connection)
    const ses = conn.session
    let req: BfeRequest
    try {
      req = new BfeRequest(ses, {
        method: nreq.method ?? 'GET',
        rawUri,
        proto: version === '1.1' ? 'HTTP/1.1' : 'HTTP/1.0',
        headers: raw,
        body: nreq,
        hasBody: upgrade === undefined ? undefined : false,
      })
    } catch {
      // A malformed percent-escape in the path.
      this.ctx.counters.ERR_CLIENT_BAD_REQUEST++
      conn.fail(ErrCode.ClientBadRequest)
      this.answerRaw(socket, RAW_400, false)
      return
    }
    ses.reqNum++
    ses.reqNumActive++
    const accept = req.headers.get('accept')
    if (accept?.includes('text/event-stream')) req.isSse = true
    const writer = new Http1Writer(conn, nreq, nres, this.ctx, upgrade)
    socket[kCurrentWriter] = writer
    const p = new RequestPipeline(req, writer, this.ctx)
    p.upgrade = upgrade !== undefined
    writer.pipeline = p
    conn.current = p
    conn.served++
    ;(nres as WriterResponse)[kWriter] = writer
    nres.on('finish', onResponseFinish)
    p.start()
  }

  /**
   * node:http has read a request with `Connection: upgrade` and an `Upgrade` header and let go of
   * the connection (its parser is gone). A WebSocket handshake (GET, HTTP/1.1, `Upgrade:
   * websocket`) runs the pipeline like any request (D20); unless the backend switches, its answer
   * closes the connection. Any other upgrade (h2c ...) is served as an ordinary request, after
   * which the connection closes. The handshake is taken on any request of a connection, not only
   * the first (BFE's rule): proxies with keep-alive pools in front send it on reused connections.
   */
  private onUpgrade(nreq: IncomingMessage, socket: Socket, head: Buffer): void {
    const conn = (socket as ConnSocket)[kConn]
    if (conn === undefined || conn.current !== undefined) {
      // Pipelined behind a request still being answered: the two answers would interleave.
      conn?.fail(ErrCode.ClientBadRequest, 'upgrade request pipelined behind another request')
      socket.destroy()
      return
    }
    const nres = new ServerResponse(nreq)
    nres.assignSocket(socket)
    nres.shouldKeepAlive = false
    // No new tunnel while shutting down: the handshake is answered as an ordinary request.
    const ws = isWebSocketHandshake(nreq) && !this.ctx.shuttingDown
    this.onRequest(nreq, nres, ws ? head : undefined)
  }

  private onExpectContinue(nreq: IncomingMessage, nres: ServerResponse): void {
    const conn = (nreq.socket as ConnSocket)[kConn]
    if (conn === undefined) {
      nreq.socket.destroy()
      return
    }
    if (!conn.session.useExpect100) this.ctx.counters.CLIENT_CONN_USE100_CONTINUE++
    conn.session.useExpect100 = true
    if (nreq.headers['content-length'] === '0') {
      this.ctx.counters.ERR_CLIENT_ZERO_CONTENTLEN++
      conn.fail(ErrCode.ClientZeroContentLen)
      replyAndClose(nres, 400)
      return
    }
    this.onRequest(nreq, nres)
  }

  private onExpectOther(nreq: IncomingMessage, nres: ServerResponse): void {
    ;(nreq.socket as ConnSocket)[kConn]?.fail(ErrCode.ClientExpectFail)
    this.ctx.counters.ERR_CLIENT_EXPECT_FAIL++
    replyAndClose(nres, 417)
  }

  /**
   * A request line whose version is not HTTP/1.0 or 1.1. HTTP/0.9 has no status line to answer
   * with: the connection is closed without a byte. Any other well-formed version (`HTTP/2.0`,
   * `HTTP/1.2`, `HTTP/3.0` ...) gets a raw 505.
   */
  private badVersion(socket: ConnSocket, conn: Conn | undefined, version: string): void {
    this.ctx.counters.ERR_CLIENT_BAD_REQUEST++
    conn?.fail(ErrCode.ClientBadRequest, `unsupported HTTP version ${version}`)
    if (version === '0.9') {
      socket[kAnswered] = true
      socket.destroy()
      return
    }
    this.answerRaw(socket, RAW_505, false)
  }

  private onClientError(err: NodeJS.ErrnoException & { rawPacket?: unknown }, s: Socket): void {
    const socket = s as ConnSocket
    const conn = socket[kConn]
    if (socket[kAnswered] === true) {
      // Answered already; the parser saw more bytes before it was cut off.
      return
    }
    if (err.code === 'ECONNRESET') {
      conn?.fail(ErrCode.ClientReset)
      socket.destroy()
      return
    }
    // An error in a request body (bad chunk framing ...) after the response has started: no
    // status line can be written any more.
    const writer = conn?.current !== undefined ? socket[kCurrentWriter] : undefined
    if (writer?.headersSent === true) {
      this.ctx.counters.ERR_CLIENT_BAD_REQUEST++
      conn?.fail(ErrCode.ClientBadRequest, err.code ?? '')
      socket[kAnswered] = true
      socket.destroy()
      return
    }
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      this.ctx.counters.ERR_CLIENT_LONG_HEADER++
      conn?.fail(ErrCode.ClientLongHeader)
      this.answerRaw(socket, RAW_413, true)
      return
    }
    if (err.code === 'HPE_INVALID_VERSION') {
      const version = requestLineVersion(err.rawPacket)
      if (version !== undefined) {
        this.badVersion(socket, conn, version)
        return
      }
    }
    this.ctx.counters.ERR_CLIENT_BAD_REQUEST++
    conn?.fail(ErrCode.ClientBadRequest, err.code ?? '')
    this.answerRaw(socket, RAW_400, false)
  }
}

const RAW_400 = 'HTTP/1.1 400 Bad Request\r\n\r\n'
const RAW_413 = 'HTTP/1.1 413 Request Entity Too Large\r\n\r\n'
const RAW_414 = 'HTTP/1.1 414 Request-URI Too Long\r\n\r\n'
const RAW_501 = 'HTTP/1.1 501 Not Implemented\r\n\r\n'
const RAW_505 = 'HTTP/1.1 505 HTTP Version Not Supported\r\n\r\n'

/**
 * The `d.d` of a well-formed request line `METHOD target HTTP/d.d` (CRLF-terminated) at the
 * start of `packet`, when it is a version other than 1.0 and 1.1.
 */
function requestLineVersion(packet: unknown): string | undefined {
  if (!Buffer.isBuffer(packet)) return undefined
  const end = packet.indexOf(10)
  const line = packet.toString('latin1', 0, end === -1 ? Math.min(packet.length, 8192) : end)
  const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^ ]+ HTTP\/(\d\.\d)\r$/.exec(line)
  // 1.0 and 1.1 are supported: the error was elsewhere on the line (a bare LF ...).
  return m === null || m[1] === '1.0' || m[1] === '1.1' ? undefined : m[1]
}

const REFUSE_TE_CODING = 'transfer coding other than chunked'

/** What `scanHead` found; one object reused for every request (no allocation per request). */
interface HeadScan {
  /** Why the request is refused ('' = it is not): 400, or 501 for REFUSE_TE_CODING. */
  refuse: string
  /** The authority of an absolute-form target, which replaces Host (RFC 9112 §3.2.2). */
  hostOverride: string | undefined
  /** The Connection value(s), joined with ','; '' when absent. */
  connection: string
}
const scan: HeadScan = { refuse: '', hostOverride: undefined, connection: '' }

/**
 * One pass over the request's header list for the checks node:http does not make:
 * - Host (RFC 9112 §3.2, decision D21): more than one Host line, or an invalid value, is
 *   refused; HTTP/1.1 without Host is refused unless the target is in absolute form. An
 *   absolute-form target's authority must be valid and replaces Host.
 * - Transfer-Encoding (RFC 9112 §6.1, §6.3): on HTTP/1.0 it is refused (400). On HTTP/1.1 a
 *   list whose last coding is not `chunked` is refused (400), and so is one with other codings
 *   before `chunked` (`gzip, chunked`, `identity, chunked`: 501), since those bodies would reach
 *   the backend still encoded and BFE reads `identity, chunked` as no body at all. `chunked`
 *   with spaces or tabs around it is accepted: the body is re-framed for the backend, which
 *   never sees the client's Transfer-Encoding.
 * - Connection: its value, for dropConnectionNamed.
 */
function scanHead(raw: readonly string[], target: string, http11: boolean): HeadScan {
  scan.refuse = ''
  scan.hostOverride = undefined
  scan.connection = ''
  let hosts = 0
  let host = ''
  let te: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const c = name.charCodeAt(0) | 0x20
    if (c === 0x68 /* h */ && sameName(name, 'host')) {
      hosts++
      host = raw[i + 1]!
    } else if (c === 0x74 /* t */ && sameName(name, 'transfer-encoding')) {
      te = te === undefined ? raw[i + 1]! : `${te},${raw[i + 1]!}`
    } else if (c === 0x63 /* c */ && sameName(name, 'connection')) {
      scan.connection = scan.connection === '' ? raw[i + 1]! : `${scan.connection},${raw[i + 1]!}`
    }
  }
  if (hosts > 1) {
    scan.refuse = 'more than one Host header'
    return scan
  }
  if (hosts === 1 && !validHost(host)) {
    scan.refuse = 'invalid Host header'
    return scan
  }
  const authority = absoluteFormAuthority(target)
  if (authority !== undefined) {
    if (!validHost(authority)) {
      scan.refuse = 'invalid authority in the request-target'
      return scan
    }
    if (hosts === 0 || host !== authority) scan.hostOverride = authority
  } else if (hosts === 0 && http11) {
    scan.refuse = 'missing Host header'
    return scan
  }
  if (te !== undefined) {
    if (!http11) scan.refuse = 'Transfer-Encoding on an HTTP/1.0 request'
    else scan.refuse = checkCodings(te)
  }
  return scan
}

/**
 * Checks a request's Transfer-Encoding list (RFC 9112 §6.1, §6.3): '' when every coding is
 * `chunked` (case-insensitive; OWS and empty list elements allowed); a reason for 400 when the
 * last coding is not `chunked` (the body length cannot be known); REFUSE_TE_CODING (501) when
 * `chunked` is last but other codings come before it.
 */
function checkCodings(te: string): string {
  if (te === 'chunked') return ''
  const codings: string[] = []
  for (const part of te.split(',')) {
    const coding = part.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase()
    if (coding !== '') codings.push(coding)
  }
  if (codings[codings.length - 1] !== 'chunked') return 'Transfer-Encoding not ending in chunked'
  for (let i = 0; i < codings.length - 1; i++) if (codings[i] !== 'chunked') return REFUSE_TE_CODING
  // `chunked, chunked`: node:http refuses it before we see it.
  return codings.length === 1 ? '' : 'chunked applied more than once'
}

/** The header list with Host set to `host` (replacing the first Host line, or added). */
function withHost(raw: string[], host: string): string[] {
  for (let i = 0; i < raw.length; i += 2) {
    if (sameName(raw[i]!, 'host')) {
      raw[i + 1] = host
      return raw
    }
  }
  raw.push('Host', host)
  return raw
}

/** A WebSocket handshake: GET, HTTP/1.1, `Upgrade: websocket` (node:http checked `Connection`). */
function isWebSocketHandshake(nreq: IncomingMessage): boolean {
  const up = nreq.headers.upgrade
  return (
    nreq.method === 'GET' &&
    nreq.httpVersion === '1.1' &&
    typeof up === 'string' &&
    up.trim().toLowerCase() === 'websocket'
  )
}

/** The pipeline's ResponseWriter over node:http's ServerResponse. */
export class Http1Writer implements ResponseWriter {
  pipeline: RequestPipeline | undefined
  private readonly conn: Conn
  private readonly nreq: IncomingMessage
  private readonly nres: ServerResponse
  private readonly ctx: ServerContext
  private readonly keepAlive: boolean
  /** A WebSocket handshake: the client bytes read after its header (sent on once switched). */
  private readonly upgradeHead: Buffer | undefined

  constructor(
    conn: Conn,
    nreq: IncomingMessage,
    nres: ServerResponse,
    ctx: ServerContext,
    upgradeHead?: Buffer,
  ) {
    this.pipeline = undefined
    this.conn = conn
    this.nreq = nreq
    this.nres = nres
    this.ctx = ctx
    this.keepAlive = ctx.keepAliveEnabled
    this.upgradeHead = upgradeHead
  }

  get headersSent(): boolean {
    return this.nres.headersSent
  }

  writeContinue(): void {
    this.nres.writeContinue()
  }

  bodyDeadline(ms: number): void {
    const conn = this.conn
    conn.due[Deadline.Body] = Date.now() + ms
    this.nreq.once('end', () => {
      if (conn.current === this.pipeline) conn.due[Deadline.Body] = 0
    })
  }

  writeDeadline(at: number): void {
    this.conn.due[Deadline.Write] = at
  }

  headerDeadline(at: number): void {
    this.conn.due[Deadline.ResponseHeader] = at
  }

  idleTimeout(ms: number): void {
    this.conn.keepAliveMs = ms
  }

  closeAfter(): void {
    this.nres.shouldKeepAlive = false
  }

  head(status: number, headers: string[]): void {
    if (!this.keepAlive) this.nres.shouldKeepAlive = false
    this.nres.writeHead(status, headers)
  }

  write(chunk: Buffer): boolean {
    return this.nres.write(chunk)
  }

  onceDrain(fn: () => void): void {
    this.nres.once('drain', fn)
  }

  end(trailers?: string[]): void {
    if (trailers !== undefined && trailers.length > 0) this.nres.addTrailers(pairs(trailers))
    this.nres.end()
  }

  respond(status: number, headers: string[], body: string | Buffer | undefined): void {
    if (!noBodyStatus(status) && !hasHeader(headers, 'content-length'))
      headers.push('Content-Length', String(bodyLength(body)))
    this.head(status, headers)
    if (body === undefined || this.nreq.method === 'HEAD') this.nres.end()
    else this.nres.end(body)
  }

  respondStream(status: number, headers: string[], body: Readable): void {
    this.head(status, headers)
    const nres = this.nres
    pipeStreams(body, nres, (err) => {
      if (err !== undefined && err !== null && this.pipeline?.done !== true) {
        if (this.pipeline !== undefined) this.pipeline.closeAfter = true
        nres.destroy()
      }
    })
  }

  abort(): void {
    const nres = this.nres
    if (nres.headersSent) {
      // The head may still sit in Node's buffer (it goes out with the first body chunk): send it,
      // then close once it is written, so the client sees the head and a truncated body (as
      // nginx does) rather than an empty reply.
      nres.flushHeaders()
      this.conn.socket.destroySoon()
      return
    }
    nres.destroy()
  }

  drop(): void {
    this.conn.destroy()
  }

  switchProtocols(
    res: SwitchResponse,
    upstream: Socket,
    upstreamHead: Buffer,
    ended: (err: Error | undefined) => void,
  ): void {
    const conn = this.conn
    const socket = conn.socket
    // The connection is a tunnel now: no request deadline applies to it.
    conn.due.fill(0)
    this.nres.detachSocket(socket)
    const ses = conn.session
    const secure = ses.isSecure
    const proto = secure ? 'wss' : 'ws'
    ses.protocol = proto
    // Moves the connection from http/https to ws/wss; the acceptor uncounts it when it closes.
    conn.proto = countConnProtocol(this.ctx.counters, proto, conn.proto)
    const tunnel = new Tunnel(socket, upstream, this.ctx.stateCounters.websocket, (err) => {
      if (conn.current === tunnel) conn.current = undefined
      ended(err)
    })
    conn.current = tunnel
    try {
      if (!socket.destroyed) socket.write(switchHead(res))
      tunnel.start(this.upgradeHead ?? EMPTY, upstreamHead)
    } catch (err) {
      this.ctx.stateCounters.websocket.WEB_SOCKET_PANIC_CONN++
      this.ctx.onUnexpected(err, this.pipeline?.req)
      tunnel.destroy()
    }
  }

  done(close: boolean): void {
    const conn = this.conn
    conn.due[Deadline.Write] = 0
    conn.due[Deadline.Body] = 0
    conn.due[Deadline.ResponseHeader] = 0
    if (conn.current === this.pipeline) conn.current = undefined
    const socket = conn.socket as ConnSocket
    if (socket[kCurrentWriter] === this) socket[kCurrentWriter] = undefined
    if (close || !this.nres.shouldKeepAlive) {
      conn.socket.destroySoon()
      return
    }
    conn.due[Deadline.KeepAliveIdle] = Date.now() + conn.keepAliveMs
  }
}

const EMPTY = Buffer.alloc(0)

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = []
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!])
  return out
}

function hasHeader(raw: readonly string[], lower: string): boolean {
  for (let i = 0; i < raw.length; i += 2) if (sameName(raw[i]!, lower)) return true
  return false
}

/** An empty internal response with `Connection: close` (Expect failures). */
function replyAndClose(nres: ServerResponse, status: number): void {
  nres.shouldKeepAlive = false
  nres.writeHead(status, [
    'Server',
    'bfe',
    'Content-Type',
    'text/plain; charset=utf-8',
    'Content-Length',
    '0',
  ])
  nres.end()
}

/**
 * Writes a raw status line to a client and closes. `linger` half-closes first and waits ~500 ms
 * so the client can read the answer before the reset (BFE's 413 behaviour).
 */
function rawReply(socket: Socket, text: string, linger: boolean): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  socket.end(text)
  const t = setTimeout(() => socket.destroy(), linger ? 500 : 50)
  t.unref()
}
