import type { Socket } from 'node:net'
import { Readable } from 'node:stream'
import { ErrCode } from '../../basic/error-code.js'
import { HeaderList, sameName } from '../../basic/header-list.js'
import { absoluteFormAuthority, validHost } from '../../basic/host.js'
import { BfeRequest } from '../../basic/request.js'
import { dropConnectionNamed } from '../../proxy/hop-headers.js'
import { type SwitchResponse, switchHead, Tunnel } from '../../proxy/tunnel.js'
import * as clock from '../../util/clock.js'
import { beforeWrite } from '../../util/write-batch.js'
import type { Conn, ConnHandler } from '../accept/conn.js'
import { Deadline } from '../accept/deadlines.js'
import { RequestPipeline } from '../pipeline/pipeline.js'
import { bodyLength, noBodyStatus, type ResponseWriter } from '../pipeline/writer.js'
import { countConnProtocol, type ServerContext } from '../runtime.js'
import { checkField, httpDate, JOIN_LIMIT, sendJoined, statusLine } from './http1/head.js'
import {
  completeFields,
  HTTPParser,
  isParseError,
  kOnBody,
  kOnExecute,
  kOnHeaders,
  kOnHeadersComplete,
  kOnMessageBegin,
  kOnMessageComplete,
  LENIENT_NONE,
  METHODS,
  type NativeParser,
  PARSER_RESOURCE,
  type ParseError,
} from './http1/parser.js'

/** Graceful shutdown: an idle keep-alive connection is closed after this much idleness. */
const DRAIN_IDLE_MS = 1000

/**
 * Header fields one request may carry (node:http's old default cut-off, where it silently dropped
 * the fields past it; BFE and nginx bound a head by bytes only). A request with more gets a raw 413.
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

/** Parsers kept for reuse after their connection closed. */
const PARSER_POOL_MAX = 256
const parserPool: NativeParser[] = []

export interface Http1Settings {
  maxHeaderBytes: number
  maxUriBytes: number
  /** ClientReadTimeout (ms): the first request header of a connection. */
  firstHeaderMs: number
}

/**
 * The HTTP/1.x engine (lifecycle.md §3). Each connection handed over by the acceptor (plain TCP,
 * TLS with ALPN `http/1.1` or none, after the PROXY stage) gets an `H1Conn`: Node's llhttp binding
 * (`_http_common`'s HTTPParser, the parser node:http itself uses) parses the request heads and
 * bodies read from the socket, each request becomes a `BfeRequest` run by a `RequestPipeline`,
 * and answers go out through `Http1Writer`, which writes a head and a small body in one write.
 * Requests the parser or the engine's own checks reject get BFE's raw status lines.
 */
export class Http1Engine implements ConnHandler {
  readonly ctx: ServerContext
  readonly settings: Http1Settings
  /** Bytes of unfinished heads above HEAD_FREE_BYTES, over every connection of this worker. */
  headExcess: number
  readonly headBudget: number
  /** llhttp's bound on a head (MaxHeaderBytes plus room for the request line). */
  private readonly maxHeadBytes: number
  /** Writers whose head waits for its first body bytes (sent by one setImmediate per tick). */
  readonly pendingHeads: Http1Writer[]
  private flushScheduled: boolean
  private readonly flushHeads: () => void

  constructor(ctx: ServerContext, settings: Http1Settings) {
    this.ctx = ctx
    this.settings = settings
    this.headExcess = 0
    this.headBudget = Math.max(HEAD_BUDGET_MIN, 2 * (settings.maxHeaderBytes + 4096))
    this.maxHeadBytes = settings.maxHeaderBytes + 4096
    this.pendingHeads = []
    this.flushScheduled = false
    this.flushHeads = () => {
      this.flushScheduled = false
      const list = this.pendingHeads
      for (let i = 0; i < list.length; i++) list[i]!.flushHead()
      list.length = 0
    }
  }

  /** Takes over a connection: the parser starts reading its first request. */
  serve(conn: Conn): void {
    conn.handler = this
    conn.due[Deadline.FirstHeader] = Date.now() + this.settings.firstHeaderMs
    let parser = parserPool.pop()
    if (parser === undefined) {
      parser = new HTTPParser()
      parser[kOnMessageBegin] = undefined
      parser[kOnHeaders] = onHeaders
      parser[kOnHeadersComplete] = onHeadersComplete
      parser[kOnBody] = onBody
      parser[kOnMessageComplete] = onMessageComplete
      parser[kOnExecute] = onExecute
    }
    // Strict parsing whatever NODE_OPTIONS says (no --insecure-http-parser leniency: obs-fold,
    // bare LF, CL+TE and other framing that a backend may read differently are refused).
    parser.initialize(HTTPParser.REQUEST, PARSER_RESOURCE, this.maxHeadBytes, LENIENT_NONE)
    const c = new H1Conn(this, conn, parser)
    ;(parser as OwnedParser).owner = c
    const socket = c.socket
    // A plain TCP socket with nothing buffered is read by the parser natively (as node:http does):
    // no Buffer, stream push or 'data' event per read. TLS sockets, and sockets holding bytes
    // given back by the PROXY stage, are fed through 'data'.
    const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle
    if (
      conn.socket === conn.raw &&
      handle !== undefined &&
      handle !== null &&
      handle.isStreamBase === true &&
      handle._consumed !== true &&
      socket.readableLength === 0
    ) {
      handle._consumed = true
      parser.consume(handle)
      c.handle = handle
    }
    socket.on('data', c.onData)
    if (socket.isPaused()) socket.resume()
  }

