import type { BfeRequest } from '../basic/request.js'
import type { BfeResponse } from '../basic/response.js'
import type { Session } from '../basic/session.js'
import type { ReloadPrepare } from '../monitor/types.js'
import type { HandlerResult } from './callback-point.js'
import type { ModuleContext } from './context.js'

/** A filter's answer: a code, or a Promise of one when the filter must wait. */
export type FilterReturn = HandlerResult | Promise<HandlerResult>

/** HandleAccept, HandleHandshake. */
export type AcceptFilter = (ses: Session) => FilterReturn
/**
 * HandleBeforeLocation, HandleFoundProduct, HandleAfterLocation. A filter that answers the
 * request itself sets `req.httpResponse` and returns `Response` (or `Finish`); for `Redirect` it
 * sets `req.redirect`.
 */
export type RequestFilter = (req: BfeRequest) => FilterReturn
/** HandleForward: runs before every attempt to a backend (`req.backend` says which). */
export type ForwardFilter = (req: BfeRequest) => FilterReturn
/** HandleReadResponse, HandleRequestFinish (`res` may be undefined at HandleRequestFinish). */
export type ResponseFilter = (req: BfeRequest, res: BfeResponse | undefined) => FilterReturn
/** HandleFinish: return values are ignored. */
export type FinishFilter = (ses: Session) => FilterReturn

export type AnyFilter = AcceptFilter | RequestFilter | ResponseFilter | FinishFilter

/** A monitor handler: returns the JSON-able state shown at `/monitor/<name>`. */
export type MonitorHandler = (query: URLSearchParams) => unknown
/** What a module registers its monitor and reload handlers with. */
export interface WebHandlers {
  registerMonitor(name: string, handler: MonitorHandler): void
  /**
   * A reload behind `/reload/<name>`, in two phases so that every worker switches or none does:
   * `prepare(query)` reads and checks the data (the `path` query parameter may name another file)
   * and builds the new table without switching, throwing a BfeConfError on bad data; the
   * PreparedReload it returns switches the table in on `commit()` (which must not throw; it may
   * return a version text) or drops it on `abort()`.
   */
  registerReload(name: string, prepare: ReloadPrepare): void
}

/** What a module registers its filters with. */
export interface Callbacks {
  addAcceptFilter(point: 0 | 1, filter: AcceptFilter, name?: string): void
  addRequestFilter(point: 2 | 3 | 4, filter: RequestFilter, name?: string): void
  addForwardFilter(point: 5, filter: ForwardFilter, name?: string): void
  addResponseFilter(point: 6 | 7, filter: ResponseFilter, name?: string): void
  addFinishFilter(point: 8, filter: FinishFilter, name?: string): void
}

/**
 * A module: a name and one init step that reads its config and registers filters and handlers
 * through the context (`ctx.callbacks`, `ctx.web`, `ctx.metrics`, `ctx.ruleTable` ...). An error
 * thrown by `init` stops start-up and is what `bfe -t` reports.
 */
export interface BfeModule {
  readonly name: string
  init(ctx: ModuleContext): void | Promise<void>
}
