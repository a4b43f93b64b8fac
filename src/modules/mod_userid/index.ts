import { randomInt } from 'node:crypto'
import type { BfeRequest } from '../../basic/request.js'
import type { BfeResponse } from '../../basic/response.js'
import { bound } from '../../config/bounds.js'
import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import { type ProductRuleDecl, productRuleFile } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'
import { setCookieString } from './cookie.js'

/** mod_userid.conf (spec/modules.md §16). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_userid/userid_rule.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** One rule of userid_rule.data. BFE's shipped file also has `"Generator"`, which is ignored. */
const rule = s.object({
  Cond: s.cond(),
  Params: s.object({
    Name: s.string({ nonEmpty: true }),
    Domain: s.string({ default: '' }),
    Path: s.string({ default: '' }),
    // seconds; ten years at most (D23)
    MaxAge: s.int({ default: 0, bound: bound(0, 10 * 365 * 86400, 's') }),
  }),
})
export type UseridRule = Infer<typeof rule>

export const useridRules: ProductRuleDecl<UseridRule> = {
  rule,
  nonEmptyList: true,
  title: 'mod_userid userid_rule.data',
}

/** A new user id: the hex of `<unix nanoseconds>_<random 31-bit integer>`. */
export function genUid(nowMs = Date.now()): string {
  const nanos = BigInt(Math.floor(nowMs)) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n)
  return Buffer.from(`${nanos}_${randomInt(0x7fffffff)}`, 'latin1').toString('hex')
}

/**
 * mod_userid: at HandleFoundProduct the first matching rule of the request's product (or of
 * `global` when the product has no rules) makes sure the client has a user-id cookie: when the
 * request has none, a new id is added to the forwarded request and, at HandleReadResponse, sent
 * to the client in `Set-Cookie`.
 */
export function createModUserid(): BfeModule {
  return {
    name: 'mod_userid',
    dataFiles: [productRuleFile('mod_userid/userid_rule.data', useridRules)],
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const table = ctx.ruleTable('mod_userid', ctx.confFile(conf.Basic.DataPath), useridRules)
      const debug = conf.Log.OpenDebug
      const counters = ctx.metrics(['REQ_WITH_UID', 'UID_CREATED'])
      // Set-Cookie values waiting for the response, by request (no per-request Map otherwise).
      const pending = new WeakMap<BfeRequest, string>()

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function setUid(req: BfeRequest) {
          const rules = table.value.rulesOrGlobal(req.product)
          for (let i = 0; i < rules.length; i++) {
            const r = rules[i] as UseridRule
            if (!r.Cond.condition.test(req)) continue
            const p = r.Params
            if (req.cookies().has(p.Name)) {
              counters.REQ_WITH_UID++
              return HandlerResult.GoOn
            }
            const id = genUid()
            req.addCookie(p.Name, id)
            const now = Date.now()
            pending.set(
              req,
              setCookieString({
                name: p.Name,
                value: id,
                path: p.Path,
                domain: p.Domain,
                expires: new Date(now + p.MaxAge * 1000),
                maxAge: p.MaxAge,
              }),
            )
            counters.UID_CREATED++
            if (debug) ctx.log.debug({ cookie: p.Name, id, uri: req.rawUri }, 'user id assigned')
            break
          }
          return HandlerResult.GoOn
        },
        'setUid',
      )

      ctx.callbacks.addResponseFilter(
        CallbackPoint.ReadResponse,
        function sendUid(req: BfeRequest, res: BfeResponse | undefined) {
          if (res === undefined) return HandlerResult.GoOn
          const cookie = pending.get(req)
          if (cookie !== undefined) res.headers.add('Set-Cookie', cookie)
          return HandlerResult.GoOn
        },
        'sendUid',
      )
    },
  }
}
