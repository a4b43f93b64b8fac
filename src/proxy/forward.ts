import type { Dispatcher, Pool } from 'undici'
import type { ClusterConf } from '../config/cluster-conf-types.js'
import { ForwardAttempt, type ForwardRequest, type ForwardSink } from './attempt.js'
import { BodyRelay } from './body-relay.js'
import { H1Attempt, H1Pool } from './h1-pool.js'
import { responseHeaderStrings, responseHeadersFromObject } from './hop-headers.js'
import { httpsServername, type TransportPools, takeFreshConnection } from './transport.js'

export {
  ForwardAttempt,
  type ForwardRequest,
  type ForwardSink,
  type UpstreamAttempt,
} from './attempt.js'

/**
 * One attempt to send a request to one backend, on undici's dispatch-handler API. The pipeline
 * decides what to do with the outcome (retry, respond, stream); this object only moves bytes and
 * reports.
 */
export class UndiciAttempt extends ForwardAttempt implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined
  /** Abort asked for before undici handed us the controller. */
  private pendingAbort: Error | undefined
  /** The pool the attempt was dispatched on (to tell a fresh connection from a reused one). */
  pool: object | undefined

  constructor(sink: ForwardSink) {
    super(sink)
    this.controller = undefined
    this.pendingAbort = undefined
    this.pool = undefined
  }

  /** Stops the attempt; the sink hears `upstreamError` unless the attempt had already ended. */
  override abort(err: Error): void {
    if (this.finished) return
    const c = this.controller
    if (c === undefined) this.pendingAbort = err
    else c.abort(err)
  }

  /** Holds the backend's body (backpressure). */
  override pause(): void {
    this.controller?.pause()
  }

  /** Lets the body flow again. */
  override resume(): void {
    this.controller?.resume()
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    // undici writes a request right after it connected a socket for it (same tick), else the
    // socket was already open: one that served earlier requests.
    this.reused = this.pool !== undefined && !takeFreshConnection(this.pool)
    const err = this.pendingAbort
    if (err !== undefined) {
      this.pendingAbort = undefined
      controller.abort(err)
    }
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 100 || statusCode > 599) {
      // Not an HTTP status (RFC 9110 §15): a malformed response. Aborting also destroys the
      // connection, so nothing else is read from it.
      controller.abort(badResponse(`invalid status code ${statusCode} from the backend`))
      return
    }
    if (statusCode < 200) return
    this.gotHeaders = true
    this.status = statusCode
    if (!this.sink.upstreamHeaders(this, statusCode, headerList(controller.rawHeaders, headers)))
      controller.pause()
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.sink.upstreamData(this, chunk)) controller.pause()
  }

  onResponseEnd(
    controller: Dispatcher.DispatchController,
    trailers: Record<string, string | string[] | undefined>,
  ): void {
    this.finished = true
    this.sink.upstreamEnd(this, headerList(controller.rawTrailers, trailers))
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.finished) return
    this.finished = true
    if (this.gotHeaders && noBodyStatus(this.status) && errCode(err) === LENGTH_MISMATCH) {
      // A 204 or 304 never has a body (RFC 9112 §6.3), whatever its Content-Length says, but
      // undici checks that field against the (skipped) body and fails the response. The response
      // is complete; the connection is dropped all the same (anything after the head is junk).
      this.sink.upstreamEnd(this, [])
      return
    }
    this.sink.upstreamError(this, err, this.gotHeaders)
  }

  /** undici's hook for the first byte of a response. */
  onResponseStarted(): void {
    this.responseStarted = true
  }
}

const LENGTH_MISMATCH = 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'

function noBodyStatus(status: number): boolean {
  return status === 204 || status === 304
}

function errCode(err: Error): unknown {
  return (err as { code?: unknown }).code
}

/** A response that is not HTTP: classified as BK_READ_RESP_HEADER (errors.ts). */
export function badResponse(msg: string): Error {
  return Object.assign(new Error(msg), { code: 'BFE_BAD_RESPONSE' })
}

type RawHeaders = Buffer[] | string[] | Record<string, string | string[] | undefined> | null

/**
 * The response's headers in their original case and order when undici's controller keeps the
 * raw list (it does for HTTP/1 backends), else from the parsed object.
 */
function headerList(
  raw: RawHeaders | undefined,
  parsed: Record<string, string | string[] | undefined> | undefined,
): string[] {
  if (Array.isArray(raw)) return responseHeaderStrings(raw)
  if (raw !== undefined && raw !== null) return responseHeadersFromObject(raw)
  return parsed === undefined || parsed === null ? [] : responseHeadersFromObject(parsed)
}

/**
 * Sends `req` to `backend` through its pool; the outcome reaches `sink`. Plain HTTP/1.1 backends
 * go through our own keep-alive pools (h1-pool.ts), HTTPS and h2c backends through undici.
 */
export function forward(
  pools: TransportPools,
  backend: { readonly addr: string; readonly port: number },
  cc: ClusterConf,
  req: ForwardRequest,
  sink: ForwardSink,
): ForwardAttempt {
  const pool = pools.forBackend(backend, cc)
  if (pool instanceof H1Pool) {
    const a = new H1Attempt(sink, req.method, req.holdWrites === true)
    pool.dispatch(req, a)
    return a
  }
  return forwardUndici(pool, backend, cc, req, sink)
}

function forwardUndici(
  pool: Pool,
  backend: { readonly addr: string; readonly port: number },
  cc: ClusterConf,
  req: ForwardRequest,
  sink: ForwardSink,
): UndiciAttempt {
  const attempt = new UndiciAttempt(sink)
  // `servername` is undici's (Request) and missing from its types.
  const protocol = cc.BackendConf.Protocol
  // undici destroys the body it is given when the attempt ends early: give it a relay, so the
  // client's stream (and connection) stays the pipeline's to answer on (body-relay.ts).
  const body = req.body === null ? null : new BodyRelay(req.body)
  const opts: Dispatcher.DispatchOptions & { servername?: string } = {
    method: req.method,
    path: req.path,
    headers: protocol === 'h2c' ? h2RequestHeaders(req.headers) : req.headers,
    body,
    reset: cc.BackendConf.MaxIdleConnsPerHost === 0,
  }
  if (protocol === 'https') opts.servername = httpsServername(cc, backend.addr)
  attempt.pool = pool
  pool.dispatch(opts, attempt)
  return attempt
}

/**
 * Header fields HTTP/2 forbids in a request (RFC 9113 §8.2.2) that hop-by-hop removal leaves:
 * node:http2 throws on them, and undici calls it where the throw would end the process.
 */
const H2_FORBIDDEN: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
])

/**
 * Request headers for an h2c backend: names lower-cased (so undici joins `Accept` and `accept`
 * into one field; node:http2 refuses a repeated single-value field such as `content-type`),
 * connection-specific fields dropped, `TE` only as `trailers` (already so after hop removal).
 */
export function h2RequestHeaders(raw: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    if (H2_FORBIDDEN.has(name)) continue
    const value = raw[i + 1]!
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') continue
    out.push(name, value)
  }
  return out
}

/** undici wants an origin-form path: absolute-form targets lose scheme and authority. */
export function originForm(uri: string): string {
  if (uri.charCodeAt(0) === 47 /* / */) return uri
  const s = uri.indexOf('://')
  if (s === -1) return uri === '*' ? '*' : `/${uri}`
  const slash = uri.indexOf('/', s + 3)
  if (slash !== -1) return uri.slice(slash)
  const q = uri.indexOf('?', s + 3)
  return q === -1 ? '/' : `/${uri.slice(q)}`
}
