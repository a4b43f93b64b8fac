import type { Socket } from 'node:net'
import { PassThrough, pipeline as pipeStreams, Readable, type Writable } from 'node:stream'
import type { Backend } from '../../balance/backend.js'
import type { ClusterBalancer } from '../../balance/cluster-balancer.js'
import { onBackendFailure, onBackendSuccess } from '../../balance/health.js'
import { ErrCode } from '../../basic/error-code.js'
import { HeaderList } from '../../basic/header-list.js'
import type { BfeRequest } from '../../basic/request.js'
import { BfeResponse, internalResponse } from '../../basic/response.js'
import type { ClusterConf } from '../../config/cluster-conf-types.js'
import { HandlerResult } from '../../module/callback-point.js'
import { runRequestFilters, runResponseFilters } from '../../module/handler-list.js'
import type { HandlerTable } from '../../module/registry.js'
import {
  type AttemptFailure,
  classifyUpstreamError,
  closesConnection,
  statusForError,
} from '../../proxy/errors.js'
import { ForwardAttempt, forward, originForm, type UpstreamAttempt } from '../../proxy/forward.js'
import { backendRequestHeaders } from '../../proxy/hop-headers.js'
import { MAX_ATTEMPTS, retryAllowed } from '../../proxy/retry.js'
import { openTunnel, type SwitchResponse, type TunnelSink } from '../../proxy/tunnel.js'
import { TRACE_RESPONSE_HEADER } from '../../tools/trace.js'
import * as clock from '../../util/clock.js'
import type { ProxyCounters, Runtime, ServerContext } from '../runtime.js'
import { setTrustedClientAddr } from './client-ip.js'
import { redirectBody, redirectLocation } from './redirect.js'
import { noBodyStatus, type ResponseWriter } from './writer.js'

/** Marks a response whose body is still arriving from the backend (streamed by the pipeline). */
export const UPSTREAM_BODY = Object.freeze(Object.create(null)) as NonNullable<BfeResponse['body']>

/** A WebSocket handshake ending with one of these found no backend to talk to (ERR_PROXY). */
const NO_BACKEND_CODES: ReadonlySet<string> = new Set([
  ErrCode.ConnectBackend,
  ErrCode.NoSubCluster,
  ErrCode.NoSubClusterCross,
  ErrCode.GslbBlackhole,
  ErrCode.NoBackend,
  ErrCode.RetryTooMany,
])

/** Stages after a request callback point, so results are handled without per-request closures. */
const Stage = { BeforeLocation: 0, FoundProduct: 1, AfterLocation: 2 } as const
type Stage = (typeof Stage)[keyof typeof Stage]

/**
 * Drives one request through BFE's pipeline (lifecycle.md §5), whatever protocol it came on:
 * the request callback points, product and cluster lookup, the forwarding loop with retries,
 * HandleReadResponse, the answer through the engine's ResponseWriter, and HandleRequestFinish.
 * It never touches a socket: bytes go through `ResponseWriter` to the client and through
 * `proxy/forward.ts` to backends.
 *
 * Everything stays synchronous until a filter returns a Promise.
 */
export class RequestPipeline implements TunnelSink {
  readonly req: BfeRequest
  readonly writer: ResponseWriter
  readonly ctx: ServerContext
  readonly rt: Runtime
  readonly handlers: HandlerTable
  cc: ClusterConf | undefined
  /** Close the client connection after this response. */
  closeAfter: boolean
  /** Status recorded for logs when no response is written by us (Finish). */
  internalStatus: number
  done: boolean
  /**
   * The request is a WebSocket handshake (set by the HTTP/1 engine before `start`): it runs the
   * request points like any request (D20), then goes to the backend on a connection of its own
   * (proxy/tunnel.ts), which the client connection is joined to after a 101.
   */
  upgrade: boolean