  /** A head waits for body bytes: it goes out by itself at the end of this tick if none come. */
  queueHead(w: Http1Writer): void {
    this.pendingHeads.push(w)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flushHeads)
    }
  }

  /**
   * Accounts `n` bytes read while the connection waits for a request head. A head that grows
   * past HEAD_FREE_BYTES draws on the worker's budget; when the budget is spent, the connection
   * is answered as for an oversized head (raw 413), nothing more is read from it, and it is
   * closed. False when the connection has been answered.
   */
  headRead(c: H1Conn, n: number): boolean {
    const before = c.headBytes
    const after = before + n
    c.headBytes = after
    if (after <= HEAD_FREE_BYTES) return true
    this.headExcess += after - Math.max(before, HEAD_FREE_BYTES)
    if (this.headExcess <= this.headBudget) return true
    this.ctx.counters.ERR_CLIENT_LONG_HEADER++
    c.conn.fail(ErrCode.ClientLongHeader, 'request head over the memory budget of unfinished heads')
    // Closed right after the answer (no 500 ms linger as for a head over MaxHeaderBytes): the
    // refused head's memory, still counted in the budget until the close, is released at once.
    c.answerRaw(RAW_413, false)
    return false
  }

  /** The head is complete or the connection is done with: its bytes leave the budget. */
  headDone(c: H1Conn): void {
    const n = c.headBytes
    if (n > HEAD_FREE_BYTES) this.headExcess -= n - HEAD_FREE_BYTES
    c.headBytes = 0
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
    const c = connOf(conn)
    if (c === undefined) {
      conn.current?.clientGone()
      return
    }
    c.close()
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
}

/** The native stream under a net.Socket (libuv TCP), as `HTTPParser.consume` takes it. */
interface StreamHandle {
  isStreamBase?: boolean
  _consumed?: boolean
  reading?: boolean
  readStart(): number
  readStop(): number
}

const kH1 = Symbol('bfe.h1')
type H1Socket = Socket & { [kH1]?: H1Conn }

function connOf(conn: Conn): H1Conn | undefined {
  return (conn.socket as H1Socket)[kH1]
}

/**
 * One HTTP/1 connection: its parser, the request in flight, the request whose body is being
 * read, and requests pipelined behind the one in flight (served in order, one at a time).
 */
export class H1Conn {
  readonly engine: Http1Engine
  readonly conn: Conn
  readonly socket: Socket
  parser: NativeParser | undefined
  /** Bytes of the current unfinished head read so far (counted in the head budget). */
  headBytes: number
  /** The engine has answered (refused) on this connection: nothing more is read or answered. */
  answered: boolean
  /** The writer of the request being answered. */
  inflight: Http1Writer | undefined
  /** The request whose body the parser is reading (it may be queued, or in flight). */
  reading: Http1Writer | undefined
  /** Requests read in full or in part behind the one in flight, in order. */
  queue: Http1Writer[] | undefined
  /** Fields and target handed over before the head was complete (heads over 32 fields). */
  fields: string[] | undefined
  url: string
  /** The head just parsed asked for a protocol switch: what follows it is not HTTP. */
  upgraded: Http1Writer | undefined
  /** Reads stopped by the engine: a body's reader is full, or requests are queued. */
  held: boolean
  /** The body of the request being read is no longer wanted (its response is done). */
  discard: boolean
  /** The socket's handle when the parser reads it natively (consume); undefined otherwise. */
  handle: StreamHandle | undefined
  readonly onData: (chunk: Buffer) => void

  constructor(engine: Http1Engine, conn: Conn, parser: NativeParser) {
    this.engine = engine
    this.conn = conn
    this.socket = conn.socket
    this.parser = parser
    this.headBytes = 0
    this.answered = false
    this.inflight = undefined
    this.reading = undefined
    this.queue = undefined
    this.fields = undefined
    this.url = ''
    this.upgraded = undefined
    this.held = false
    this.discard = false
    this.handle = undefined
    ;(this.socket as H1Socket)[kH1] = this
    this.onData = (chunk: Buffer) => this.read(chunk)
  }

  private read(chunk: Buffer): void {
    const parser = this.parser
    if (this.answered || parser === undefined) return
    if (this.inflight === undefined && this.reading === undefined) {
      if (!this.engine.headRead(this, chunk.length)) return
    }
    this.executed(parser, parser.execute(chunk), chunk)
  }

