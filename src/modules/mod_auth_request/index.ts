import { Agent } from 'undici'
import { BfeConfError } from '../../basic/errors.js'
import type { BfeRequest } from '../../basic/request.js'
import { internalResponse } from '../../basic/response.js'
import { bound, MAX_TIMER_MS } from '../../config/bounds.js'
import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext, Reloadable } from '../../module/context.js'
import {
  type ProductRuleDecl,
  type ProductRuleTable,
  productRuleFile,
} from '../../module/rule-table.js'
import type { BfeModule, ExplainStep, FilterReturn } from '../../module/types.js'
import { DelayHistogram } from '../../monitor/delay.js'
import { originForm } from '../../proxy/forward.js'
import { outgoingRequestHeaders } from '../../proxy/hop-headers.js'

/** mod_auth_request.conf (spec/modules.md §16). */
const confSchema = {
  Basic: {
    DataPath: ini.string('mod_auth_request/auth_request_rule.data'),
    AuthAddress: ini.string(''),
    AuthTimeout: ini.int(0, bound(0, MAX_TIMER_MS, 'ms')),
  },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** One rule of auth_request_rule.data. */
const rule = s.object({ Cond: s.cond(), Enable: s.bool(false) })
export type AuthRequestRule = Infer<typeof rule>

export const authRequestRules: ProductRuleDecl<AuthRequestRule> = {
  rule,
  versionNonEmpty: true,
  title: 'mod_auth_request auth_request_rule.data',
}

const COUNTERS = [
  'AUTH_REQUEST_CHECKED',
  'AUTH_REQUEST_PASS',
  'AUTH_REQUEST_FORBIDDEN',
  'AUTH_REQUEST_UNAUTHORIZED',
  'AUTH_REQUEST_FAIL',
  'AUTH_REQUEST_UNCERTAIN',
] as const

/** The error code of a request the auth service refused (logs, mod_access). */
export const ERR_AUTH_REQUEST = 'AUTH_REQ_FORBIDDEN'

/** The auth service URL of the .conf: an absolute http(s) URL. */
export function parseAuthAddress(file: string, value: string): URL {
  if (value === '') throw new BfeConfError(file, '[Basic] AuthAddress', 'is required')
  let u: URL
  try {
    u = new URL(value)
  } catch {
    throw new BfeConfError(file, '[Basic] AuthAddress', `"${value}" is not an absolute URL`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new BfeConfError(file, '[Basic] AuthAddress', `"${value}" must be an http or https URL`)
  return u
}

/**
 * The headers of the subrequest: the client's headers without hop-by-hop ones and
 * Content-Length, Host set to the auth service's, and `X-Forwarded-Method` / `X-Forwarded-Uri`
 * (kept when the client sent them, else the request's method and request-target).
 */
export function authRequestHeaders(req: BfeRequest, host: string): string[] {
  const raw = outgoingRequestHeaders(req.headers.raw, host)
  const out: string[] = []
  let method: string | undefined
  let uri: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const lower = name.toLowerCase()
    if (lower === 'content-length') continue
    if (lower === 'x-forwarded-method') {
      if (method === undefined && raw[i + 1] !== '') method = raw[i + 1]
      continue
    }
    if (lower === 'x-forwarded-uri') {
      if (uri === undefined && raw[i + 1] !== '') uri = raw[i + 1]
      continue
    }
    out.push(name, raw[i + 1] as string)
  }
  out.push('X-Forwarded-Method', method ?? req.method)
  out.push('X-Forwarded-Uri', uri ?? originForm(req.uri))
  return out
}

/** A rule sends a subrequest for `req`: enabled and its condition matches (filter and explain). */
function asks(r: AuthRequestRule, req: BfeRequest): boolean {
  return r.Enable && r.Cond.condition.test(req)
}

/**
 * mod_auth_request: at HandleFoundProduct, every enabled rule of the request's product whose
 * condition matches asks the auth service (`GET <AuthAddress>` with the request's headers, no
 * body, redirects not followed, within AuthTimeout). 401 → the client gets 401 (with the
 * service's WWW-Authenticate), 403 → 403; 2xx lets the request go on, and so (fail-open) does any
 * other status, a transport error or a timeout.
 */
export function createModAuthRequest(): BfeModule {
  let loaded: Reloadable<ProductRuleTable<AuthRequestRule>> | undefined
  let service = ''
  return {
    name: 'mod_auth_request',
    dataFiles: [productRuleFile('mod_auth_request/auth_request_rule.data', authRequestRules)],
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.FoundProduct || loaded === undefined) return undefined
      const list = loaded.value.rules(req.product)
      if (list.length === 0) return undefined
      const rules = list.map((r, i) => ({ index: i, cond: r.Cond.source, matched: asks(r, req) }))
      const n = rules.filter((r) => r.matched).length
      if (n === 0) return { summary: 'no enabled rule matched', rules }
      return {
        summary: `would ask ${service} (${n} subrequest(s)); not asked at explain time`,
        rules,
        detail: {
          service,
          subrequestMade: false,
          note: "the verdict is the auth service's: 401/403 refuse, anything else goes on",
        },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const debug = conf.Log.OpenDebug
      const address = parseAuthAddress(ctx.confPath, conf.Basic.AuthAddress)
      const timeoutMs = conf.Basic.AuthTimeout
      if (timeoutMs <= 0)
        throw new BfeConfError(ctx.confPath, '[Basic] AuthTimeout', 'must be > 0 (milliseconds)')
      const table = ctx.ruleTable(
        'mod_auth_request',
        ctx.confFile(conf.Basic.DataPath),
        authRequestRules,
      )
      loaded = table
      service = address.href
      const state = ctx.metrics(COUNTERS)
      // BFE's delay counter for the auth service: 1 ms buckets.
      const delay = new DelayHistogram('mod_auth_request', 1)
      ctx.web.registerMonitor('mod_auth_request.delay', () => delay.snapshot())

      // A connection pool of its own, so auth traffic never queues behind backend traffic.
      const agent = new Agent({
        connectTimeout: timeoutMs,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        keepAliveTimeout: 4000,
      })
      const origin = address.origin
      const path = `${address.pathname}${address.search}`
      const host = address.host

      /** One subrequest: the refusal response, or undefined to go on. */
      async function ask(req: BfeRequest): Promise<HandlerResult | undefined> {
        state.AUTH_REQUEST_CHECKED++
        const start = Date.now()
        let status: number
        let wwwAuth: string | undefined
        const headers = authRequestHeaders(req, host)
        if (debug) ctx.log.debug({ headers }, 'auth request')
        try {
          const res = await agent.request({
            origin,
            path,
            method: 'GET',
            headers,
            signal: AbortSignal.timeout(timeoutMs),
          })
          status = res.statusCode
          const w = res.headers['www-authenticate']
          wwwAuth = Array.isArray(w) ? w[0] : w
          // The body is not needed: read a little (so the connection can be reused) and drop it.
          res.body.dump({ limit: 64 * 1024 }).catch(() => {})
        } catch (err) {
          delay.addSince(start)
          state.AUTH_REQUEST_FAIL++
          ctx.log.info({ err: err instanceof Error ? err.message : String(err) }, 'auth failed')
          return undefined
        }
        delay.addSince(start)
        if (status === 401 || status === 403) {
          const out = internalResponse(status)
          if (status === 401) {
            state.AUTH_REQUEST_UNAUTHORIZED++
            if (wwwAuth !== undefined && wwwAuth !== '')
              out.headers.set('WWW-Authenticate', wwwAuth)
          } else state.AUTH_REQUEST_FORBIDDEN++
          req.errCode = ERR_AUTH_REQUEST
          req.httpResponse = out
          return HandlerResult.Response
        }
        if (status >= 200 && status < 300) state.AUTH_REQUEST_PASS++
        else {
          state.AUTH_REQUEST_UNCERTAIN++
          if (debug) ctx.log.debug({ status }, 'unexpected auth status')
        }
        return undefined
      }

      /** Asks for rule `from` and every later enabled matching rule, in order. */
      async function check(
        req: BfeRequest,
        rules: readonly AuthRequestRule[],
        from: number,
      ): Promise<HandlerResult> {
        for (let i = from; i < rules.length; i++) {
          const r = rules[i] as AuthRequestRule
          if (i !== from && !asks(r, req)) continue
          const refused = await ask(req)
          if (refused !== undefined) return refused
        }
        return HandlerResult.GoOn
      }

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function authRequest(req): FilterReturn {
          const rules = table.value.rules(req.product)
          for (let i = 0; i < rules.length; i++) {
            if (asks(rules[i] as AuthRequestRule, req)) return check(req, rules, i)
          }
          return HandlerResult.GoOn
        },
        'auth_request',
      )
    },
  }
}