  // forwarding state
  private retry: number
  private attempts: number
  private backend: Backend | undefined
  private balancer: ClusterBalancer | undefined
  private outHeaders: string[] | undefined
  /** How many leading elements of outHeaders are known valid field syntax (hop-headers.ts). */
  private outChecked: number
  /** The client request has a body (Content-Length > 0, Transfer-Encoding, or HTTP/2 DATA). */
  private readonly hasBody: boolean
  private attempt: UpstreamAttempt | undefined
  /** The backend response is being thrown away (redirect or replacement at HandleReadResponse). */
  private discardBody: boolean
  /** Async ReadResponse filters are running: the backend body waits. */
  private holdBody: boolean
  /** `attempt.resume()` as a listener, made the first time the client is slower than the backend. */
  private resumeUpstream: (() => void) | undefined
  /** The per-protocol proxy_state names this request is counted under (set by start()). */
  private reqActive: ReqCounterName | undefined
  /** A backend answered: proxy_delay has its sample. */
  private delayRecorded: boolean
  /** Some attempt went to another sub-cluster than the GSLB choice. */
  private crossRetried: boolean
  /** Where backend body chunks go when modules transform the response body. */
  private transformIn: Writable | undefined
  /** Trace on demand: the response carries the decision path (tools/trace.ts). */
  private traced: boolean

  constructor(req: BfeRequest, writer: ResponseWriter, ctx: ServerContext) {
    this.req = req
    this.writer = writer
    this.ctx = ctx
    this.rt = ctx.runtime
    this.handlers = ctx.handlers
    this.cc = undefined
    this.closeAfter = false
    this.internalStatus = 0
    this.done = false
    this.upgrade = false
    this.retry = 0
    this.attempts = 0
    this.backend = undefined
    this.balancer = undefined
    this.outHeaders = undefined
    this.outChecked = 0
    this.hasBody = req.body !== undefined
    this.attempt = undefined
    this.discardBody = false
    this.holdBody = false
    this.resumeUpstream = undefined
    this.reqActive = undefined
    this.delayRecorded = false
    this.crossRetried = false
    this.transformIn = undefined
    this.traced = false
  }

  /** Runs the pipeline from HandleBeforeLocation. */
  start(): void {
    const c = this.ctx.counters
    const proto = this.req.session.protocol
    const key =
      proto === 'h2' ? 'HTTP2' : proto === 'https' ? 'HTTPS' : proto === 'http' ? 'HTTP' : undefined
    c.CLIENT_REQ_ACTIVE++
    if (key !== undefined) {
      this.reqActive = key
      c[REQ_ACTIVE[key]]++
    }
    if (this.req.isSse) c.SSE_REQ_ACTIVE++
    if (this.req.session.isTrustIp) setTrustedClientAddr(this.req)
    const trace = this.ctx.trace
    if (trace !== undefined) this.traced = trace.accept(this.req)
    this.runRequestPoint(this.handlers.beforeLocation, Stage.BeforeLocation)
  }

  // ---- request callback points -------------------------------------------------------------

  private runRequestPoint(list: HandlerTable['beforeLocation'], stage: Stage): void {
    if (list.length === 0) {
      this.afterRequestPoint(HandlerResult.GoOn, stage)
      return
    }
    let r: HandlerResult | Promise<HandlerResult>
    try {
      r = runRequestFilters(list, this.req)
    } catch (err) {
      this.fail(err)
      return
    }
    if (typeof r === 'number') this.afterRequestPoint(r, stage)
    else
      r.then(
        (v) => this.afterRequestPoint(v, stage),
        (err: unknown) => this.fail(err),
      )
  }

  private afterRequestPoint(r: HandlerResult, stage: Stage): void {
    if (this.done) return
    try {
      switch (r) {
        case HandlerResult.GoOn:
          if (stage === Stage.BeforeLocation) this.findProduct()
          else if (stage === Stage.FoundProduct) this.findCluster()
          else this.forward()
          return
        case HandlerResult.Finish:
          this.finishAtRequestPoint()
          return
        case HandlerResult.Redirect:
          this.sendRedirect()
          return
        case HandlerResult.Response:
          this.responseStage(this.req.httpResponse ?? internalResponse(500))
          return
        case HandlerResult.Close:
          this.closeWithoutResponse()
          return
        default:
          this.fail(new Error(`filter returned unknown code ${String(r)}`))
      }
    } catch (err) {
      this.fail(err)
    }
  }

  private findProduct(): void {
    const req = this.req
    if (!this.rt.findProduct(req)) {
      this.ctx.counters.ERR_BK_FIND_PRODUCT++
      this.errorResponse(ErrCode.FindProduct, 'no product found for this request')
      return
    }
    req.stat.findProEnd = clock.now()
    this.runRequestPoint(this.handlers.foundProduct, Stage.FoundProduct)
  }