  /**
   * After the parser has read `chunk` (fed from 'data', or natively: then `r` comes through
   * kOnExecute and the chunk from `getCurrentBuffer()` when needed).
   */
  executed(parser: NativeParser, r: number | ParseError, chunk: Buffer | undefined): void {
    // Answered, switched or closed inside a callback: the rest of the chunk is not ours to read.
    if (this.parser !== parser && this.upgraded === undefined) return
    if (isParseError(r)) {
      this.parseError(r, chunk ?? currentBuffer(parser))
      return
    }
    const up = this.upgraded
    if (up !== undefined) {
      this.upgraded = undefined
      const rest =
        up.upgradeHead !== undefined ? (chunk ?? currentBuffer(parser)).subarray(r) : EMPTY
      this.stopReading()
      if (up.upgradeHead !== undefined) up.upgradeHead = rest
    }
  }

  /** Reads natively parsed: the head budget is accounted after the parse. */
  nativeRead(parser: NativeParser, r: number | ParseError): void {
    if (this.answered || this.parser !== parser) return
    if (typeof r === 'number' && this.inflight === undefined && this.reading === undefined) {
      if (!this.engine.headRead(this, r)) return
    }
    this.executed(parser, r, undefined)
  }

  /** Stops reading from the socket (paused for the JavaScript side, and natively). */
  private pauseSocket(): void {
    this.socket.pause()
    const h = this.handle
    if (h !== undefined && h.reading === true) {
      h.reading = false
      h.readStop()
    }
  }

  private resumeSocket(): void {
    this.socket.resume()
    const h = this.handle
    if (h !== undefined && h.reading !== true && !this.socket.destroyed) {
      h.reading = true
      h.readStart()
    }
  }

  /** No more request bytes are parsed on this connection (answered, upgraded or closed). */
  stopReading(): void {
    this.socket.off('data', this.onData)
    this.pauseSocket()
    this.releaseParser()
  }

  private releaseParser(): void {
    const p = this.parser
    if (p === undefined) return
    this.parser = undefined
    ;(p as OwnedParser).owner = undefined
    this.fields = undefined
    const h = this.handle
    if (h !== undefined) {
      // The socket's reads go back to its JavaScript side, which buffers them while the socket
      // is paused (a tunnel takes them later; its stream stops reading once its buffer is full).
      // Reading must go on: that stream saw no read of its own since the handle was consumed and
      // would not start one.
      this.handle = undefined
      p.unconsume()
      h._consumed = false
      if (!this.socket.destroyed && h.reading !== true) {
        h.reading = true
        h.readStart()
      }
    }
    if (parserPool.length < PARSER_POOL_MAX) {
      p.remove()
      parserPool.push(p)
    } else p.free()
  }

  /**
   * Answers a request the engine refuses with a raw status line and closes (lifecycle.md §3).
   * Nothing more is read: later parse errors cannot answer twice, and what the client still
   * sends stays in the kernel, costing this process nothing during the linger. The refused
   * head stays counted in the head budget until the connection closes.
   */
  answerRaw(text: string, linger: boolean): void {
    this.answered = true
    this.socket.off('data', this.onData)
    this.pauseSocket()
    rawReply(this.socket, text, linger)
  }

  private parseError(err: { code?: string | undefined }, chunk: Buffer): void {
    if (this.answered) return
    const engine = this.engine
    const counters = engine.ctx.counters
    const conn = this.conn
    const code = err.code ?? ''
    const reading = this.reading
    if (reading !== undefined) {
      this.reading = undefined
      reading.body?.destroy(Object.assign(new Error(`bad request body: ${code}`), { code }))
    }
    // An error in a request body (bad chunk framing ...) after the response has started: no
    // status line can be written any more.
    if (this.inflight?.headersSent === true) {
      counters.ERR_CLIENT_BAD_REQUEST++
      conn.fail(ErrCode.ClientBadRequest, code)
      this.answered = true
      this.stopReading()
      conn.destroy()
      return
    }
    if (code === 'HPE_HEADER_OVERFLOW') {
      counters.ERR_CLIENT_LONG_HEADER++
      conn.fail(ErrCode.ClientLongHeader)
      this.answerRaw(RAW_413, true)
      return
    }
    if (code === 'HPE_INVALID_VERSION') {
      const version = requestLineVersion(chunk)
      if (version !== undefined) {
        this.badVersion(version)
        return
      }
    }
    counters.ERR_CLIENT_BAD_REQUEST++
    conn.fail(ErrCode.ClientBadRequest, code)
    this.answerRaw(RAW_400, false)
  }

  /**
   * A request line whose version is not HTTP/1.0 or 1.1. HTTP/0.9 has no status line to answer
   * with: the connection is closed without a byte. Any other well-formed version (`HTTP/2.0`,
   * `HTTP/1.2`, `HTTP/3.0` ...) gets a raw 505.
   */
  badVersion(version: string): void {
    this.engine.ctx.counters.ERR_CLIENT_BAD_REQUEST++
    this.conn.fail(ErrCode.ClientBadRequest, `unsupported HTTP version ${version}`)
    if (version === '0.9') {
      this.answered = true
      this.stopReading()
      this.socket.destroy()
      return
    }
    this.answerRaw(RAW_505, false)
  }

  /** A refused request: counted, logged on the session, answered raw. Returns -1 (stop parsing). */
  refuse(
    code: ErrCode,
    counter: RefuseCounter,
    msg: string,
    text: string,
    linger: boolean,
  ): number {
    this.engine.ctx.counters[counter]++
    this.conn.fail(code, msg)
    this.answerRaw(text, linger)
    return -1
  }

