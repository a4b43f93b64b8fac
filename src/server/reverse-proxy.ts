import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Backend } from '../balance/backend.js'
import type { ClusterBalancer } from '../balance/cluster-balancer.js'
import { onBackendFailure, onBackendSuccess } from '../balance/health.js'
import { HeaderList } from '../basic/header-list.js'
import type { BfeRequest } from '../basic/request.js'
import { BfeResponse, internalResponse } from '../basic/response.js'
import type { ClusterConf } from '../config/cluster-conf-types.js'
import { HandlerResult } from '../module/callback-point.js'
import { runRequestFilters, runResponseFilters } from '../module/handler-list.js'
import type { HandlerTable } from '../module/registry.js'
import {
  type AttemptFailure,
  classifyUpstreamError,
  closesConnection,
  ErrCode,
  statusForError,
} from '../proxy/errors.js'
import { outgoingRequestHeaders, responseHeaderStrings } from '../proxy/hop-headers.js'
import type { Conn } from './conn.js'
import { redirectBody, redirectLocation } from './redirect.js'
import type { Runtime, ServerContext } from './runtime.js'

/** Marks a response whose body is still arriving from the backend (streamed by the flow). */
export const UPSTREAM_BODY: Readable = Object.freeze(Object.create(null)) as Readable

/** BFE's bound on forwarding attempts per request. */
const MAX_ATTEMPTS = 20

/** Stages after a request callback point, so results are handled without per-request closures. */
const Stage = { BeforeLocation: 0, FoundProduct: 1, AfterLocation: 2 } as const
type Stage = (typeof Stage)[keyof typeof Stage]

/**
 * Drives one HTTP request through BFE's pipeline (lifecycle.md §5): the request callback points,
 * product and cluster lookup, the forwarding loop with retries, the response stage and the final
 * callbacks. It is also the undici dispatch handler of its own upstream attempts, so a proxied
 * request allocates one object for all of that.
 *
 * Everything stays synchronous until a filter returns a Promise.
 */
export class RequestFlow implements Dispatcher.DispatchHandler {
  readonly conn: Conn
  readonly req: BfeRequest
  readonly nreq: IncomingMessage
  readonly nres: ServerResponse
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
   * Epoch ms by which the backend's response header must arrive (TimeoutResponseHeader); 0 =
   * none. Checked by the server's deadline sweeper, which is finer than undici's own timer.
   */
  headerDeadline: number

  // forwarding state
  private retry: number
  private attempts: number
  private backend: Backend | undefined
  private balancer: ClusterBalancer | undefined
  private outHeaders: string[] | undefined
  /** The client request has a body (Content-Length > 0 or Transfer-Encoding). */
  private readonly hasBody: boolean
  private abortUpstream: ((err?: Error) => void) | undefined
  private resumeUpstream: (() => void) | undefined
  private gotHeaders: boolean
  /** The backend response is being thrown away (redirect at HandleReadResponse). */
  private discardBody: boolean
  /** The flow waits for async ReadResponse filters before streaming. */
  private holdBody: boolean

  constructor(
    conn: Conn,
    req: BfeRequest,
    nreq: IncomingMessage,
    nres: ServerResponse,
    ctx: ServerContext,
  ) {
    this.conn = conn
    this.req = req
    this.nreq = nreq
    this.nres = nres
    this.ctx = ctx
    this.rt = ctx.runtime
    this.handlers = ctx.handlers
    this.cc = undefined
    this.closeAfter = false
    this.internalStatus = 0
    this.done = false
    this.headerDeadline = 0
    this.retry = 0
    this.attempts = 0
    this.backend = undefined
    this.balancer = undefined
    this.outHeaders = undefined
    this.hasBody = req.body !== undefined
    this.abortUpstream = undefined
    this.resumeUpstream = undefined
    this.gotHeaders = false
    this.discardBody = false
    this.holdBody = false
  }