  private findCluster(): void {
    const req = this.req
    const name = this.rt.findCluster(req)
    if (name === undefined) {
      this.ctx.counters.ERR_BK_FIND_LOCATION++
      this.errorResponse(
        ErrCode.FindLocation,
        req.errMsg === '' ? 'no rule match for this req' : req.errMsg,
      )
      return
    }
    const cc = this.rt.clusterConf(name)
    if (cc === undefined) {
      this.ctx.counters.ERR_BK_NO_CLUSTER++
      this.errorResponse(ErrCode.NoCluster, `cluster ${name} not in cluster_conf`)
      return
    }
    this.cc = cc
    req.clusterName = name
    req.backend.clusterName = name
    const log = this.ctx.log
    if (log.isLevelEnabled('debug'))
      log.debug(
        { host: req.host, uri: req.rawUri, product: req.product, cluster: name },
        'route: request matched product and cluster',
      )
    req.stat.locateEnd = clock.now()
    const basic = cc.ClusterBasic
    this.writer.idleTimeout(basic.TimeoutReadClientAgain)
    if (this.hasBody && !req.isSse && basic.TimeoutReadClient > 0)
      this.writer.bodyDeadline(basic.TimeoutReadClient)
    this.runRequestPoint(this.handlers.afterLocation, Stage.AfterLocation)
  }

  // ---- forwarding ---------------------------------------------------------------------------

  private forward(): void {
    // Answered meanwhile (a body timeout while request filters ran).
    if (this.writer.headersSent) return
    const cc = this.cc
    if (cc === undefined) {
      this.errorResponse(ErrCode.NoCluster, 'no cluster')
      return
    }
    const bal = this.rt.balancer(cc.name)
    if (bal === undefined) {
      this.ctx.counters.ERR_BK_NO_BALANCE++
      this.errorResponse(ErrCode.NoCluster, `no balancer for cluster ${cc.name}`)
      return
    }
    this.balancer = bal
    if (cc.BackendConf.Protocol === 'fcgi') {
      this.errorResponse(ErrCode.NoBackend, 'FastCGI backends are not supported by bfe-ts')
      return
    }
    if (this.req.session.useExpect100 && this.hasBody) this.writer.writeContinue()
    this.nextAttempt(undefined)
  }

  /** Picks a backend and dispatches, or ends the request with the last failure. */
  private nextAttempt(last: AttemptFailure | undefined): void {
    const req = this.req
    const cc = this.cc as ClusterConf
    while (this.attempts < MAX_ATTEMPTS) {
      this.attempts++
      const pick = (this.balancer as ClusterBalancer).balance(req, this.retry, req.stickyBackend)
      if (!pick.ok) {
        if (pick.code === 'CROSS_RETRY_BALANCE') {
          this.retry++
          continue
        }
        if (pick.code === ErrCode.RetryTooMany && last !== undefined) {
          this.errorResponse(last.code, last.msg)
          return
        }
        if (this.upgrade) this.ctx.stateCounters.websocket.WEB_SOCKET_ERR_BALANCE++
        this.errorResponse(pick.code as ErrCode, pick.msg)
        return
      }
      const b = pick.backend
      this.backend = b
      if (pick.crossRetried) this.crossRetried = true
      req.backend.subclusterName = b.subCluster
      req.backend.backendName = b.name
      req.backend.backendAddr = b.addr
      req.backend.backendPort = b.port
      const now = Date.now()
      if (req.stat.backendFirst === 0) req.stat.backendFirst = now
      req.stat.backendStart = now
      req.retryTime = this.retry
      const fwd = this.handlers.forward
      if (fwd.length > 0) {
        const r = runRequestFilters(fwd, req)
        if (typeof r !== 'number') {
          r.then(
            (v) => this.afterForwardFilters(v),
            (err: unknown) => this.fail(err),
          )
          return
        }
        if (r === HandlerResult.Finish) {
          this.forwardAborted()
          return
        }
      }
      if (this.dispatch(cc, now)) return
      // The connection cap was reached: a connect failure, always retryable.
      last = CONN_CAP_REACHED
      onBackendFailure(b, ErrCode.ConnectBackend)
      this.retry++
    }
    this.errorResponse(last?.code ?? ErrCode.RetryTooMany, last?.msg ?? 'too many attempts')
  }