  /**
   * A complete head: checks, then the request starts (or waits behind the one in flight).
   * Returns llhttp's instruction: 0 read the body, 2 a protocol switch (no body, stop), -1 stop.
   */
  head(
    major: number,
    minor: number,
    rawFields: string[],
    method: string,
    rawUri: string,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    const engine = this.engine
    const ctx = engine.ctx
    const conn = this.conn
    engine.headDone(this)
    if (this.answered) return -1
    if (major !== 1 || minor > 1) {
      this.badVersion(`${major}.${minor}`)
      return -1
    }
    if (rawFields.length > 2 * MAX_HEADER_FIELDS)
      return this.refuse(
        ErrCode.ClientLongHeader,
        'ERR_CLIENT_LONG_HEADER',
        `more than ${MAX_HEADER_FIELDS} header fields`,
        RAW_413,
        true,
      )
    if (rawUri.length > engine.settings.maxUriBytes)
      return this.refuse(ErrCode.ClientLongUrl, 'ERR_CLIENT_LONG_URL', '', RAW_414, false)
    const http11 = minor === 1
    if (method === 'CONNECT')
      // A reverse proxy tunnels nothing: 400, as nginx.
      return this.refuse(
        ErrCode.ClientBadRequest,
        'ERR_CLIENT_BAD_REQUEST',
        'CONNECT is not supported',
        RAW_400,
        false,
      )
    const head = scanHead(rawFields, rawUri, http11)
    if (head.refuse !== '') {
      const notImpl = head.refuse === REFUSE_TE_CODING
      return this.refuse(
        ErrCode.ClientBadRequest,
        'ERR_CLIENT_BAD_REQUEST',
        head.refuse,
        notImpl ? RAW_501 : RAW_400,
        false,
      )
    }
    let raw = rawFields
    if (head.hostOverride !== undefined) raw = withHost(raw, head.hostOverride)
    if (head.connection !== '') raw = dropConnectionNamed(raw, head.connection)
    let wsHead = false
    if (upgrade) {
      if (this.inflight !== undefined || this.queue !== undefined) {
        // Pipelined behind a request still being answered: the two answers would interleave.
        conn.fail(ErrCode.ClientBadRequest, 'upgrade request pipelined behind another request')
        this.answered = true
        this.stopReading()
        this.socket.destroy()
        return -1
      }
      // A WebSocket handshake (GET, HTTP/1.1, `Upgrade: websocket`) runs the pipeline like any
      // request (D20); unless the backend switches, its answer closes the connection. Any other
      // upgrade (h2c ...) is served as an ordinary request, after which the connection closes.
      // No new tunnel while shutting down. Taken on any request of a connection, not only the
      // first (BFE's rule): proxies with keep-alive pools in front send it on reused connections.
      wsHead = method === 'GET' && http11 && head.websocket && !ctx.shuttingDown
    }
    let expectContinue = false
    if (head.expect !== undefined && http11) {
      if (!CONTINUE.test(head.expect)) {
        conn.fail(ErrCode.ClientExpectFail)
        ctx.counters.ERR_CLIENT_EXPECT_FAIL++
        this.replyAndClose(417)
        return -1
      }
      const ses = conn.session
      if (!ses.useExpect100) ctx.counters.CLIENT_CONN_USE100_CONTINUE++
      ses.useExpect100 = true
      if (head.contentLength === '0') {
        ctx.counters.ERR_CLIENT_ZERO_CONTENTLEN++
        conn.fail(ErrCode.ClientZeroContentLen)
        this.replyAndClose(400)
        return -1
      }
      expectContinue = true
    }
    const hasBody =
      !upgrade &&
      (head.contentLength !== undefined ? head.contentLength !== '0' : head.te !== undefined)
    const ses = conn.session
    let req: BfeRequest
    const writer = new Http1Writer(this, http11, keepAlive && !upgrade, method === 'HEAD')
    if (hasBody) writer.body = new H1Body(this)
    try {
      req = new BfeRequest(ses, {
        method,
        rawUri,
        proto: http11 ? 'HTTP/1.1' : 'HTTP/1.0',
        // llhttp (strict) checked every name and value; an absolute-form authority put in
        // Host passed its check of the request target
        headers: new HeaderList(raw, raw.length),
        body: writer.body,
        hasBody,
      })
    } catch {
      // A malformed percent-escape in the path.
      return this.refuse(ErrCode.ClientBadRequest, 'ERR_CLIENT_BAD_REQUEST', '', RAW_400, false)
    }
    if (req.headers.get('accept')?.includes('text/event-stream') === true) req.isSse = true
    writer.expectContinue = expectContinue
    const p = new RequestPipeline(req, writer, ctx)
    writer.pipeline = p
    if (hasBody) this.reading = writer
    if (upgrade) {
      p.upgrade = wsHead
      if (wsHead) writer.upgradeHead = EMPTY
      this.upgraded = writer
    }
    if (this.inflight === undefined) this.begin(writer)
    else {
      if (this.queue === undefined) this.queue = []
      this.queue.push(writer)
      this.hold()
    }
    return upgrade ? 2 : 0
  }

