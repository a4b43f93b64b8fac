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
import { firstMatchIndex, firstMatchSeen } from '../explain-rules.js'
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

/** Sets `req.redirect` for a matching rule (filter and explain); the URL. */
function applyRedirect(req: BfeRequest, r: RedirectRule): string {
  const url = (r.Actions[0] as (typeof r.Actions)[number])(req)
  req.redirect = { url, code: r.Status, headers: undefined }
  return url
}

/**
 * mod_redirect: at HandleFoundProduct, the first rule of the request's product whose condition
 * matches computes the redirect URL and status; the pipeline writes the redirect (lifecycle.md
 * §4.4) without asking a backend.
 */
export function createModRedirect(): BfeModule {
  let loaded: Reloadable<ProductRuleTable<RedirectRule>> | undefined
  return {
    name: 'mod_redirect',
    dataFiles: [productRuleFile('mod_redirect/redirect.data', redirectRules)],
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.FoundProduct || loaded === undefined) return undefined
      const rules = loaded.value.rules(req.product)
      if (rules.length === 0) return undefined
      const i = firstMatchIndex(rules, req)
      const seen = firstMatchSeen(rules, i)
      if (i === -1) return { summary: 'no rule matched', rules: seen }
      const r = rules[i] as RedirectRule
      const url = applyRedirect(req, r)
      return {
        summary: `redirect ${r.Status} to ${url} (rule ${i})`,
        result: HandlerResult.Redirect,
        rules: seen,
        detail: { status: r.Status, location: url },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const table = ctx.ruleTable('mod_redirect', ctx.confFile(conf.Basic.DataPath), redirectRules)
      loaded = table
      const debug = conf.Log.OpenDebug
      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function redirect(req) {
          const rules = table.value.rules(req.product)
          if (rules.length === 0) return HandlerResult.GoOn
          const i = firstMatchIndex(rules, req)
          if (i === -1) return HandlerResult.GoOn
          const r = rules[i] as RedirectRule
          const url = applyRedirect(req, r)
          if (debug) ctx.log.debug({ rule: r.Cond.source, url, code: r.Status }, 'redirect')
          return HandlerResult.Redirect
        },
        'redirect',
      )
    },
  }
}