  private afterForwardFilters(v: HandlerResult): void {
    if (this.done) return
    try {
      if (v === HandlerResult.Finish) {
        this.forwardAborted()
        return
      }
      if (!this.dispatch(this.cc as ClusterConf, clock.now())) {
        this.retry++
        this.nextAttempt(CONN_CAP_REACHED)
      }
    } catch (err) {
      this.fail(err)
    }
  }

  /** HandleForward returned Finish: the internal 500 goes through HandleReadResponse, then close. */
  private forwardAborted(): void {
    this.closeAfter = true
    this.req.errCode = ErrCode.Internal
    this.req.errMsg = 'forwarding aborted by HandleForward'
    this.responseStage(internalResponse(500))
  }

  /** Sends the request to the chosen backend. False when the backend is at its connection cap. */
  private dispatch(cc: ClusterConf, now: number): boolean {
    const b = this.backend as Backend
    const max = cc.BackendConf.MaxConnsPerHost
    if (max > 0 && b.activeRequests >= max) return false
    b.activeRequests++
    this.ctx.stateCounters.http.HTTP_BACKEND_REQ_ALL++
    const req = this.req
    // The headers for the backend: made once for all attempts, unless the backend's address is
    // the Host or HandleForward filters (which may change them per attempt) ran.
    if (cc.ClusterBasic.DisableHostHeader) this.backendHeaders(`${b.addr}:${b.port}`)
    else if (this.outHeaders === undefined || this.handlers.forward.length > 0)
      this.backendHeaders(undefined)
    const headers = this.outHeaders as string[]
    const t = cc.BackendConf.TimeoutResponseHeader
    if (t > 0) this.writer.headerDeadline(now + t)
    if (this.upgrade) {
      this.attempt = openTunnel(
        b,
        cc,
        { method: req.method, path: originForm(req.uri), headers },
        this,
        this.ctx.stateCounters.websocket,
      )
      return true
    }
    this.attempt = forward(
      this.ctx.pools,
      b,
      cc,
      {
        method: req.method,
        path: originForm(req.uri),
        headers,
        checked: this.outChecked,
        run: req.headers.run,
        body: this.hasBody ? (req.body ?? null) : null,
        holdWrites: this.writer.persistent,
      },
      this,
    )
    return true
  }

  /**
   * Sets outHeaders to the request headers for a backend, hop-by-hop ones removed (the upgrade
   * pair kept for a handshake), and outChecked to how many of them need no field check.
   */
  private backendHeaders(host: string | undefined): void {
    const h = this.req.headers
    const out: string[] = []
    this.outChecked = backendRequestHeaders(h.raw, h.checked, host, this.upgrade, out)
    this.outHeaders = out
  }

  /** The backend did not send a response header in time (the writer's deadline calls this). */
  headerTimeout(): void {
    const a = this.attempt
    if (a === undefined || a.gotHeaders || this.done) return
    a.abort(
      Object.assign(new Error('timeout waiting for the response header'), {
        code: 'UND_ERR_HEADERS_TIMEOUT',
      }),
    )
  }

  private stopHeaderDeadline(): void {
    this.writer.headerDeadline(0)
  }

  // ForwardSink: what the current attempt reports

  upstreamHeaders(
    attempt: UpstreamAttempt,
    statusCode: number,
    headers: string[],
    checked = 0,
  ): boolean {
    if (attempt !== this.attempt) return true
    this.stopHeaderDeadline()
    const req = this.req
    const now = clock.now()
    req.stat.backendEnd = now
    req.errCode = undefined
    req.errMsg = ''
    this.ctx.stateCounters.http.HTTP_BACKEND_REQ_SUCC++
    if (!this.delayRecorded) {
      // Request header read → first backend attempt (spec/monitor.md §2.4).
      this.delayRecorded = true
      const d = this.ctx.delays
      const us = (req.stat.backendFirst - req.stat.readEnd) * 1000
      if (this.hasBody) d.proxyPost.add(us, now)
      else d.proxy.add(us, now)
    }
    onBackendSuccess(this.backend as Backend, statusCode)
    if (attempt instanceof ForwardAttempt) req.stat.backendConnectMs = attempt.connectMs
    const res = new BfeResponse(statusCode, new HeaderList(headers, checked), UPSTREAM_BODY, false)
    this.responseStage(res, now)
    return !this.holdBody
  }