  /** Runs the pipeline from HandleBeforeLocation. */
  start(): void {
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
      this.errorResponse(ErrCode.FindProduct, 'no product found for this request')
      return
    }
    req.stat.findProEnd = Date.now()
    this.runRequestPoint(this.handlers.foundProduct, Stage.FoundProduct)
  }

  private findCluster(): void {
    const req = this.req
    const name = this.rt.findCluster(req)
    if (name === undefined) {
      this.errorResponse(
        ErrCode.FindLocation,
        req.errMsg === '' ? 'no rule match for this req' : req.errMsg,
      )
      return
    }
    const cc = this.rt.clusterConf(name)
    if (cc === undefined) {
      this.errorResponse(ErrCode.NoCluster, `cluster ${name} not in cluster_conf`)
      return
    }
    this.cc = cc
    req.clusterName = name
    req.backend.clusterName = name
    req.stat.locateEnd = Date.now()
    this.conn.keepAliveMs = cc.ClusterBasic.TimeoutReadClientAgain
    if (this.hasBody && !req.isSse && cc.ClusterBasic.TimeoutReadClient > 0) {
      this.conn.readDeadline = Date.now() + cc.ClusterBasic.TimeoutReadClient
      this.nreq.once('end', () => {
        if (this.conn.flow === this) this.conn.readDeadline = 0
      })
    }
    this.runRequestPoint(this.handlers.afterLocation, Stage.AfterLocation)
  }

  // ---- forwarding ---------------------------------------------------------------------------

  private forward(): void {
    const cc = this.cc
    if (cc === undefined) {
      this.errorResponse(ErrCode.NoCluster, 'no cluster')
      return
    }
    const bal = this.rt.balTable.lookup(cc.name)
    if (bal === undefined) {
      this.ctx.counters.ERR_BK_NO_BALANCE++
      this.errorResponse(ErrCode.NoCluster, `no balancer for cluster ${cc.name}`)
      return
    }
    this.balancer = bal
    if (this.req.session.useExpect100 && this.hasBody) this.nres.writeContinue()
    if (!cc.ClusterBasic.DisableHostHeader)
      this.outHeaders = outgoingRequestHeaders(this.req.headers.raw, undefined)
    this.nextAttempt(undefined)
  }

  /** Picks a backend and dispatches, or ends the request with the last failure. */
  private nextAttempt(last: AttemptFailure | undefined): void {
    const req = this.req
    const cc = this.cc as ClusterConf
    while (this.attempts < MAX_ATTEMPTS) {
      this.attempts++
      const pick = (this.balancer as ClusterBalancer).balance(req, this.retry)
      if (!pick.ok) {
        if (pick.code === 'CROSS_RETRY_BALANCE') {
          this.retry++
          continue
        }
        if (pick.code === ErrCode.RetryTooMany && last !== undefined) {
          this.errorResponse(last.code, last.msg)
          return
        }
        this.errorResponse(pick.code as ErrCode, pick.msg)
        return
      }
      const b = pick.backend
      this.backend = b
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
      last = { code: ErrCode.ConnectBackend, msg: 'MaxConnsPerHost reached', backendFault: true }
      onBackendFailure(b)
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
      const cc = this.cc as ClusterConf
      if (!this.dispatch(cc, Date.now())) {
        this.retry++
        this.nextAttempt({
          code: ErrCode.ConnectBackend,
          msg: 'MaxConnsPerHost reached',
          backendFault: true,
        })
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
    const pool = this.ctx.pools.forBackend(b, cc)
    const req = this.req
    const headers = cc.ClusterBasic.DisableHostHeader
      ? outgoingRequestHeaders(req.headers.raw, `${b.addr}:${b.port}`)
      : (this.outHeaders as string[])
    this.gotHeaders = false
    this.abortUpstream = undefined
    const t = cc.BackendConf.TimeoutResponseHeader
    this.headerDeadline = t > 0 ? now + t : 0
    pool.dispatch(
      {
        method: req.method,
        path: originForm(req.uri),
        headers,
        body: this.hasBody ? this.nreq : null,
        reset: cc.BackendConf.MaxIdleConnsPerHost === 0,
      },
      this,
    )
    return true
  }

  // undici handler callbacks (legacy interface: raw headers as buffers, explicit resume)

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true
    this.gotHeaders = true
    this.headerDeadline = 0
    this.resumeUpstream = resume
    const b = this.backend as Backend
    const req = this.req
    const now = Date.now()
    req.stat.backendEnd = now
    req.errCode = undefined
    req.errMsg = ''
    onBackendSuccess(b, statusCode)
    const res = new BfeResponse(
      statusCode,
      new HeaderList(responseHeaderStrings(rawHeaders)),
      UPSTREAM_BODY,
      false,
    )
    this.responseStage(res, now)
    return !this.holdBody
  }

  onData(chunk: Buffer): boolean {
    if (this.discardBody || this.done) return true
    const ok = this.nres.write(chunk)
    if (!ok) this.nres.once('drain', this.resumeUpstream as () => void)
    return ok
  }

  onComplete(): void {
    this.releaseBackend()
    if (this.discardBody || this.done) return
    this.nres.end()
  }

  onError(err: Error): void {
    this.headerDeadline = 0
    this.releaseBackend()
    if (this.done || this.discardBody) return
    if (this.gotHeaders) {
      // The backend broke while streaming the body: the client sees a truncated response.
      this.req.errCode = ErrCode.TransportBroken
      this.req.errMsg = err.message
      this.closeAfter = true
      this.nres.destroy()
      return
    }
    const clientBodyFailed = this.hasBody && (this.nreq.errored !== null || this.nreq.destroyed)
    const failure = classifyUpstreamError(err, clientBodyFailed)
    const _cc = this.cc as ClusterConf
    const b = this.backend as Backend
    if (failure.backendFault) onBackendFailure(b)
    this.req.errCode = failure.code
    this.req.errMsg = failure.msg
    this.ctx.counters.ERR_BK_REQUEST_BACKEND++
    if (!this.retryAllowed(failure)) {
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

  /** The backend did not send a response header in time (called by the sweeper). */
  headerTimeout(): void {
    this.headerDeadline = 0
    const abort = this.abortUpstream
    if (abort === undefined || this.gotHeaders || this.done) return
    abort(
      Object.assign(new Error('timeout waiting for the response header'), {
        code: 'UND_ERR_HEADERS_TIMEOUT',
      }),
    )
  }

  private retryAllowed(f: AttemptFailure): boolean {
    // A body that has started to flow cannot be sent again.
    if (this.hasBody && this.nreq.readableDidRead) return false
    if (f.code === ErrCode.ConnectBackend) return true
    return (
      (this.cc as ClusterConf).BackendConf.RetryLevel === 1 &&
      this.req.method === 'GET' &&
      !this.hasBody
    )
  }

  private releaseBackend(): void {
    const b = this.backend
    if (b !== undefined && b.activeRequests > 0) b.activeRequests--
  }

  // ---- responses ----------------------------------------------------------------------------

  /** An internal error response (status per D8), through HandleReadResponse. */
  private errorResponse(code: ErrCode, msg: string): void {
    const req = this.req
    req.errCode = code
    req.errMsg = msg
    if (closesConnection(code)) this.closeAfter = true
    this.responseStage(internalResponse(statusForError(code, this.ctx.compatErrorStatus)))
  }

  /** Step 11: HandleReadResponse, then send. */
  private responseStage(res: BfeResponse, now = Date.now()): void {
    if (this.done) return
    const req = this.req
    req.httpResponse = res
    req.stat.responseStart = now
    const cc = this.cc
    if (!req.isSse && cc !== undefined && cc.ClusterBasic.TimeoutWriteClient > 0) {
      this.conn.writeDeadline = now + cc.ClusterBasic.TimeoutWriteClient
    }
    const list = this.handlers.readResponse
    if (list.length === 0) {
      this.send(res)
      return
    }
    let r: HandlerResult | Promise<HandlerResult>
    try {
      r = runResponseFilters(list, req, res)
    } catch (err) {
      this.fail(err)
      return
    }
    if (typeof r === 'number') {
      this.afterReadResponse(r)
      return
    }
    this.holdBody = true
    r.then(
      (v) => {
        try {
          this.afterReadResponse(v)
        } catch (err) {
          this.fail(err)
        }
        if (this.holdBody) {
          this.holdBody = false
          this.resumeUpstream?.()
        }
      },
      (err: unknown) => this.fail(err),
    )
  }

  private afterReadResponse(r: HandlerResult): void {
    if (this.done) return
    const res = this.req.httpResponse as BfeResponse
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
    this.abortUpstream?.(new Error('response replaced by redirect'))
  }

  /** Writes status, headers and body to the client (step 12). */
  private send(res: BfeResponse): void {
    const nres = this.nres
    if (nres.headersSent || this.done) return
    this.prepareConnectionHeader()
    const body = res.body
    const raw = res.headers.raw
    if (res.internal && !res.headers.has('content-type'))
      raw.push('Content-Type', 'text/plain; charset=utf-8')
    if (body === UPSTREAM_BODY) {
      nres.writeHead(res.statusCode, raw)
      return
    }
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      const len =
        body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length
      if (!res.headers.has('content-length') && !noBodyStatus(res.statusCode))
        raw.push('Content-Length', String(len))
      nres.writeHead(res.statusCode, raw)
      if (body === undefined || this.req.method === 'HEAD') nres.end()
      else nres.end(body)
      return
    }
    nres.writeHead(res.statusCode, raw)
    pipeline(body, nres, (err) => {
      if (err !== undefined && err !== null && !this.done) {
        this.closeAfter = true
        nres.destroy()
      }
    })
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
    this.conn.socket.destroy()
    this.finished()
  }

  private prepareConnectionHeader(): void {
    if (this.closeAfter || !this.ctx.keepAliveEnabled || this.ctx.shuttingDown)
      this.nres.shouldKeepAlive = false
  }

  /** The response has been written (or the connection dropped): step 13. */
  finished(): void {
    if (this.done) return
    this.done = true
    const req = this.req
    const conn = this.conn
    const now = Date.now()
    req.stat.responseEnd = now
    conn.writeDeadline = 0
    conn.session.reqNumActive--
    if (conn.flow === this) conn.flow = undefined
    const list = this.handlers.requestFinish
    if (list.length > 0) {
      let r: HandlerResult | Promise<HandlerResult>
      try {
        r = runResponseFilters(list, req, req.httpResponse)
      } catch (err) {
        this.ctx.onUnexpected(err, req)
        r = HandlerResult.GoOn
      }
      if (typeof r === 'number') {
        if (r === HandlerResult.Finish) this.closeAfter = true
      } else {
        r.then(
          (v) => {
            if (v === HandlerResult.Finish) conn.socket.destroySoon()
          },
          (err: unknown) => this.ctx.onUnexpected(err, req),
        )
      }
    }
    this.ctx.counters.CLIENT_REQ_SERVED++
    if (this.closeAfter || !this.nres.shouldKeepAlive) {
      conn.socket.destroySoon()
      return
    }
    conn.readDeadline = now + conn.keepAliveMs
  }

  /** The client went away before the response was written. */
  clientGone(): void {
    if (this.done) return
    this.abortUpstream?.(new Error('client closed the connection'))
    this.finished()
  }

  /** The request boundary: an unexpected exception becomes a 500 (or a dropped connection). */
  fail(err: unknown): void {
    if (this.done) return
    this.ctx.onUnexpected(err, this.req)
    this.closeAfter = true
    this.req.errCode = ErrCode.Internal
    this.req.errMsg = err instanceof Error ? err.message : String(err)
    if (this.abortUpstream !== undefined) this.dropUpstream()
    if (this.nres.headersSent) {
      this.nres.destroy()
      this.finished()
      return
    }
    try {
      this.send(internalResponse(500))
    } catch {
      this.nres.destroy()
      this.finished()
    }
  }
}

function noBodyStatus(code: number): boolean {
  return code === 204 || code === 304 || (code >= 100 && code < 200)
}

/** undici wants an origin-form path: absolute-form targets lose scheme and authority. */
function originForm(uri: string): string {
  if (uri.charCodeAt(0) === 47 /* / */) return uri
  const s = uri.indexOf('://')
  if (s === -1) return uri === '*' ? '*' : `/${uri}`
  const slash = uri.indexOf('/', s + 3)
  if (slash !== -1) return uri.slice(slash)
  const q = uri.indexOf('?', s + 3)
  return q === -1 ? '/' : `/${uri.slice(q)}`
}
