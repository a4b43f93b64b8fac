import type { BfeRequest } from '../../basic/request.js'
import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext, Reloadable } from '../../module/context.js'
import {
  type ProductRuleDecl,
  type ProductRuleTable,
  productRuleFile,
} from '../../module/rule-table.js'
import type { BfeModule, ExplainStep } from '../../module/types.js'
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
 * Applies the rewrite rules of one product to `req` (filter and explain): every matching rule's
 * actions in order, a matching rule with `Last` stops. Calls `seen` for each rule evaluated
 * (explain passes one; the filter does not).
 */
export function applyRewrites(
  rules: readonly RewriteRule[],
  req: BfeRequest,
  seen?: (index: number, matched: boolean) => void,
): void {
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i] as RewriteRule
    const m = r.Cond.condition.test(req)
    if (seen !== undefined) seen(i, m)
    if (!m) continue
    const actions = r.Actions
    for (let j = 0; j < actions.length; j++) (actions[j] as (typeof actions)[number])(req)
    if (r.Last) break
  }
}

/**
 * mod_rewrite: at HandleAfterLocation (after routing, so it never changes the cluster), every rule
 * of the request's product whose condition matches applies its actions in order to the host, path
 * and query sent to the backend; a matching rule with `Last` stops.
 */
export function createModRewrite(): BfeModule {
  let loaded: Reloadable<ProductRuleTable<RewriteRule>> | undefined
  return {
    name: 'mod_rewrite',
    dataFiles: [productRuleFile('mod_rewrite/rewrite.data', rewriteRules)],
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.AfterLocation || loaded === undefined) return undefined
      const rules = loaded.value.rules(req.product)
      if (rules.length === 0) return undefined
      const before = { host: req.host, uri: req.uri }
      const matched: (boolean | undefined)[] = rules.map(() => undefined)
      applyRewrites(rules, req, (i, m) => {
        matched[i] = m
      })
      const seen = rules.map((r, i) => ({ index: i, cond: r.Cond.source, matched: matched[i] }))
      const after = { host: req.host, uri: req.uri }
      const changed = before.host !== after.host || before.uri !== after.uri
      const parts: string[] = []
      if (before.host !== after.host) parts.push(`host ${before.host} -> ${after.host}`)
      if (before.uri !== after.uri) parts.push(`uri ${before.uri} -> ${after.uri}`)
      return {
        summary: changed
          ? `rewrite ${parts.join(', ')}`
          : matched.includes(true)
            ? 'rules matched; nothing changed'
            : 'no rule matched',
        rules: seen,
        detail: { before, after },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const table = ctx.ruleTable('mod_rewrite', ctx.confFile(conf.Basic.DataPath), rewriteRules)
      loaded = table
      const debug = conf.Log.OpenDebug
      ctx.callbacks.addRequestFilter(
        CallbackPoint.AfterLocation,
        function rewrite(req) {
          const rules = table.value.rules(req.product)
          if (rules.length === 0) return HandlerResult.GoOn
          applyRewrites(rules, req)
          if (debug) ctx.log.debug({ uri: req.uri, host: req.host }, 'rewritten')
          return HandlerResult.GoOn
        },
        'rewrite',
      )
    },
  }
}