  upstreamData(attempt: UpstreamAttempt, chunk: Buffer): boolean {
    if (this.discardBody || this.done || attempt !== this.attempt) return true
    const t = this.transformIn
    if (t !== undefined) {
      if (t.write(chunk)) return true
      if (this.resumeUpstream === undefined) this.resumeUpstream = () => this.attempt?.resume()
      t.once('drain', this.resumeUpstream)
      return false
    }
    const w = this.writer
    if (w.write(chunk)) return true
    if (this.resumeUpstream === undefined) this.resumeUpstream = () => this.attempt?.resume()
    w.onceDrain(this.resumeUpstream)
    return false
  }

  upstreamEnd(attempt: UpstreamAttempt, trailers: string[]): void {
    if (attempt !== this.attempt) return
    this.releaseBackend()
    if (this.discardBody || this.done) return
    if (this.transformIn !== undefined) this.transformIn.end()
    else this.writer.end(trailers)
  }

  upstreamError(attempt: UpstreamAttempt, err: Error, gotHeaders: boolean): void {
    if (attempt !== this.attempt) return
    this.stopHeaderDeadline()
    this.releaseBackend()
    if (this.done || this.discardBody) return
    if (gotHeaders) {
      // The backend broke while streaming the body: the client sees a truncated response.
      this.req.errCode = ErrCode.TransportBroken
      this.req.errMsg = err.message
      this.ctx.counters.ERR_BK_TRANSPORT_BROKEN++
      this.closeAfter = true
      this.transformIn?.destroy(err)
      this.writer.abort()
      return
    }
    const body = this.req.body
    const clientBodyFailed =
      this.hasBody && body !== undefined && (body.errored !== null || body.destroyed)
    const failure = classifyUpstreamError(err, clientBodyFailed)
    if (failure.backendFault) onBackendFailure(this.backend as Backend, failure.code)
    this.req.errCode = failure.code
    this.req.errMsg = failure.msg
    const counters = this.ctx.counters
    counters.ERR_BK_REQUEST_BACKEND++
    counters[BACKEND_ERR[failure.code] ?? 'ERR_BK_TRANSPORT_BROKEN']++
    const allowed = retryAllowed(failure, {
      // A handshake is tried again only when the backend could not be reached (RetryLevel 0).
      retryLevel: this.upgrade ? 0 : (this.cc as ClusterConf).BackendConf.RetryLevel,
      method: this.req.method,
      hasBody: this.hasBody,
      bodyStarted: body?.readableDidRead === true,
      reusedNoResponse:
        attempt instanceof ForwardAttempt && attempt.reused && !attempt.responseStarted,
    })
    if (!allowed) {
      this.ctx.counters.CLIENT_REQ_FAIL_WITH_NO_RETRY++
      this.errorResponse(failure.code, failure.msg)
      return
    }
    this.retry++
    try {
      this.nextAttempt(failure)
    } catch (e) {
      this.fail(e)
    }
  }

  /**
   * The backend accepted the WebSocket handshake: its 101 goes to the client and the writer joins
   * the two connections. HandleReadResponse does not run (D20 lists the request points only);
   * HandleRequestFinish runs when the tunnel has closed. The backend counts as busy until then.
   */
  upstreamUpgrade(
    attempt: UpstreamAttempt,
    res: SwitchResponse,
    socket: Socket,
    head: Buffer,
  ): void {
    if (attempt !== this.attempt || this.done) {
      socket.destroy()
      return
    }
    this.stopHeaderDeadline()
    const req = this.req
    const now = clock.now()
    req.stat.backendEnd = now
    req.stat.responseStart = now
    req.errCode = undefined
    req.errMsg = ''
    onBackendSuccess(this.backend as Backend, 101)
    req.httpResponse = new BfeResponse(101, new HeaderList(res.headers), undefined, false)
    const w = this.writer
    if (w.switchProtocols === undefined) {
      socket.destroy()
      this.releaseBackend()
      this.fail(new Error('a WebSocket 101 on a connection that cannot switch protocols'))
      return
    }
    w.switchProtocols(res, socket, head, () => {
      this.releaseBackend()
      this.finished()
    })
  }

  private releaseBackend(): void {
    const b = this.backend
    if (b !== undefined && b.activeRequests > 0) b.activeRequests--
  }

