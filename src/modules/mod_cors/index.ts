import { HeaderList } from '../../basic/header-list.js'
import type { BfeRequest } from '../../basic/request.js'
import { internalResponse } from '../../basic/response.js'
import { bound } from '../../config/bounds.js'
import { ini } from '../../config/ini.js'
import type { JsonNode } from '../../config/json-node.js'
import { type CondValue, type Infer, type Schema, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext, Reloadable } from '../../module/context.js'
import {
  firstMatch,
  type ProductRuleDecl,
  type ProductRuleTable,
  productRuleFile,
} from '../../module/rule-table.js'
import type { BfeModule, ExplainStep } from '../../module/types.js'
import { firstMatchIndex, firstMatchSeen } from '../explain-rules.js'

/** mod_cors.conf (spec/modules.md §10). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_cors/cors_rule.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** The methods a preflight may ask for and a rule may allow. */
export const CORS_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
])

const names = (description: string) => s.array(s.string(), { default: [], description })

/** One rule of cors_rule.data as written. */
const ruleFields = s.object({
  Cond: s.cond(),
  AccessControlAllowOrigins: s.array(s.string(), {
    minItems: 1,
    description: 'Origins: exact origins, "%origin" (echo the request Origin), "*" or "null"',
  }),
  AccessControlAllowCredentials: s.bool(false),
  AccessControlExposeHeaders: names('Header names, or "*" alone'),
  AccessControlAllowMethods: names('Method names, or "*" alone'),
  AccessControlAllowHeaders: names('Header names, or "*" alone'),
  AccessControlMaxAge: s.optional(
    s.int({ bound: bound(-1, 86400, 's'), description: 'Preflight cache time, -1 disables' }),
  ),
})
type RuleFields = Infer<typeof ruleFields>

/** A loaded rule, with the header values it sends built once. */
export interface CorsRule {
  readonly Cond: CondValue
  /** `%origin` is listed: every origin is allowed and echoed. */
  readonly echoAny: boolean
  /** `*` is listed. */
  readonly star: boolean
  readonly origins: ReadonlySet<string>
  readonly credentials: boolean
  /** Joined with `,`; undefined when the list is empty. */
  readonly exposeHeaders: string | undefined
  readonly allowMethods: string | undefined
  readonly allowHeaders: string | undefined
  readonly maxAge: string | undefined
}

/** `*` may only stand alone; it may not be part of a longer item. */
function checkStarList(list: readonly string[], node: JsonNode, what: string): void {
  const items = node.items()
  list.forEach((v, i) => {
    if (v.includes('*') && v.length !== 1) items[i]?.fail(`"${v}" is not supported`)
    if (v === '*' && list.length !== 1) items[i]?.fail(`"*" must be the only item of ${what}`)
  })
}

/** BFE's checks over one rule (spec/modules.md §10), each naming the field at fault. */
function checkRule(v: RuleFields, node: JsonNode): void {
  const origins = node.get('AccessControlAllowOrigins')
  const items = origins.items()
  v.AccessControlAllowOrigins.forEach((o, i) => {
    const item = items[i] ?? origins
    if (o.startsWith('%') && o !== '%origin') item.fail(`"${o}" is not supported`)
    if (o.includes('*') && o.length !== 1) item.fail(`"${o}" is not supported`)
    if (o === '*' && v.AccessControlAllowCredentials)
      item.fail('"*" cannot be used when AccessControlAllowCredentials is true')
    if ((o === '*' || o === 'null') && v.AccessControlAllowOrigins.length !== 1)
      item.fail(`"${o}" must be the only item of AccessControlAllowOrigins`)
  })
  checkStarList(v.AccessControlAllowHeaders, node.get('AccessControlAllowHeaders'), 'the list')
  checkStarList(v.AccessControlExposeHeaders, node.get('AccessControlExposeHeaders'), 'the list')
  const methods = node.get('AccessControlAllowMethods')
  checkStarList(v.AccessControlAllowMethods, methods, 'the list')
  const mItems = methods.items()
  v.AccessControlAllowMethods.forEach((m, i) => {
    if (m !== '*' && !CORS_METHODS.has(m))
      mItems[i]?.fail(`"${m}" is not one of ${[...CORS_METHODS].join(', ')}`)
  })
}

const joined = (l: readonly string[]) => (l.length === 0 ? undefined : l.join(','))

