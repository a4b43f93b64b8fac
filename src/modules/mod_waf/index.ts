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
import { WAF_RULES, type WafRuleCheck } from './rules.js'
import { logFilePath, logSection, WafLog } from './waf-log.js'

/** mod_waf.conf (spec/modules.md §16). */
const confSchema = {
  Basic: { ProductRulePath: ini.string('mod_waf/waf_rule.data') },
  Log: logSection,
} as const

const ruleNames = s.array(s.string({ oneOf: [...WAF_RULES.keys()] }), { default: [] })

/** One rule of waf_rule.data. */
const rule = s.check(
  s.object({ Cond: s.cond(), BlockRules: ruleNames, CheckRules: ruleNames }),
  (r, node) => {
    if (r.BlockRules.length === 0 && r.CheckRules.length === 0)
      node.fail('needs at least one of BlockRules and CheckRules')
  },
)

export type WafRule = Infer<typeof rule>

export const wafRules: ProductRuleDecl<WafRule> = {
  rule,
  title: 'mod_waf waf_rule.data',
}

/** What a WAF log line says about one rule run. */
interface WafJob {
  Rule: string
  Type: 'Block' | 'Check'
  Hit: boolean
  RuleRequest: { Method: string; Uri: string; Headers: Record<string, string[]> }
}

function headerMap(req: BfeRequest): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>
  const raw = req.headers.raw
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i] as string
    const list = out[k]
    if (list === undefined) out[k] = [raw[i + 1] as string]
    else list.push(raw[i + 1] as string)
  }
  return out
}

/**
 * mod_waf: at HandleFoundProduct, the first rule of the request's product whose condition matches
 * runs its block rules (a hit sets error `WAF` and ends the request: 403 and close, D7) and then
 * its check rules (hits are only counted). Every rule run is written to the WAF log.
 */
export function createModWaf(): BfeModule {
  let loaded: Reloadable<ProductRuleTable<WafRule>> | undefined
  return {
    name: 'mod_waf',
    dataFiles: [productRuleFile('mod_waf/waf_rule.data', wafRules)],
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.FoundProduct || loaded === undefined) return undefined
      const list = loaded.value.rules(req.product)
      if (list.length === 0) return undefined
      const i = firstMatchIndex(list, req)
      const rules = firstMatchSeen(list, i)
      if (i === -1) return { summary: 'no rule matched', rules }
      const r = list[i] as WafRule
      const blocked = r.BlockRules.find((n) => WAF_RULES.get(n)?.(req.headers) === true)
      const checks = r.CheckRules.filter((n) => WAF_RULES.get(n)?.(req.headers) === true)
      if (blocked !== undefined) {
        req.errCode = 'WAF'
        req.errMsg = `mod_waf: ${blocked}`
        return {
          summary: `blocked by WAF rule ${blocked} (rule ${i}): 403 and close`,
          result: HandlerResult.Finish,
          rules,
          detail: { blockedBy: blocked, checkHits: [] },
        }
      }
      return {
        summary:
          checks.length === 0
            ? `no WAF rule hit (rule ${i})`
            : `check rule(s) hit, counted only: ${checks.join(', ')} (rule ${i})`,
        rules,
        detail: { blockedBy: null, checkHits: checks },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const logPath = logFilePath(ctx.confPath, conf.Log, (p) => ctx.confFile(p))
      const table = ctx.ruleTable('mod_waf', ctx.confFile(conf.Basic.ProductRulePath), wafRules)
      loaded = table
      const log = new WafLog(logPath)
      const m = ctx.metrics([
        'CHECKED_REQ',
        'HIT_BLOCKED_REQ',
        'HIT_CHECKED_RULE',
        'BLOCKED_RULE_ERROR',
        'CHECKED_RULE_ERROR',
      ])

      const run = (req: BfeRequest, name: string, type: WafJob['Type']): boolean | undefined => {
        const check: WafRuleCheck | undefined = WAF_RULES.get(name)
        if (check === undefined) return undefined
        const hit = check(req.headers)
        const job: WafJob = {
          Rule: name,
          Type: type,
          Hit: hit,
          RuleRequest: { Method: req.method, Uri: req.rawUri, Headers: headerMap(req) },
        }
        log.write(job)
        return hit
      }

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function waf(req) {
          const rules = table.value.rules(req.product)
          if (rules.length === 0) return HandlerResult.GoOn
          const i = firstMatchIndex(rules, req)
          if (i !== -1) {
            const r = rules[i] as WafRule
            m.CHECKED_REQ++
            for (const name of r.BlockRules) {
              const hit = run(req, name, 'Block')
              if (hit === undefined) m.BLOCKED_RULE_ERROR++
              else if (hit) {
                req.errCode = 'WAF'
                req.errMsg = `mod_waf: ${name}`
                m.HIT_BLOCKED_REQ++
                return HandlerResult.Finish
              }
            }
            for (const name of r.CheckRules) {
              const hit = run(req, name, 'Check')
              if (hit === undefined) m.CHECKED_RULE_ERROR++
              else if (hit) m.HIT_CHECKED_RULE++
            }
          }
          return HandlerResult.GoOn
        },
        'waf',
      )
    },
  }
}