  /** Starts a request: it becomes the one in flight. */
  begin(w: Http1Writer): void {
    const conn = this.conn
    const due = conn.due
    due[Deadline.FirstHeader] = 0
    due[Deadline.KeepAliveIdle] = 0
    this.inflight = w
    const p = w.pipeline as RequestPipeline
    const ses = conn.session
    ses.reqNum++
    ses.reqNumActive++
    conn.current = p
    conn.served++
    p.start()
  }

  body(chunk: Buffer): void {
    const w = this.reading
    if (w === undefined || this.discard) return
    const b = w.body
    if (b !== undefined && !b.destroyed && !b.push(chunk)) this.hold()
  }

  messageDone(): void {
    const w = this.reading
    this.discard = false
    if (w === undefined) return
    this.reading = undefined
    w.bodyComplete = true
    if (this.inflight === w) this.conn.due[Deadline.Body] = 0
    const b = w.body
    if (b !== undefined && !b.destroyed) b.push(null)
    if (this.queue === undefined && !this.bodyFull()) this.unhold()
  }

  /** Stops reading from the socket (a full body reader, or requests queued). */
  hold(): void {
    if (this.held) return
    this.held = true
    this.pauseSocket()
  }

  /**
   * Reads again, unless something still holds them. `wanted`: the body's reader asks for more
   * (its buffer may still count the bytes it is handing over).
   */
  unhold(wanted = false): void {
    if (!this.held || this.parser === undefined || this.answered) return
    if (this.queue !== undefined || (!wanted && this.bodyFull())) return
    this.held = false
    this.resumeSocket()
  }

  private bodyFull(): boolean {
    const b = this.reading?.body
    return b !== undefined && !this.discard && b.readableLength >= b.readableHighWaterMark
  }

  /** The request in flight is done and the connection stays: the next one may start. */
  next(w: Http1Writer): void {
    if (this.inflight !== w) return
    this.inflight = undefined
    const conn = this.conn
    if (this.reading === w) {
      // Its body is not wanted any more: read and drop the rest (node:http's dump).
      this.discard = true
      w.body?.destroy()
    }
    const q = this.queue
    if (q !== undefined) {
      const n = q.shift() as Http1Writer
      if (q.length === 0) this.queue = undefined
      // Not inside the finished response's call stack.
      setImmediate(() => {
        if (conn.closed) return
        this.begin(n)
        this.unhold()
      })
      return
    }
    this.unhold()
  }

  /** The connection has closed. */
  close(): void {
    this.engine.headDone(this)
    const reading = this.reading
    this.reading = undefined
    if (reading?.body !== undefined && !reading.bodyComplete)
      reading.body.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))
    this.queue = undefined
    this.socket.off('data', this.onData)
    this.releaseParser()
    this.conn.current?.clientGone()
  }

  /** An empty internal response with `Connection: close` (Expect failures). */
  private replyAndClose(status: number): void {
    this.answered = true
    this.socket.off('data', this.onData)
    this.pauseSocket()
    const head = `${statusLine(status)}Server: bfe\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\nDate: ${httpDate()}\r\nConnection: close\r\n\r\n`
    this.socket.end(head, 'latin1')
  }
}

type RefuseCounter = 'ERR_CLIENT_LONG_HEADER' | 'ERR_CLIENT_LONG_URL' | 'ERR_CLIENT_BAD_REQUEST'

// ---- parser callbacks (one set of functions for every connection; `this` is the parser) -----

type OwnedParser = NativeParser & { owner?: H1Conn | undefined }

function onHeaders(this: OwnedParser, fields: string[], url: string): void {
  const c = this.owner
  if (c === undefined) return
  if (c.fields === undefined) c.fields = fields
  else if (c.fields.length <= 2 * MAX_HEADER_FIELDS) for (const f of fields) c.fields.push(f)
  c.url += url
}

function onHeadersComplete(
  this: OwnedParser,
  major: number,
  minor: number,
  fields: string[] | undefined,
  method: number,
  url: string | undefined,
  _status: number,
  _statusText: string,
  upgrade: boolean,
  keepAlive: boolean,
): number {
  const c = this.owner
  if (c === undefined) return -1
  const all = completeFields(c, fields)
  let uri = url ?? ''
  if (c.url !== '') {
    uri = c.url + uri
    c.url = ''
  }
  // the request's stage stamps and deadlines up to its dispatch share one clock reading
  const held = clock.holdClock()
  try {
    const r = c.head(major, minor, all, METHODS[method] ?? 'GET', uri, upgrade, keepAlive)
    // A request without a body is complete with its head: the message-complete call llhttp
    // makes next would find no body being read (messageDone() does nothing then). The binding
    // skips a slot holding no function: one call from C++ into JavaScript less per request.
    this[kOnMessageComplete] = c.reading !== undefined ? onMessageComplete : undefined
    return r
  } finally {
    clock.releaseClock(held)
  }
}

function onExecute(this: OwnedParser, r: number | ParseError): void {
  this.owner?.nativeRead(this, r)
}

/** The read a natively reading parser is working on (for an error's version check, an upgrade). */
function currentBuffer(parser: NativeParser): Buffer {
  return parser.getCurrentBuffer()
}