const rule: Schema<CorsRule> = {
  required: true,
  decode(node, cx) {
    const v = ruleFields.decode(node, cx)
    checkRule(v, node)
    const o = v.AccessControlAllowOrigins
    return {
      Cond: v.Cond,
      echoAny: o.includes('%origin'),
      star: o.includes('*'),
      origins: new Set(o),
      credentials: v.AccessControlAllowCredentials,
      exposeHeaders: joined(v.AccessControlExposeHeaders),
      allowMethods: joined(v.AccessControlAllowMethods),
      allowHeaders: joined(v.AccessControlAllowHeaders),
      maxAge: v.AccessControlMaxAge === undefined ? undefined : String(v.AccessControlMaxAge),
    }
  },
  jsonSchema: () => ruleFields.jsonSchema(),
}

export const corsRules: ProductRuleDecl<CorsRule> = {
  rule,
  versionNonEmpty: true,
  title: 'mod_cors cors_rule.data',
}

/** The Access-Control-Allow-Origin value for `origin` under `rule`, or undefined if not allowed. */
export function allowedOrigin(rule: CorsRule, origin: string): string | undefined {
  if (rule.echoAny) return origin
  if (rule.star) return '*'
  return rule.origins.has(origin) ? origin : undefined
}

/**
 * Adds `Origin` to Vary: set when there is no Vary, unchanged when Vary is `*` or already names
 * Origin, else `,Origin` appended to the first Vary value.
 */
export function addVaryOrigin(h: HeaderList): void {
  const raw = h.raw
  let first = -1
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'vary') continue
    const value = raw[i + 1] as string
    if (first === -1) first = i + 1
    if (value.trim() === '*') return
    for (const item of value.split(',')) if (item.trim().toLowerCase() === 'origin') return
  }
  if (first === -1 || (raw[first] as string) === '') h.set('Vary', 'Origin')
  else {
    h.uncheckFrom(first)
    raw[first] = `${raw[first] as string},Origin`
  }
}

/** A CORS preflight: OPTIONS with an Origin and an Access-Control-Request-Method we know. */
export function isPreflight(req: BfeRequest, origin: string | undefined): boolean {
  if (req.method !== 'OPTIONS' || origin === undefined || origin === '') return false
  const m = req.headers.get('access-control-request-method')
  return m !== undefined && CORS_METHODS.has(m)
}

/**
 * Answers a preflight under rule `r` (filter and explain): `req.httpResponse` is a 204, with the
 * CORS headers when `origin` is allowed; false when it is not.
 */
export function answerPreflight(req: BfeRequest, r: CorsRule, origin: string): boolean {
  const res = internalResponse(204)
  req.httpResponse = res
  const allow = allowedOrigin(r, origin)
  if (allow === undefined) return false
  const h = res.headers
  h.set('Access-Control-Allow-Origin', allow)
  if (r.credentials) h.set('Access-Control-Allow-Credentials', 'true')
  if (r.allowMethods !== undefined) h.set('Access-Control-Allow-Methods', r.allowMethods)
  if (r.allowHeaders !== undefined) h.set('Access-Control-Allow-Headers', r.allowHeaders)
  if (r.maxAge !== undefined) h.set('Access-Control-Max-Age', r.maxAge)
  addVaryOrigin(h)
  return true
}

/** Adds the CORS headers of a non-preflight response (filter and explain); false: not allowed. */
export function addCorsHeaders(h: HeaderList, r: CorsRule, origin: string): boolean {
  const allow = allowedOrigin(r, origin)
  if (allow === undefined) return false
  h.set('Access-Control-Allow-Origin', allow)
  if (r.credentials) h.set('Access-Control-Allow-Credentials', 'true')
  if (r.exposeHeaders !== undefined) h.set('Access-Control-Expose-Headers', r.exposeHeaders)
  addVaryOrigin(h)
  return true
}

const COUNTERS = [
  'REQ_CORS_RULE_HIT',
  'REQ_PRE_FLIGHT_HIT',
  'REQ_ALLOW_ORIGIN_HIT',
  'REQ_NOT_ALLOW_ORIGIN_HIT',
] as const

/** Name/value pairs of a header list (for explain's detail). */
function headerPairs(h: HeaderList | undefined): [string, string][] {
  const out: [string, string][] = []
  if (h === undefined) return out
  for (let i = 0; i < h.raw.length; i += 2) out.push([h.raw[i] as string, h.raw[i + 1] as string])
  return out
}

