import type { BfeRequest } from '../basic/request.js'
import type { BfeResponse } from '../basic/response.js'
import type { Session } from '../basic/session.js'
import type { JsonSchema } from '../config/schema.js'
import type { ReloadPrepare } from '../monitor/types.js'
import type { CallbackPoint, HandlerResult } from './callback-point.js'
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
 * What a module would do to one request at one callback point (`bfe explain`, `bfe simulate`).
 * JSON-able: it is printed as is by `bfe explain --json`.
 */
export interface ExplainStep {
  /** One line for people: `tag env=canary (rule 1)`, `block: 403 (rule 0)`, `no rule matched`. */
  readonly summary: string
  /** What the filter would return; GoOn when absent. Anything else ends the request there. */
  readonly result?: HandlerResult
  /** Rules considered, in order, with whether each matched (undefined: not evaluated). */
  readonly rules?: readonly {
    readonly index: number
    readonly cond?: string
    readonly matched: boolean | undefined
  }[]
  /** Facts behind the verdict (status, location, headers set, tags ...), JSON-able. */
  readonly detail?: Readonly<Record<string, unknown>>
}

/** A data file a module reads, for `bfe schema`: its kind and its JSON Schema. */
export interface ModuleDataFile {
  /** `<module>/<file name>` as in BFE's conf layout: `mod_tag/tag_rule.data`. */
  readonly kind: string
  /** The JSON Schema generated from the `s.*` declaration the module's loader validates with. */
  jsonSchema(): JsonSchema
}

/**
 * A module: a name and one init step that reads its config and registers filters and handlers
 * through the context (`ctx.callbacks`, `ctx.web`, `ctx.metrics`, `ctx.ruleTable` ...). An error
 * thrown by `init` stops start-up and is what `bfe -t` reports.
 */
export interface BfeModule {
  readonly name: string
  init(ctx: ModuleContext): void | Promise<void>
  /**
   * Optional, for `bfe explain` and `bfe simulate`: what this module's filter at `point` would do
   * to `req`, computed from the data loaded by `init` (the table in force). Called after `init`,
   * once per request point (HandleBeforeLocation ... HandleReadResponse) in the module order,
   * on a request explain built itself. Contract:
   * - pure with respect to everything but `req`: no counters, metrics, logs, timers, sockets,
   *   stores or randomness shared with serving; a verdict that depends on state the request does
   *   not carry (rate counters, remote services) is not explained, or is explained as the rule
   *   match only, with `detail` saying so;
   * - apply to `req` the same changes the filter would make (tags, path, headers, context), so
   *   that later steps (routing with `req_tag_match`, other modules) see them;
   * - return undefined when the module has nothing to say at `point` (no filter there, or the
   *   product has no rules), else an ExplainStep (also "no rule matched", with the rules
   *   considered); a `result` other than GoOn
   *   ends the request at that point, as in the pipeline (set `req.httpResponse` / `req.redirect`
   *   as the filter would);
   * - never throw for a request the filter would accept (a throw is reported as a module error).
   */
  explain?(req: BfeRequest, point: CallbackPoint): ExplainStep | undefined
  /** Optional, for `bfe schema` and `bfe -t`: the data files this module reads. */
  readonly dataFiles?: readonly ModuleDataFile[]
}