function onBody(this: OwnedParser, chunk: Buffer): void {
  this.owner?.body(chunk)
}

function onMessageComplete(this: OwnedParser): void {
  this.owner?.messageDone()
}

/** A request body as the pipeline reads it; filled by the parser, read flow controls the socket. */
class H1Body extends Readable {
  private readonly c: H1Conn

  constructor(c: H1Conn) {
    super()
    this.c = c
  }

  override _read(): void {
    this.c.unhold(true)
  }

  /** As node:http's IncomingMessage: an error nobody listens for is not thrown. */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    cb(this.listenerCount('error') === 0 ? null : err)
  }
}

const RAW_400 = 'HTTP/1.1 400 Bad Request\r\n\r\n'
const RAW_413 = 'HTTP/1.1 413 Request Entity Too Large\r\n\r\n'
const RAW_414 = 'HTTP/1.1 414 Request-URI Too Long\r\n\r\n'
const RAW_501 = 'HTTP/1.1 501 Not Implemented\r\n\r\n'
const RAW_505 = 'HTTP/1.1 505 HTTP Version Not Supported\r\n\r\n'

/** node:http's test for an `Expect` value it answers with `100 Continue`. */
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i

/**
 * The `d.d` of a well-formed request line `METHOD target HTTP/d.d` (CRLF-terminated) at the
 * start of `packet`, when it is a version other than 1.0 and 1.1.
 */
function requestLineVersion(packet: Buffer): string | undefined {
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
  /** The Content-Length value (llhttp has checked it), undefined when absent. */
  contentLength: string | undefined
  /** The Transfer-Encoding value(s), joined with ','. */
  te: string | undefined
  /** The Expect value(s), joined with ', '. */
  expect: string | undefined
  /** `Upgrade: websocket`. */
  websocket: boolean
}
const scan: HeadScan = {
  refuse: '',
  hostOverride: undefined,
  connection: '',
  contentLength: undefined,
  te: undefined,
  expect: undefined,
  websocket: false,
}

/**
 * One pass over the request's header list for the checks llhttp does not make, and the fields
 * the engine needs:
 * - Host (RFC 9112 §3.2, decision D21): more than one Host line, or an invalid value, is
 *   refused; HTTP/1.1 without Host is refused unless the target is in absolute form. An
 *   absolute-form target's authority must be valid and replaces Host.
 * - Transfer-Encoding (RFC 9112 §6.1, §6.3): on HTTP/1.0 it is refused (400). On HTTP/1.1 a
 *   list whose last coding is not `chunked` is refused (400), and so is one with other codings
 *   before `chunked` (`gzip, chunked`, `identity, chunked`: 501), since those bodies would reach
 *   the backend still encoded and BFE reads `identity, chunked` as no body at all. `chunked`
 *   with spaces or tabs around it is accepted: the body is re-framed for the backend, which
 *   never sees the client's Transfer-Encoding.
 * - Connection: its value, for dropConnectionNamed. Content-Length, Expect, Upgrade.
 */
function scanHead(raw: readonly string[], target: string, http11: boolean): HeadScan {
  scan.refuse = ''
  scan.hostOverride = undefined
  scan.connection = ''
  scan.contentLength = undefined
  scan.te = undefined
  scan.expect = undefined
  scan.websocket = false
  let hosts = 0
  let host = ''
  let te: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const c = name.charCodeAt(0) | 0x20
    if (c === 0x68 /* h */) {
      if (sameName(name, 'host')) {
        hosts++
        host = raw[i + 1]!
      }
    } else if (c === 0x74 /* t */) {
      if (sameName(name, 'transfer-encoding'))
        te = te === undefined ? raw[i + 1]! : `${te},${raw[i + 1]!}`
    } else if (c === 0x63 /* c */) {
      if (sameName(name, 'connection'))
        scan.connection = scan.connection === '' ? raw[i + 1]! : `${scan.connection},${raw[i + 1]!}`
      else if (sameName(name, 'content-length')) scan.contentLength = raw[i + 1]!
    } else if (c === 0x65 /* e */) {
      if (sameName(name, 'expect'))
        scan.expect = scan.expect === undefined ? raw[i + 1]! : `${scan.expect}, ${raw[i + 1]!}`
    } else if (c === 0x75 /* u */) {
      if (sameName(name, 'upgrade') && raw[i + 1]!.trim().toLowerCase() === 'websocket')
        scan.websocket = true
    }
  }
  scan.te = te
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
  // `chunked, chunked`: llhttp refuses it before we see it.
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

/**
 * The pipeline's ResponseWriter on an HTTP/1 connection. The head is built here (status line,
 * fields checked against response splitting, `Date`, framing and `Connection`) and goes out with
 * the first body bytes in one write; a head whose body does not follow in the same tick goes out
 * alone at the end of the tick.
 */
