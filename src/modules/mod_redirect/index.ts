import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import type { ProductRuleDecl } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'
import { redirectAction, redirectStatus } from './actions.js'

/** mod_redirect.conf (spec/modules.md §5). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_redirect/redirect.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** One rule of redirect.data: exactly one action, a redirect status. */
const rule = s.object({
  Cond: s.cond(),
  Actions: s.array(redirectAction, { minItems: 1, maxItems: 1 }),
  Status: redirectStatus,
})

export type RedirectRule = Infer<typeof rule>

export const redirectRules: ProductRuleDecl<RedirectRule> = {
  rule,
  title: 'mod_redirect redirect.data',
}

/**
 * mod_redirect: at HandleFoundProduct, the first rule of the request's product whose condition
 * matches computes the redirect URL and status; the pipeline writes the redirect (lifecycle.md
 * §4.4) without asking a backend.
 */
export function createModRedirect(): BfeModule {
  return {
    name: 'mod_redirect',
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const table = ctx.ruleTable('mod_redirect', ctx.confFile(conf.Basic.DataPath), redirectRules)
      const debug = conf.Log.OpenDebug
      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function redirect(req) {
          const rules = table.value.rules(req.product)
          for (let i = 0; i < rules.length; i++) {
            const r = rules[i] as RedirectRule
            if (!r.Cond.condition.test(req)) continue
            const url = (r.Actions[0] as (typeof r.Actions)[number])(req)
            req.redirect = { url, code: r.Status, headers: undefined }
            if (debug) ctx.log.debug({ rule: r.Cond.source, url, code: r.Status }, 'redirect')
            return HandlerResult.Redirect
          }
          return HandlerResult.GoOn
        },
        'redirect',
      )
    },
  }
}
