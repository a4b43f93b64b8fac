import { connect as netConnect, type Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { isFieldValue, isToken } from '../basic/field-syntax.js'
import { type HeaderRun, sameName } from '../basic/header-list.js'
import {
  completeFields,
  HTTPParser,
  isParseError,
  kOnBody,
  kOnHeaders,
  kOnHeadersComplete,
  kOnMessageBegin,
  kOnMessageComplete,
  LENIENT_NONE,
  type NativeParser,
  PARSER_RESOURCE,
} from '../server/engines/http1/parser.js'
import * as clock from '../util/clock.js'
import { SlotList } from '../util/slot-list.js'
import { beforeWrite } from '../util/write-batch.js'
import { ForwardAttempt, type ForwardRequest, type ForwardSink } from './attempt.js'
import { responseHeaderStrings } from './hop-headers.js'

/*
 * Keep-alive pools of plain HTTP/1.1 connections to backends, on raw sockets: the request head is
 * written by us in one write, the response is parsed by Node's llhttp binding (the parser
 * node:http uses). One request per connection at a time; idle connections are reused last-in
 * first-out, so a burst does not keep every connection of a pool warm.
 */

/** Idle upstream connections are dropped after this long (BFE's Go transport uses 90 s by default). */
export const IDLE_TIMEOUT_MS = 60_000

/** A backend's `Keep-Alive: timeout=N` is trusted up to N seconds less this margin (as undici). */
const KEEP_ALIVE_MARGIN_MS = 2000

/** Largest response head accepted from a backend. */
const MAX_RESPONSE_HEAD = 64 * 1024

/**
 * The one buffer every upstream connection reads into (net's `onread`), as large as one read of
 * Node's streams. Sharing it is safe because a read is a synchronous callback that leaves nothing
 * pointing into it when it returns: the parser copies what it keeps (header strings, body spans
 * of chunked responses, a field cut at the end of a read), body bytes past the parser are handed
 * on as copies (UpstreamConn.read), and no read runs inside another (libuv calls them one at a
 * time from its poll phase; resume() only asks for more).
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024)

/** The backend-connection counters of /monitor/http_state. */
export interface BackendConnCounters {
  HTTP_BACKEND_CONN_ALL: number
  HTTP_BACKEND_CONN_SUCC: number
}

export interface H1PoolOptions {
  /** TimeoutConnSrv (ms; 0 = none). */
  connectTimeout: number
  /** MaxIdleConnsPerHost: idle connections kept (0 = a connection per request). */
  maxIdle: number
}

/** Pools with idle connections, swept for expired ones once a second. */
const sweeping = new SlotList<'sweepSlot', H1Pool>('sweepSlot')
let sweepTimer: NodeJS.Timeout | undefined

function sweepIdle(): void {
  const now = Date.now()
  // from the end: a pool left without idle connections leaves the list
  for (let i = sweeping.size - 1; i >= 0; i--) sweeping.at(i)?.sweep(now)
  if (sweeping.size === 0 && sweepTimer !== undefined) {
    clearInterval(sweepTimer)
    sweepTimer = undefined
  }
}

/**
 * One backend's connections (`addr:port`, one cluster's transport settings): an attempt takes the
 * most recently used idle connection, or dials a new one.
 */
export class H1Pool {
  readonly addr: string
  readonly port: number
  /** `Host` for requests that carry none (an HTTP/1.0 client's). */
  readonly authority: string
  private readonly opts: H1PoolOptions
  private readonly counters: BackendConnCounters | undefined
  private readonly idle: UpstreamConn[]
  /** Connections carrying a request (or connecting for one). */
  private readonly busy: SlotList<'busySlot', UpstreamConn>
  /** Position in `sweeping` (SlotList). */
  sweepSlot: number
  closed: boolean
  destroyed: boolean
  private drained: (() => void) | undefined

  constructor(addr: string, port: number, opts: H1PoolOptions, counters?: BackendConnCounters) {
    this.addr = addr
    this.port = port
    this.authority = addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`
    this.opts = opts
    this.counters = counters
    this.idle = []
    this.busy = new SlotList('busySlot')
    this.sweepSlot = -1
    this.closed = false
    this.destroyed = false
    this.drained = undefined
  }

  /** Idle connections now (for tests and the monitor). */
  get idleCount(): number {
    return this.idle.length
  }

  /** Sends `req` on an idle connection or a new one; the outcome reaches the attempt's sink. */
  dispatch(req: ForwardRequest, attempt: H1Attempt): void {
    let head: string
    try {
      head = requestHead(req, this.authority, this.opts.maxIdle === 0 || this.closed)
    } catch (err) {
      // Reported after forward() has returned the attempt to the pipeline.
      queueMicrotask(() => attempt.fail(err as Error))
      return
    }
    const now = clock.now()
    const idle = this.idle
    while (idle.length > 0) {
      const c = idle.pop() as UpstreamConn
      if (c.socket.destroyed || now >= c.idleUntil) {
        c.destroy()
        continue
      }
      if (idle.length === 0) sweeping.delete(this)
      this.busy.add(c)
      attempt.reused = true
      attempt.connectMs = 0
      c.send(attempt, head, req.body)
      return
    }
    const c = new UpstreamConn(this, this.opts.connectTimeout)
    this.busy.add(c)
    c.send(attempt, head, req.body)
  }

  /** A connection is through with its request: kept idle when it may carry another. */
  release(c: UpstreamConn, reusable: boolean, keepMs: number): void {
    this.busy.delete(c)
    if (!reusable || this.closed || keepMs <= 0 || this.idle.length >= this.opts.maxIdle) {
      c.destroy()
      this.checkDrained()
      return
    }
    c.idleUntil = clock.now() + keepMs
    this.idle.push(c)
    if (!sweeping.has(this)) {
      sweeping.add(this)
      if (sweepTimer === undefined) {
        sweepTimer = setInterval(sweepIdle, 1000)
        sweepTimer.unref()
      }
    }
  }

  /** A connection has closed (idle or busy). */
  gone(c: UpstreamConn): void {
    if (this.busy.delete(c)) {
      this.checkDrained()
      return
    }
    const i = this.idle.indexOf(c)
    if (i !== -1) this.idle.splice(i, 1)
    if (this.idle.length === 0) sweeping.delete(this)
  }

  connected(): void {
    const c = this.counters
    if (c === undefined) return
    c.HTTP_BACKEND_CONN_ALL++
    c.HTTP_BACKEND_CONN_SUCC++
  }

  connectFailed(): void {
    const c = this.counters
    if (c !== undefined) c.HTTP_BACKEND_CONN_ALL++
  }

  /** Closes expired idle connections. */
  sweep(now: number): void {
    const idle = this.idle
    for (let i = idle.length - 1; i >= 0; i--) {
      const c = idle[i] as UpstreamConn
      if (now >= c.idleUntil) {
        idle.splice(i, 1)
        c.destroy()
      }
    }
    if (idle.length === 0) sweeping.delete(this)
  }

  private checkDrained(): void {
    if (this.closed && this.busy.size === 0 && this.drained !== undefined) {
      const d = this.drained
      this.drained = undefined
      d()
    }
  }

  /** Graceful: idle connections close now, busy ones after their request. */
  close(): Promise<void> {
    this.closed = true
    for (const c of this.idle.splice(0)) c.destroy()
    sweeping.delete(this)
    if (this.busy.size === 0) return Promise.resolve()
    return new Promise((resolve) => {
      this.drained = resolve
    })
  }

  /** Every connection closes now; requests in flight fail. */
  destroy(): Promise<void> {
    this.closed = true
    this.destroyed = true
    for (const c of this.idle.splice(0)) c.destroy()
    for (const c of this.busy.toArray()) c.destroy()
    this.busy.clear()
    sweeping.delete(this)
    this.checkDrained()
    return Promise.resolve()
  }
}

/** A request-target undici would refuse too: bytes outside `!`..`\xff`. */
const BAD_PATH = /[^\u0021-\u00ff]/

function invalid(msg: string): Error {
  return Object.assign(new Error(msg), { code: 'UND_ERR_INVALID_ARG' })
}

/**
 * The request head as undici wrote it before (the wire format backends and tests know): request
 * line, `host` (the request's, else the backend's address), `connection`, the other fields as
 * given (checked, except the leading `req.checked` elements known valid: nothing a module set
 * may split the head; where they still hold `req.run`, its text), then the body's framing: the
 * client's Content-Length when it had one, else `transfer-encoding: chunked` for a body of
 * unknown length (re-framed), `content-length: 0` for a POST, PUT or PATCH without a body.
 */
function requestHead(req: ForwardRequest, authority: string, close: boolean): string {
  const path = req.path
  if (BAD_PATH.test(path)) throw invalid('invalid request path')
  let host: string | undefined
  let length: string | undefined
  let rest = ''
  const fields = req.headers
  const checked = req.checked ?? 0
  const run = req.run
  const runFirst = run === undefined ? undefined : run.fields[0]
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string
    if (name === runFirst && (run as HeaderRun).at(fields, i)) {
      // checked when the run was made
      rest += (run as HeaderRun).text
      i += (run as HeaderRun).fields.length - 2
      continue
    }
    const value = fields[i + 1] as string
    if (i + 2 > checked) {
      if (!isToken(name)) throw invalid(`invalid header name ${JSON.stringify(name)}`)
      if (!isFieldValue(value)) throw invalid(`invalid value of header ${name}`)
    }
    const n = name.length
    if (n === 4 && host === undefined && sameName(name, 'host')) host = value
    else if (n === 14 && sameName(name, 'content-length')) length = value
    else rest += `${name}: ${value}\r\n`
  }
  let h = `${req.method} ${path} HTTP/1.1\r\nhost: ${host ?? authority}\r\n${close ? 'connection: close\r\n' : 'connection: keep-alive\r\n'}${rest}`
  if (length !== undefined) h += `content-length: ${length}\r\n`
  else if (req.body !== null) h += 'transfer-encoding: chunked\r\n'
  else {
    const m = req.method
    if (m === 'POST' || m === 'PUT' || m === 'PATCH') h += 'content-length: 0\r\n'
  }
  return `${h}\r\n`
}

/** The error of a backend connection that closed before its response was complete. */
function socketClosed(msg: string): Error {
  return Object.assign(new Error(msg), { code: 'UND_ERR_SOCKET' })
}

/** A response that is not HTTP: classified as BK_READ_RESP_HEADER (errors.ts). */
function badResponse(msg: string): Error {
  return Object.assign(new Error(msg), { code: 'BFE_BAD_RESPONSE' })
}

const parserPool: NativeParser[] = []
type OwnedParser = NativeParser & { owner?: UpstreamConn | undefined }

/** One connection to a backend, its parser, and the attempt it carries (if any). */
export class UpstreamConn {
  readonly pool: H1Pool
  readonly socket: Socket
  private parser: OwnedParser | undefined
  attempt: H1Attempt | undefined
  /** Epoch ms after which an idle connection is not used again. */
  idleUntil: number
  private connected: boolean
  /** When the connection was dialled (epoch ms), for the attempt's connect time. */
  private readonly dialedAt: number
  private timer: NodeJS.Timeout | undefined
  /** What waits for the socket to connect. */
  private pendingHead: string
  private pendingBody: Readable | null
  /** Fields handed over before the head (or trailers) were complete. */
  fields: string[] | undefined
  /** The request (head and body) has been written in full. */
  requestDone: boolean
  /** The current response's `Keep-Alive: timeout=` in ms (IDLE_TIMEOUT_MS when absent). */
  keepMs: number
  /** The message being parsed is an interim 1xx response. */
  interim: boolean
  /** The connection may carry another request after this response (llhttp's reading). */
  keepAlive: boolean
  /** The response is complete; release after the parser returns. */
  complete: boolean
  /**
   * Body bytes still to come of a response framed by Content-Length, read past the parser (which
   * would copy every span through a JavaScript callback); bodyBytes hands them on as one copy per
   * read out of READ_BUFFER.
   */
  bodyLeft: number
  /** Set by scanResponse: the response's Content-Length (-1: none) and Transfer-Encoding. */
  length: number
  chunked: boolean
  /** Position in the pool's busy list (SlotList). */
  busySlot: number

  constructor(pool: H1Pool, connectTimeout: number) {
    this.pool = pool
    this.busySlot = -1
    this.attempt = undefined
    this.idleUntil = 0
    this.connected = false
    this.dialedAt = clock.now()
    this.timer = undefined
    this.pendingHead = ''
    this.pendingBody = null
    this.fields = undefined
    this.requestDone = false
    this.keepMs = IDLE_TIMEOUT_MS
    this.interim = false
    this.keepAlive = false
    this.complete = false
    this.bodyLeft = 0
    this.length = -1
    this.chunked = false
    let parser = parserPool.pop() as OwnedParser | undefined
    if (parser === undefined) {
      parser = new HTTPParser() as OwnedParser
      parser[kOnMessageBegin] = undefined
      parser[kOnHeaders] = resOnHeaders
      parser[kOnHeadersComplete] = resOnHeadersComplete
      parser[kOnBody] = resOnBody
      parser[kOnMessageComplete] = resOnMessageComplete
    }
    parser.initialize(HTTPParser.RESPONSE, PARSER_RESOURCE, MAX_RESPONSE_HEAD, LENIENT_NONE)
    parser.owner = this
    this.parser = parser
    // Reads arrive in READ_BUFFER (net's `onread`), not through the socket's Readable: no push,
    // no 'data' event, no new buffer per read. pause()/resume() stop and restart reading; 'end',
    // 'close' and 'error' are emitted as before.
    const socket = netConnect({
      host: pool.addr,
      port: pool.port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number) => {
          // the response's stamps, its writing and this connection's release share one reading
          const held = clock.holdClock()
          try {
            this.read(n === READ_BUFFER.length ? READ_BUFFER : READ_BUFFER.subarray(0, n))
          } finally {
            clock.releaseClock(held)
          }
          return true
        },
      },
    })
    this.socket = socket
    socket.on('error', (err: Error) => this.failed(err))
    socket.once('connect', () => this.onConnect())
    socket.on('end', () => this.onEnd())
    socket.once('close', () => this.onClose())
    if (connectTimeout > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        if (this.connected) return
        this.failed(
          Object.assign(new Error(`connect timeout after ${connectTimeout} ms`), {
            code: 'UND_ERR_CONNECT_TIMEOUT',
          }),
        )
      }, connectTimeout)
      this.timer.unref()
    }
  }

  /** Writes a request (once connected). */
  send(attempt: H1Attempt, head: string, body: Readable | null): void {
    this.attempt = attempt
    attempt.conn = this
    this.requestDone = false
    this.complete = false
    this.bodyLeft = 0
    this.keepMs = IDLE_TIMEOUT_MS
    // Paused by the previous response's holder (its end was delivered after the release).
    if (this.socket.isPaused()) this.socket.resume()
    if (!this.connected) {
      this.pendingHead = head
      this.pendingBody = body
      return
    }
    this.write(head, body)
  }

  private onConnect(): void {
    this.connected = true
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    this.pool.connected()
    const a = this.attempt
    if (a !== undefined) a.connectMs = Date.now() - this.dialedAt
    if (a === undefined || a.finished) {
      // Dialled for a request that has been aborted meanwhile: not kept.
      this.destroy()
      return
    }
    const head = this.pendingHead
    const body = this.pendingBody
    this.pendingHead = ''
    this.pendingBody = null
    this.write(head, body)
  }

  private write(head: string, body: Readable | null): void {
    const socket = this.socket
    beforeWrite(socket, head.length, (this.attempt as H1Attempt).holdWrites)
    if (body === null) {
      socket.write(head, 'latin1')
      this.requestDone = true
      return
    }
    socket.write(head, 'latin1')
    ;(this.attempt as H1Attempt).pumpBody(this, body, head.endsWith(CHUNKED_END))
  }

  /** The whole request body has gone out. */
  bodySent(): void {
    this.requestDone = true
    if (this.complete) this.finish()
  }

  /** One read (a view of READ_BUFFER): the head to the parser, Content-Length body bytes past it. */
  private read(chunk: Buffer): void {
    const a = this.attempt
    const parser = this.parser
    if (a === undefined || parser === undefined) {
      // Bytes on an idle connection: nothing may come before a request. Not reused.
      this.destroy()
      return
    }
    a.responseStarted = true
    if (this.bodyLeft > 0) {
      this.bodyBytes(a, chunk)
      return
    }
    const r = parser.execute(chunk)
    if (typeof r === 'number' && this.bodyLeft > 0) {
      if (r < chunk.length) this.bodyBytes(a, chunk.subarray(r))
      return
    }
    if (isParseError(r)) {
      if (this.complete && this.attempt === a) {
        // Bytes after a complete response (a 304's body ...): the response stands, the
        // connection is not reused.
        this.keepAlive = false
        this.finish()
      } else if (this.attempt === a && !a.finished) a.fail(r)
      this.destroy()
      return
    }
    if (this.complete && this.attempt === a) this.finish()
  }

  /**
   * Body bytes of a Content-Length response, handed on as one copy out of READ_BUFFER, which the
   * next read overwrites: what the sink does with a chunk is not ours to know. The HTTP/1 writer
   * copies a short one into the buffer it joins to the head (sendJoined) but hands a long one to
   * `socket.write`, which keeps it while the kernel has not taken it all; an HTTP/2 stream queues
   * it, mod_compress's zlib stream reads it later, H1Attempt keeps it in its backlog while the
   * sink holds the body. A view handed on with a new read buffer for the connection instead (no
   * copy) measured slower on 64 KiB bodies (docs/performance.md §13).
   */
  private bodyBytes(a: H1Attempt, chunk: Buffer): void {
    const left = this.bodyLeft
    const n = chunk.length <= left ? chunk.length : left
    this.bodyLeft = left - n
    if (!a.finished && this.attempt === a)
      a.data(Buffer.from(n === chunk.length ? chunk : chunk.subarray(0, n)))
    if (this.bodyLeft > 0 || this.attempt !== a) return
    this.complete = true
    // Bytes after a complete response: the response stands, the connection is not reused.
    if (n < chunk.length) this.keepAlive = false
    this.finish()
    if (n < chunk.length) this.destroy()
  }

  /** The response is complete: the attempt ends, the connection goes back or closes. */
  private finish(): void {
    const a = this.attempt
    if (a === undefined) return
    if (!this.requestDone) {
      // Answered before the body was sent in full: the connection cannot carry another request.
      a.stopBody()
      this.attempt = undefined
      this.socket.destroy()
      a.end(this.trailers())
      return
    }
    this.attempt = undefined
    a.conn = undefined
    const trailers = this.trailers()
    this.pool.release(this, this.keepAlive && !this.socket.destroyed, this.keepMs)
    a.end(trailers)
  }

  private trailers(): string[] {
    const f = this.fields
    this.fields = undefined
    return f === undefined ? EMPTY_LIST : responseHeaderStrings(f)
  }

  private onEnd(): void {
    const a = this.attempt
    const parser = this.parser
    if (a !== undefined && !a.finished && parser !== undefined) {
      // A response delimited by the close completes now; anything else was cut short.
      const r = parser.finish()
      if (this.complete && this.attempt === a) {
        this.keepAlive = false
        this.finish()
      } else if (this.attempt === a && !a.finished)
        a.fail(
          isParseError(r) && a.gotHeaders
            ? r
            : socketClosed('other side closed before the response was complete'),
        )
    }
    this.destroy()
  }

  private onClose(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    const a = this.attempt
    this.attempt = undefined
    if (a !== undefined && !a.finished) a.fail(socketClosed('socket closed'))
    this.pool.gone(this)
    this.releaseParser()
  }

  private failed(err: Error): void {
    const a = this.attempt
    if (!this.connected) this.pool.connectFailed()
    this.attempt = undefined
    if (a !== undefined && !a.finished) a.fail(err)
    this.destroy()
  }

  /** Response flow control. */
  pause(): void {
    this.socket.pause()
  }

  resume(): void {
    this.socket.resume()
  }

  destroy(): void {
    const a = this.attempt
    if (a !== undefined) a.stopBody()
    if (!this.socket.destroyed) this.socket.destroy()
  }

  private releaseParser(): void {
    const p = this.parser
    if (p === undefined) return
    this.parser = undefined
    p.owner = undefined
    if (parserPool.length < 256) {
      p.remove()
      parserPool.push(p)
    } else p.free()
  }

  // ---- parser callbacks -------------------------------------------------------------------

  headers(fields: string[], status: number, upgrade: boolean, keepAlive: boolean): number {
    const a = this.attempt
    if (a === undefined || a.finished || this.complete) return -1
    if (status < 100 || status > 599) {
      a.fail(badResponse(`invalid status code ${status} from the backend`))
      return -1
    }
    if (status < 200) {
      if (status === 101 || upgrade) {
        a.fail(badResponse('unexpected protocol switch from the backend'))
        return -1
      }
      // An interim response (100, 102, 103): skipped, the final one follows.
      this.interim = true
      return 0
    }
    this.interim = false
    this.keepAlive = keepAlive
    this.length = -1
    this.chunked = false
    const out = scanResponse(fields, this)
    if (a.headers(status, out)) return 1 // HEAD: no body
    if (this.length > 0 && !this.chunked && status !== 204 && status !== 304) {
      // The parser stops after the head (2: as for an upgrade); read() takes the body.
      this.bodyLeft = this.length
      return 2
    }
    return 0
  }

  body(chunk: Buffer): void {
    const a = this.attempt
    if (a !== undefined && !a.finished && !this.complete) a.data(chunk)
  }

  messageComplete(): void {
    if (this.complete || this.bodyLeft > 0) return
    if (this.interim) {
      this.interim = false
      this.fields = undefined
      return
    }
    this.complete = true
  }
}

const EMPTY_LIST: string[] = []
const CHUNKED_END = 'transfer-encoding: chunked\r\n\r\n'

/**
 * The response fields without hop-by-hop ones (hop-headers.ts), and the backend's
 * `Keep-Alive: timeout=N` hint recorded on `c`.
 */
function scanResponse(fields: string[], c: UpstreamConn): string[] {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string
    const n = name.length
    if (n === 14 && sameName(name, 'content-length')) c.length = Number(fields[i + 1])
    else if (n === 17 && sameName(name, 'transfer-encoding')) c.chunked = true
    if (
      name.length === 10 &&
      (name.charCodeAt(0) | 0x20) === 0x6b &&
      name.toLowerCase() === 'keep-alive'
    ) {
      const m = /timeout\s*=\s*(\d+)/i.exec(fields[i + 1] as string)
      if (m !== null)
        c.keepMs = Math.min(IDLE_TIMEOUT_MS, Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS)
    }
  }
  return responseHeaderStrings(fields)
}

function resOnHeaders(this: OwnedParser, fields: string[]): void {
  const c = this.owner
  if (c === undefined) return
  if (c.fields === undefined) c.fields = fields
  else for (const f of fields) c.fields.push(f)
}

function resOnHeadersComplete(
  this: OwnedParser,
  _major: number,
  _minor: number,
  fields: string[] | undefined,
  _method: number,
  _url: string | undefined,
  status: number,
  _statusText: string,
  upgrade: boolean,
  keepAlive: boolean,
): number {
  const c = this.owner
  if (c === undefined) return -1
  const r = c.headers(completeFields(c, fields), status, upgrade, keepAlive)
  // 2: the body is read past the parser, and llhttp's message-complete call that follows would
  // find messageComplete() with nothing to do. The binding skips a slot holding no function:
  // one call from C++ into JavaScript less per such response.
  this[kOnMessageComplete] = r === 2 ? undefined : resOnMessageComplete
  return r
}

function resOnBody(this: OwnedParser, chunk: Buffer): void {
  this.owner?.body(chunk)
}

function resOnMessageComplete(this: OwnedParser): void {
  this.owner?.messageComplete()
}

/** One attempt to send a request on an H1Pool; reports to its sink like undici's attempts. */
export class H1Attempt extends ForwardAttempt {
  conn: UpstreamConn | undefined
  /** The response has no body to read (a HEAD request). */
  private readonly headRequest: boolean
  private body: Readable | null
  private chunked: boolean
  private onBodyData: ((chunk: Buffer) => void) | undefined
  private onBodyEnd: (() => void) | undefined
  private onBodyError: ((err: Error) => void) | undefined
  private onDrain: (() => void) | undefined
  /** The request's writes may wait for the end of the loop turn (ForwardRequest.holdWrites). */
  holdWrites: boolean
  /** The sink asked to hold the response: what the parser still delivers waits here. */
  private held: boolean
  private backlog: Buffer[] | undefined
  /** The response ended while held: its trailers, delivered once the backlog is through. */
  private pendingEnd: string[] | undefined

  constructor(sink: ForwardSink, method: string, holdWrites = false) {
    super(sink)
    this.holdWrites = holdWrites
    this.held = false
    this.backlog = undefined
    this.pendingEnd = undefined
    this.conn = undefined
    this.headRequest = method === 'HEAD'
    this.body = null
    this.chunked = false
    this.onBodyData = undefined
    this.onBodyEnd = undefined
    this.onBodyError = undefined
    this.onDrain = undefined
  }

  override abort(err: Error): void {
    if (this.finished) return
    const c = this.conn
    this.fail(err)
    // The connection is in an unknown state (request or response half done): not reused.
    c?.destroy()
  }

  override pause(): void {
    this.conn?.pause()
  }

  override resume(): void {
    if (!this.held || this.finished) return
    this.held = false
    const backlog = this.backlog
    if (backlog !== undefined) {
      while (backlog.length > 0) {
        const chunk = backlog.shift() as Buffer
        if (!this.sink.upstreamData(this, chunk)) {
          this.held = true
          if (this.finished) return
          break
        }
        if (this.finished) return
      }
      if (backlog.length === 0) this.backlog = undefined
    }
    if (this.held) return
    const trailers = this.pendingEnd
    if (trailers !== undefined) {
      this.pendingEnd = undefined
      this.end(trailers)
      return
    }
    this.conn?.resume()
  }

  /** Stops the response here until `resume()` (the parser may still deliver: kept in order). */
  private hold(): void {
    this.held = true
    this.conn?.pause()
  }

  /** Ends the attempt with an error (once). */
  fail(err: Error): void {
    if (this.finished) return
    this.finished = true
    this.stopBody()
    const c = this.conn
    this.conn = undefined
    if (c !== undefined && c.attempt === this) c.attempt = undefined
    this.sink.upstreamError(this, err, this.gotHeaders)
  }

  /** The final response head: false from the sink holds the body. Returns "skip the body". */
  headers(status: number, fields: string[]): boolean {
    this.gotHeaders = true
    this.status = status
    // llhttp read every field (strictly: names are tokens, values without control bytes) and
    // responseHeaderStrings only left some out
    if (!this.sink.upstreamHeaders(this, status, fields, fields.length)) this.hold()
    return this.headRequest
  }

  data(chunk: Buffer): void {
    if (this.held) {
      if (this.backlog === undefined) this.backlog = [chunk]
      else this.backlog.push(chunk)
      return
    }
    if (!this.sink.upstreamData(this, chunk)) this.hold()
  }

  end(trailers: string[]): void {
    if (this.finished) return
    if (this.held) {
      this.pendingEnd = trailers
      this.conn = undefined
      return
    }
    this.finished = true
    this.conn = undefined
    this.sink.upstreamEnd(this, trailers)
  }

  /** Streams the client's body to the backend, with backpressure both ways. */
  pumpBody(c: UpstreamConn, body: Readable, chunked: boolean): void {
    this.body = body
    this.chunked = chunked
    const socket = c.socket
    this.onBodyData = (chunk: Buffer) => {
      if (chunk.length === 0) return
      beforeWrite(socket, chunk.length, this.holdWrites)
      // All three parts of a chunk are written whatever the first two return: false only asks
      // the source to pause, and a chunk cut after its size line would corrupt the body.
      let ok: boolean
      if (chunked) {
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1')
        socket.write(chunk)
        ok = socket.write('\r\n', 'latin1')
      } else ok = socket.write(chunk)
      if (!ok) body.pause()
    }
    this.onBodyEnd = () => {
      this.detachBody()
      if (this.chunked) {
        beforeWrite(socket, 5, this.holdWrites)
        socket.write('0\r\n\r\n', 'latin1')
      }
      c.bodySent()
    }
    this.onBodyError = (err: Error) => {
      this.fail(Object.assign(new Error(`request body: ${err.message}`), { cause: err }))
      c.destroy()
    }
    this.onDrain = () => body.resume()
    socket.on('drain', this.onDrain)
    body.on('data', this.onBodyData)
    body.once('end', this.onBodyEnd)
    body.once('error', this.onBodyError)
    if (body.readableEnded) this.onBodyEnd()
    else body.resume()
  }

  /** No more of the client's body is read for this attempt (it stays readable for the pipeline). */
  stopBody(): void {
    const body = this.body
    if (body === null) return
    this.detachBody()
    if (!body.readableEnded && !body.destroyed) body.pause()
  }

  private detachBody(): void {
    const body = this.body
    if (body === null) return
    this.body = null
    if (this.onBodyData !== undefined) body.off('data', this.onBodyData)
    if (this.onBodyEnd !== undefined) body.off('end', this.onBodyEnd)
    if (this.onBodyError !== undefined) body.off('error', this.onBodyError)
    const c = this.conn
    if (this.onDrain !== undefined && c !== undefined) c.socket.off('drain', this.onDrain)
  }
}