export class Http1Writer implements ResponseWriter {
  pipeline: RequestPipeline | undefined
  private readonly c: H1Conn
  private readonly http11: boolean
  /** The client asked for keep-alive (llhttp's reading of version and Connection). */
  private keepAlive: boolean
  private readonly isHead: boolean
  /** The request body (undefined when there is none). */
  body: H1Body | undefined
  /** The parser has read the whole request body. */
  bodyComplete: boolean
  /** The client sent `Expect: 100-continue`. */
  expectContinue: boolean
  /** A WebSocket handshake: the client bytes read after its header (sent on once switched). */
  upgradeHead: Buffer | undefined
  headersSent: boolean
  /** The head, built and not written yet ('' once written). */
  private pendingHead: string
  private chunked: boolean
  /** The response may carry a body (not HEAD, 1xx, 204, 304). */
  private bodyAllowed: boolean
  private ended: boolean
  private closeRequested: boolean

  constructor(c: H1Conn, http11: boolean, keepAlive: boolean, isHead: boolean) {
    this.pipeline = undefined
    this.c = c
    this.http11 = http11
    this.keepAlive = keepAlive && c.engine.ctx.keepAliveEnabled
    this.isHead = isHead
    this.body = undefined
    this.bodyComplete = false
    this.expectContinue = false
    this.upgradeHead = undefined
    this.headersSent = false
    this.pendingHead = ''
    this.chunked = false
    this.bodyAllowed = true
    this.ended = false
    this.closeRequested = false
  }

  writeContinue(): void {
    if (this.headersSent || this.bodyComplete) return
    this.beforeWrite(0)
    this.c.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1')
  }

  bodyDeadline(ms: number): void {
    if (this.bodyComplete) return
    this.c.conn.due[Deadline.Body] = clock.now() + ms
  }

  writeDeadline(at: number): void {
    this.c.conn.due[Deadline.Write] = at
  }

  headerDeadline(at: number): void {
    this.c.conn.due[Deadline.ResponseHeader] = at
  }

  idleTimeout(ms: number): void {
    this.c.conn.keepAliveMs = ms
  }

  get persistent(): boolean {
    return this.keepAlive && !this.closeRequested
  }

  /** Before a write of `size` bytes to the client (util/write-batch.ts). */
  private beforeWrite(size: number): void {
    beforeWrite(this.c.socket, size, this.persistent)
  }

  closeAfter(): void {
    this.closeRequested = true
    if (!this.headersSent) this.keepAlive = false
  }