  // ---- responses ----------------------------------------------------------------------------

  /** An internal error response (status per D8), through HandleReadResponse. */
  private errorResponse(code: ErrCode, msg: string): void {
    const req = this.req
    if (this.upgrade && NO_BACKEND_CODES.has(code))
      this.ctx.stateCounters.websocket.WEB_SOCKET_ERR_PROXY++
    req.errCode = code
    req.errMsg = msg
    if (closesConnection(code)) this.closeAfter = true
    this.responseStage(internalResponse(statusForError(code, this.ctx.compatErrorStatus)))
  }

  /** Step 11: HandleReadResponse, then send. */
  private responseStage(res: BfeResponse, at = clock.now()): void {
    if (this.done) return
    const req = this.req
    req.httpResponse = res
    req.stat.responseStart = at
    const cc = this.cc
    if (!req.isSse && cc !== undefined && cc.ClusterBasic.TimeoutWriteClient > 0)
      this.writer.writeDeadline(at + cc.ClusterBasic.TimeoutWriteClient)
    const list = this.handlers.readResponse
    let r: HandlerResult | Promise<HandlerResult>
    try {
      if (list.length === 0) {
        this.send(res)
        return
      }
      r = runResponseFilters(list, req, res)
      if (typeof r === 'number') {
        // The head writer throws on a field a module set that would split the head: a 500,
        // as for a filter that throws (before, the exception went up into the backend parser's
        // callback and the client waited for a timeout).
        this.afterReadResponse(r, res)
        return
      }
    } catch (err) {
      this.fail(err)
      return
    }
    this.holdBody = true
    r.then(
      (v) => {
        try {
          this.afterReadResponse(v, res)
        } catch (err) {
          this.fail(err)
        }
        if (this.holdBody) {
          this.holdBody = false
          this.attempt?.resume()
        }
      },
      (err: unknown) => this.fail(err),
    )
  }

  /** `res` is the response HandleReadResponse was given; a filter may have replaced it. */
  private afterReadResponse(r: HandlerResult, res: BfeResponse): void {
    if (this.done) return
    if (r === HandlerResult.Finish) {
      this.closeAfter = true
      this.internalStatus = 500
    } else if (r === HandlerResult.Redirect) {
      if (res.body === UPSTREAM_BODY) this.dropUpstream()
      this.sendRedirect()
      return
    }
    const final = this.req.httpResponse ?? res
    // A module replaced the backend response: stop reading the backend's body.
    if (res.body === UPSTREAM_BODY && final.body !== UPSTREAM_BODY) this.dropUpstream()
    this.send(final)
  }

  /** Stops reading a backend response that will not be sent. */
  private dropUpstream(): void {
    this.discardBody = true
    this.attempt?.abort(new Error('response replaced'))
  }