/**
 * mod_cors: answers CORS preflights at HandleFoundProduct (`204`, with the CORS headers when the
 * origin is allowed) and adds Access-Control-Allow-Origin, -Credentials, -Expose-Headers and Vary
 * to other responses of requests with an Origin at HandleReadResponse. The first rule of the
 * request's product whose condition matches decides.
 */
export function createModCors(): BfeModule {
  let loaded: Reloadable<ProductRuleTable<CorsRule>> | undefined
  return {
    name: 'mod_cors',
    dataFiles: [productRuleFile('mod_cors/cors_rule.data', corsRules)],
    explain(req, point): ExplainStep | undefined {
      if (loaded === undefined) return undefined
      if (point !== CallbackPoint.FoundProduct && point !== CallbackPoint.ReadResponse)
        return undefined
      const list = loaded.value.rules(req.product)
      if (list.length === 0) return undefined
      const origin = req.headers.get('origin')
      const preflight = isPreflight(req, origin)
      if (point === CallbackPoint.FoundProduct) {
        if (!preflight) return undefined
        const i = firstMatchIndex(list, req)
        const rules = firstMatchSeen(list, i)
        if (i === -1) return { summary: 'preflight: no rule matched', rules }
        const allowed = answerPreflight(req, list[i] as CorsRule, origin as string)
        const headers = Object.fromEntries(headerPairs(req.httpResponse?.headers))
        return {
          summary: allowed
            ? `preflight answered 204, origin ${origin as string} allowed (rule ${i})`
            : `preflight answered 204 without CORS headers: origin ${origin as string} not allowed (rule ${i})`,
          result: HandlerResult.Response,
          rules,
          detail: { status: 204, allowed, headers },
        }
      }
      if (origin === undefined || origin === '' || preflight) return undefined
      const i = firstMatchIndex(list, req)
      const rules = firstMatchSeen(list, i)
      if (i === -1) return { summary: 'no rule matched', rules }
      const h = new HeaderList()
      const allowed = addCorsHeaders(h, list[i] as CorsRule, origin)
      return {
        summary: allowed
          ? `response: would set ${headerPairs(h)
              .map(([n, v]) => `${n}: ${v}`)
              .join('; ')} (rule ${i})`
          : `origin ${origin} not allowed: no CORS header added (rule ${i})`,
        rules,
        detail: { allowed, responseHeaders: Object.fromEntries(headerPairs(h)) },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const debug = conf.Log.OpenDebug
      const table = ctx.ruleTable('mod_cors', ctx.confFile(conf.Basic.DataPath), corsRules)
      loaded = table
      const state = ctx.metrics(COUNTERS)

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function corsPreflight(req) {
          const rules = table.value.rules(req.product)
          if (rules.length === 0 || req.method !== 'OPTIONS') return HandlerResult.GoOn
          const origin = req.headers.get('origin')
          if (!isPreflight(req, origin)) return HandlerResult.GoOn
          const r = firstMatch(rules, req)
          if (r === undefined) return HandlerResult.GoOn
          state.REQ_CORS_RULE_HIT++
          state.REQ_PRE_FLIGHT_HIT++
          if (debug) ctx.log.debug({ uri: req.rawUri, product: req.product }, 'preflight')
          const allowed = answerPreflight(req, r, origin as string)
          if (!allowed) {
            state.REQ_NOT_ALLOW_ORIGIN_HIT++
            return HandlerResult.Response
          }
          state.REQ_ALLOW_ORIGIN_HIT++
          return HandlerResult.Response
        },
        'cors_preflight',
      )

      ctx.callbacks.addResponseFilter(
        CallbackPoint.ReadResponse,
        function cors(req, res) {
          const rules = table.value.rules(req.product)
          if (rules.length === 0 || res === undefined) return HandlerResult.GoOn
          const origin = req.headers.get('origin')
          if (origin === undefined || origin === '' || isPreflight(req, origin))
            return HandlerResult.GoOn
          const r = firstMatch(rules, req)
          if (r === undefined) return HandlerResult.GoOn
          state.REQ_CORS_RULE_HIT++
          if (debug) ctx.log.debug({ uri: req.rawUri, product: req.product }, 'cors')
          if (!addCorsHeaders(res.headers, r, origin)) {
            state.REQ_NOT_ALLOW_ORIGIN_HIT++
            return HandlerResult.GoOn
          }
          state.REQ_ALLOW_ORIGIN_HIT++
          return HandlerResult.GoOn
        },
        'cors',
      )
    },
  }
}