  head(status: number, headers: string[], checked = 0): void {
    // a head refused by checkField (below) may have set it; the next head starts afresh
    this.chunked = false
    let h = statusLine(status)
    let hasLength = false
    let hasTe = false
    let hasDate = false
    let connection: string | undefined
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!
      const value = headers[i + 1]!
      // a field is skipped only when both its name and its value are below `checked`
      if (i + 2 > checked) checkField(name, value)
      const n = name.length
      if (n === 14 && sameName(name, 'content-length')) hasLength = true
      else if (n === 4 && sameName(name, 'date')) hasDate = true
      else if (n === 17 && sameName(name, 'transfer-encoding')) {
        hasTe = true
        if (value.toLowerCase().includes('chunked')) this.chunked = true
      } else if (n === 10 && sameName(name, 'connection'))
        connection = connection === undefined ? value : `${connection}, ${value}`
      h += `${name}: ${value}\r\n`
    }
    this.bodyAllowed = !this.isHead && !noBodyStatus(status)
    if (!this.bodyAllowed) this.chunked = false
    if (!hasDate) h += `Date: ${httpDate()}\r\n`
    let keepAlive = this.keepAlive
    if (!hasLength && !hasTe) {
      if (!this.bodyAllowed) {
        // no body: no framing needed
      } else if (this.http11) {
        h += 'Transfer-Encoding: chunked\r\n'
        this.chunked = true
      } else keepAlive = false // HTTP/1.0: the body ends with the connection
    }
    if (connection !== undefined) {
      if (/(?:^|[\s,])close(?:$|[\s,])/i.test(connection)) keepAlive = false
    } else h += keepAlive ? 'Connection: keep-alive\r\n' : 'Connection: close\r\n'
    this.keepAlive = keepAlive
    this.pendingHead = `${h}\r\n`
    this.headersSent = true
    const p = this.pipeline
    if (p !== undefined) p.req.stat.headerLenOut = this.pendingHead.length
  }

  /** Writes the head if it is still waiting (end of tick, or before an abort). */
  flushHead(): void {
    const h = this.pendingHead
    if (h === '') return
    this.pendingHead = ''
    const socket = this.c.socket
    if (socket.destroyed) return
    this.beforeWrite(h.length)
    socket.write(h, 'latin1')
  }

  write(chunk: Buffer): boolean {
    if (!this.bodyAllowed || chunk.length === 0 || this.ended) return true
    const h = this.pendingHead
    if (h !== '') this.pendingHead = ''
    const socket = this.c.socket
    if (socket.destroyed) return true
    const p = this.pipeline
    if (p !== undefined) p.req.stat.bodyLenOut += chunk.length
    this.beforeWrite(h.length + chunk.length)
    return sendJoined(socket, h, chunk, this.chunked)
  }

  onceDrain(fn: () => void): void {
    this.c.socket.once('drain', fn)
  }

  end(trailers?: string[]): void {
    if (this.ended) return
    let tail = ''
    if (this.chunked) {
      tail = '0\r\n'
      if (trailers !== undefined)
        for (let i = 0; i < trailers.length; i += 2) {
          checkField(trailers[i]!, trailers[i + 1]!)
          tail += `${trailers[i]!}: ${trailers[i + 1]!}\r\n`
        }
      tail += '\r\n'
    }
    this.finishWith(tail)
  }

  /** Ends the response with `tail` after any waiting head (one write), then HandleRequestFinish. */
  private finishWith(tail: string): void {
    this.ended = true
    const out = this.pendingHead + tail
    this.pendingHead = ''
    const socket = this.c.socket
    if (out !== '' && !socket.destroyed) {
      this.beforeWrite(out.length)
      socket.write(out, 'latin1')
    }
    this.pipeline?.finished()
  }

  respond(status: number, headers: string[], body: string | Buffer | undefined): void {
    const n = bodyLength(body)
    if (!noBodyStatus(status) && !hasHeader(headers, 'content-length'))
      headers.push('Content-Length', String(n))
    this.head(status, headers)
    if (body === undefined || !this.bodyAllowed || n === 0) {
      this.finishWith('')
      return
    }
    const h = this.pendingHead
    this.pendingHead = ''
    this.ended = true
    const socket = this.c.socket
    if (!socket.destroyed) {
      const p = this.pipeline
      if (p !== undefined) p.req.stat.bodyLenOut += n
      this.beforeWrite(n + h.length)
      if (typeof body === 'string') {
        if (n + h.length <= JOIN_LIMIT) {
          const buf = Buffer.allocUnsafe(h.length + n)
          buf.write(h, 0, 'latin1')
          buf.write(body, h.length, 'utf8')
          socket.write(buf)
        } else {
          socket.cork()
          socket.write(h, 'latin1')
          socket.write(body)
          socket.uncork()
        }
      } else sendJoined(socket, h, body, false)
    }
    this.pipeline?.finished()
  }

  respondStream(status: number, headers: string[], body: Readable): void {
    this.head(status, headers)
    const onData = (chunk: Buffer | string): void => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      if (!this.write(b)) {
        body.pause()
        this.onceDrain(() => body.resume())
      }
    }
    body.on('data', onData)
    body.once('end', () => this.end())
    body.once('error', () => {
      if (this.pipeline?.done === true) return
      if (this.pipeline !== undefined) this.pipeline.closeAfter = true
      this.flushHead()
      this.c.conn.destroy()
    })
  }

  abort(): void {
    if (this.headersSent) {
      // The client sees the head and a truncated body (as nginx does), then the close.
      this.flushHead()
      this.ended = true
      this.c.socket.destroySoon()
      return
    }
    this.c.conn.destroy()
  }

  drop(): void {
    this.c.conn.destroy()
  }

  switchProtocols(
    res: SwitchResponse,
    upstream: Socket,
    upstreamHead: Buffer,
    ended: (err: Error | undefined) => void,
  ): void {
    const c = this.c
    const conn = c.conn
    const socket = conn.socket
    // The connection is a tunnel now: no request deadline applies to it.
    conn.due.fill(0)
    c.stopReading()
    c.inflight = undefined
    this.ended = true
    const ses = conn.session
    const proto = ses.isSecure ? 'wss' : 'ws'
    ses.protocol = proto
    // Moves the connection from http/https to ws/wss; the acceptor uncounts it when it closes.
    const ctx = c.engine.ctx
    conn.proto = countConnProtocol(ctx.counters, proto, conn.proto)
    const tunnel = new Tunnel(socket, upstream, ctx.stateCounters.websocket, (err) => {
      if (conn.current === tunnel) conn.current = undefined
      ended(err)
    })
    conn.current = tunnel
    try {
      if (!socket.destroyed) socket.write(switchHead(res))
      tunnel.start(this.upgradeHead ?? EMPTY, upstreamHead)
    } catch (err) {
      ctx.stateCounters.websocket.WEB_SOCKET_PANIC_CONN++
      ctx.onUnexpected(err, this.pipeline?.req)
      tunnel.destroy()
    }
  }

  done(close: boolean): void {
    const c = this.c
    const conn = c.conn
    const due = conn.due
    due[Deadline.Write] = 0
    due[Deadline.Body] = 0
    due[Deadline.ResponseHeader] = 0
    if (conn.current === this.pipeline) conn.current = undefined
    if (c.inflight !== this) {
      // A later Finish from an asynchronous HandleRequestFinish; or a tunnel, no longer HTTP.
      if (close && this.upgradeHead === undefined) {
        c.stopReading()
        conn.socket.destroySoon()
      }
      return
    }
    if (
      close ||
      !this.keepAlive ||
      this.closeRequested ||
      !this.ended ||
      this.upgradeHead !== undefined ||
      c.answered
    ) {
      c.inflight = undefined
      c.stopReading()
      this.flushHead()
      conn.socket.destroySoon()
      return
    }
    due[Deadline.KeepAliveIdle] = clock.now() + conn.keepAliveMs
    c.next(this)
  }
}

const EMPTY = Buffer.alloc(0)

function hasHeader(raw: readonly string[], lower: string): boolean {
  for (let i = 0; i < raw.length; i += 2) if (sameName(raw[i]!, lower)) return true
  return false
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