  /** Writes status, headers and body to the client (step 12). */
  private send(res: BfeResponse): void {
    const w = this.writer
    if (w.headersSent || this.done) return
    if (this.closeAfter || this.ctx.shuttingDown) w.closeAfter()
    if (this.traced && this.ctx.trace !== undefined)
      res.headers.set(TRACE_RESPONSE_HEADER, this.ctx.trace.describe(this.rt.serverData, this.req))
    const body = res.body
    const raw = res.headers.raw
    if (res.internal && !res.headers.has('content-type'))
      raw.push('Content-Type', 'text/plain; charset=utf-8')
    if (
      res.transforms !== undefined &&
      body !== undefined &&
      this.req.method !== 'HEAD' &&
      !noBodyStatus(res.statusCode)
    ) {
      this.sendTransformed(res, body)
      return
    }
    if (body === UPSTREAM_BODY) {
      w.head(res.statusCode, raw, res.headers.checked)
      return
    }
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      w.respond(res.statusCode, raw, body)
      return
    }
    w.respondStream(res.statusCode, raw, body)
  }

  /**
   * A body that modules transform (module/body.ts): streamed through the transforms, without
   * Content-Length. A backend body is written into the chain as it arrives (with backpressure).
   */
  private sendTransformed(res: BfeResponse, body: NonNullable<BfeResponse['body']>): void {
    res.headers.delete('content-length')
    let src: Readable
    if (body === UPSTREAM_BODY) {
      const p = new PassThrough()
      this.transformIn = p
      src = p
    } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
      src = Readable.from([typeof body === 'string' ? Buffer.from(body) : body], {
        objectMode: false,
      })
    } else src = body
    const streams = [src, ...(res.transforms ?? []).map((make) => make())]
    const out = pipeStreams(streams, (err) => {
      if (err !== null && err !== undefined && !this.done) {
        this.req.errCode ??= ErrCode.Internal
        if (this.req.errMsg === '') this.req.errMsg = `response body transform: ${err.message}`
        this.closeAfter = true
      }
    }) as unknown as Readable
    this.writer.respondStream(res.statusCode, res.headers.raw, out)
  }

  /** Writes a redirect from `req.redirect` (§4.4); HandleReadResponse is not run. */
  private sendRedirect(): void {
    const req = this.req
    const rd = req.redirect
    if (rd === undefined) {
      this.fail(new Error('filter returned Redirect without req.redirect'))
      return
    }
    const location = redirectLocation(rd.url, req.path)
    const res = new BfeResponse(rd.code, rd.headers?.clone() ?? new HeaderList(), undefined, true)
    res.headers.set('Location', location)
    res.headers.set('Server', 'bfe')
    if (req.method === 'GET') {
      res.headers.set('Content-Type', 'text/html; charset=utf-8')
      res.body = redirectBody(location, rd.code)
    }
    this.internalStatus = rd.code
    req.httpResponse = res
    this.send(res)
  }

  /** A request point returned Finish: its response if it made one (no HandleReadResponse), else D7's 403. */
  private finishAtRequestPoint(): void {
    this.closeAfter = true
    this.internalStatus = 500
    const res = this.req.httpResponse ?? internalResponse(403)
    this.req.httpResponse = res
    this.send(res)
  }

  /** A request point returned Close: drop the connection, then HandleRequestFinish. */
  private closeWithoutResponse(): void {
    this.closeAfter = true
    this.writer.drop()
    this.finished()
  }

  /** The response has been written (or the client is gone): step 13. */
  finished(): void {
    if (this.done) return
    this.done = true
    this.stopHeaderDeadline()
    const req = this.req
    req.stat.responseEnd = Date.now()
    req.session.reqNumActive--
    const list = this.handlers.requestFinish
    let close = this.closeAfter
    if (list.length > 0) {
      let r: HandlerResult | Promise<HandlerResult>
      try {
        r = runResponseFilters(list, req, req.httpResponse)
      } catch (err) {
        this.ctx.onUnexpected(err, req)
        r = HandlerResult.GoOn
      }
      if (typeof r === 'number') {
        if (r === HandlerResult.Finish) close = true
      } else {
        r.then(
          (v) => {
            if (v === HandlerResult.Finish) this.writer.done(true)
          },
          (err: unknown) => this.ctx.onUnexpected(err, req),
        )
      }
    }
    const c = this.ctx.counters
    c.CLIENT_REQ_SERVED++
    c.CLIENT_REQ_ACTIVE--
    const key = this.reqActive
    if (key !== undefined) {
      c[REQ_SERVED[key]]++
      c[REQ_ACTIVE[key]]--
    }
    if (req.isSse) {
      c.SSE_REQ_SERVED++
      c.SSE_REQ_ACTIVE--
    }
    if (req.errCode !== undefined) c.CLIENT_REQ_FAIL++
    if (this.retry > 0) c.CLIENT_REQ_WITH_RETRY++
    if (this.crossRetried) c.CLIENT_REQ_WITH_CROSS_RETRY++
    if (req.errCode !== undefined) this.logFailure()
    this.writer.done(close)
  }

  /** One line per failed request, with its error code (BFE logs its round-trip errors). */
  private logFailure(): void {
    const req = this.req
    const b = req.backend
    this.ctx.log.warn(
      {
        errCode: req.errCode,
        status: req.httpResponse?.statusCode ?? this.internalStatus,
        method: req.method,
        host: req.host,
        uri: req.rawUri,
        client: req.session.remoteAddr,
        product: req.product,
        cluster: req.clusterName,
        backend: b.backendAddr === '' ? undefined : `${b.backendAddr}:${b.backendPort}`,
        retries: req.retryTime,
      },
      `request failed: ${req.errCode} ${req.errMsg}`,
    )
  }

  /**
   * The client went away (HTTP/1: the connection closed; HTTP/2: the stream was reset) before the
   * response was written. The backend request is cancelled; that is not the backend's fault.
   */
  clientGone(code: ErrCode = ErrCode.ClientClose): void {
    if (this.done) return
    const req = this.req
    if (req.errCode === undefined) {
      req.errCode = code
      req.errMsg = 'the client went away before the response was complete'
    }
    const c = this.ctx.counters
    c.CLIENT_CONN_UNFINISHED_REQ++
    if (code === ErrCode.ClientReset) c.ERR_CLIENT_RESET++
    else c.ERR_CLIENT_CLOSE++
    const a = this.attempt
    if (a !== undefined && !a.finished) this.ctx.stateCounters.http.HTTP_CANCEL_ON_CLIENT_CLOSE++
    // Set before aborting: undici reports the abort synchronously, and upstreamError must not
    // take it for a backend failure.
    this.discardBody = true
    this.attempt?.abort(new Error('client went away'))
    this.finished()
  }

  /**
   * The client did not send its body within TimeoutReadClient (the engine's deadline). While no
   * response has started, the backend attempt is cut (its connection closed, not replaced) and
   * the client gets `408` and a closed connection; true then. False when a response is already
   * under way (the engine drops the connection or stream instead).
   */
  bodyTimedOut(): boolean {
    if (this.done || this.writer.headersSent) return false
    const req = this.req
    req.errCode = ErrCode.ClientTimeout
    req.errMsg = 'timeout reading the request body (TimeoutReadClient)'
    this.stopHeaderDeadline()
    this.discardBody = true
    const a = this.attempt
    // upstreamError hears of it (and frees the backend), then ignores it (discardBody).
    if (a !== undefined && !a.finished) a.abort(new Error('request body timeout'))
    this.closeAfter = true
    req.httpResponse = internalResponse(408)
    this.send(req.httpResponse)
    return true
  }

  /** The request boundary: an unexpected exception becomes a 500 (or a dropped connection). */
  fail(err: unknown): void {
    if (this.done) return
    this.ctx.onUnexpected(err, this.req)
    this.closeAfter = true
    this.req.errCode = ErrCode.Internal
    this.req.errMsg = err instanceof Error ? err.message : String(err)
    if (this.attempt !== undefined) this.dropUpstream()
    if (this.writer.headersSent) {
      this.writer.abort()
      this.finished()
      return
    }
    try {
      this.send(internalResponse(500))
    } catch {
      this.writer.abort()
      this.finished()
    }
  }
}

