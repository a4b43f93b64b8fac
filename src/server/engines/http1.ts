import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  ServerResponse,
} from 'node:http'
import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { pipeline as pipeStreams } from 'node:stream'
import { ErrCode } from '../../basic/error-code.js'
import { sameName } from '../../basic/header-list.js'
import { BfeRequest } from '../../basic/request.js'
import { type SwitchResponse, switchHead, Tunnel } from '../../proxy/tunnel.js'
import type { Conn, ConnHandler } from '../accept/conn.js'
import { Deadline } from '../accept/deadlines.js'
import { RequestPipeline } from '../pipeline/pipeline.js'
import { bodyLength, noBodyStatus, type ResponseWriter } from '../pipeline/writer.js'
import { countConnProtocol, type ServerContext } from '../runtime.js'

/** Graceful shutdown: an idle keep-alive connection is closed after this much idleness. */
const DRAIN_IDLE_MS = 1000

const kConn = Symbol('bfe.conn')
type ConnSocket = Socket & { [kConn]?: Conn }

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

  constructor(ctx: ServerContext, settings: Http1Settings) {
    this.ctx = ctx
    this.settings = settings
    const http = createHttpServer(
      {
        maxHeaderSize: settings.maxHeaderBytes + 4096,
        requireHostHeader: false,
        keepAliveTimeout: 0,
        headersTimeout: 0,
        requestTimeout: 0,
        connectionsCheckingInterval: 2 ** 30,
        noDelay: true,
      },
      (nreq, nres) => this.onRequest(nreq, nres),
    )
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
    this.http = http
  }

  /** Takes over a connection: the parser starts reading its first request. */
  serve(conn: Conn): void {
    const socket = conn.socket as ConnSocket
    socket[kConn] = conn
    conn.handler = this
    conn.due[Deadline.FirstHeader] = Date.now() + this.settings.firstHeaderMs
    this.http.emit('connection', socket)
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
    const rawUri = nreq.url ?? '/'
    if (rawUri.length > this.settings.maxUriBytes) {
      this.ctx.counters.ERR_CLIENT_LONG_URL++
      conn.fail(ErrCode.ClientLongUrl)
      rawReply(socket, 'HTTP/1.1 414 Request-URI Too Long\r\n\r\n', false)
      return
    }
    const ses = conn.session
    let req: BfeRequest
    try {
      req = new BfeRequest(ses, {
        method: nreq.method ?? 'GET',
        rawUri,
        proto: nreq.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${nreq.httpVersion}`,
        headers: nreq.rawHeaders,
        body: nreq,
        hasBody: upgrade === undefined ? undefined : false,
      })
    } catch {
      // A malformed percent-escape in the path.
      this.ctx.counters.ERR_CLIENT_BAD_REQUEST++
      conn.fail(ErrCode.ClientBadRequest)
      rawReply(socket, 'HTTP/1.1 400 Bad Request\r\n\r\n', false)
      return
    }
    ses.reqNum++
    ses.reqNumActive++
    const accept = req.headers.get('accept')
    if (accept?.includes('text/event-stream')) req.isSse = true
    const writer = new Http1Writer(conn, nreq, nres, this.ctx, upgrade)
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

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const conn = (socket as ConnSocket)[kConn]
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      this.ctx.counters.ERR_CLIENT_LONG_HEADER++
      conn?.fail(ErrCode.ClientLongHeader)
      rawReply(socket, 'HTTP/1.1 413 Request Entity Too Large\r\n\r\n', true)
      return
    }
    if (err.code === 'ECONNRESET') {
      conn?.fail(ErrCode.ClientReset)
      socket.destroy()
      return
    }
    this.ctx.counters.ERR_CLIENT_BAD_REQUEST++
    conn?.fail(ErrCode.ClientBadRequest)
    rawReply(socket, 'HTTP/1.1 400 Bad Request\r\n\r\n', false)
  }
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
