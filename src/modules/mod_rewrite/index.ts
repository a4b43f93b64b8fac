import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import type { ProductRuleDecl } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'
import { rewriteAction } from './actions.js'

/** mod_rewrite.conf (spec/modules.md §4). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_rewrite/rewrite.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** One rule of rewrite.data: actions compiled on load. */
const rule = s.object({
  Cond: s.cond(),
  Actions: s.array(rewriteAction, { minItems: 1 }),
  Last: s.bool(),
})

export type RewriteRule = Infer<typeof rule>

export const rewriteRules: ProductRuleDecl<RewriteRule> = {
  rule,
  title: 'mod_rewrite rewrite.data',
}

/**
 * mod_rewrite: at HandleAfterLocation (after routing, so it never changes the cluster), every rule
 * of the request's product whose condition matches applies its actions in order to the host, path
 * and query sent to the backend; a matching rule with `Last` stops.
 */
export function createModRewrite(): BfeModule {
  return {
    name: 'mod_rewrite',
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const table = ctx.ruleTable('mod_rewrite', ctx.confFile(conf.Basic.DataPath), rewriteRules)
      const debug = conf.Log.OpenDebug
      ctx.callbacks.addRequestFilter(
        CallbackPoint.AfterLocation,
        function rewrite(req) {
          const rules = table.value.rules(req.product)
          for (let i = 0; i < rules.length; i++) {
            const r = rules[i] as RewriteRule
            if (!r.Cond.condition.test(req)) continue
            const actions = r.Actions
            for (let j = 0; j < actions.length; j++) (actions[j] as (typeof actions)[number])(req)
            if (debug)
              ctx.log.debug({ rule: r.Cond.source, uri: req.uri, host: req.host }, 'rewritten')
            if (r.Last) break
          }
          return HandlerResult.GoOn
        },
        'rewrite',
      )
    },
  }
}