type ReqCounterName = 'HTTP' | 'HTTPS' | 'HTTP2'

/** An attempt beyond MaxConnsPerHost: a connect failure (retryable, counts against the backend). */
const CONN_CAP_REACHED: AttemptFailure = Object.freeze({
  code: ErrCode.ConnectBackend,
  msg: 'MaxConnsPerHost reached',
  backendFault: true,
  connectionClosed: false,
})

const REQ_ACTIVE = {
  HTTP: 'HTTP_CLIENT_REQ_ACTIVE',
  HTTPS: 'HTTPS_CLIENT_REQ_ACTIVE',
  HTTP2: 'HTTP2_CLIENT_REQ_ACTIVE',
} as const satisfies Record<ReqCounterName, keyof ProxyCounters>

const REQ_SERVED = {
  HTTP: 'HTTP_CLIENT_REQ_SERVED',
  HTTPS: 'HTTPS_CLIENT_REQ_SERVED',
  HTTP2: 'HTTP2_CLIENT_REQ_SERVED',
} as const satisfies Record<ReqCounterName, keyof ProxyCounters>

/** proxy_state counter of a failed backend attempt, by error code. */
const BACKEND_ERR: Readonly<Record<string, keyof ProxyCounters>> = {
  [ErrCode.ConnectBackend]: 'ERR_BK_CONNECT_BACKEND',
  [ErrCode.WriteRequest]: 'ERR_BK_WRITE_REQUEST',
  [ErrCode.ReadRespHeader]: 'ERR_BK_READ_RESP_HEADER',
  [ErrCode.RespHeaderTimeout]: 'ERR_BK_RESP_HEADER_TIMEOUT',
  [ErrCode.TransportBroken]: 'ERR_BK_TRANSPORT_BROKEN',
}
