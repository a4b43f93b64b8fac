import { BfeConfError } from '../basic/errors.js'
import { type Condition, compileCondition } from '../condition/index.js'
import type { AdvancedRule, BasicRule, RouteRuleConf } from '../config/route-rule.js'

/** An advanced rule with its condition compiled to a closure. */
export interface CompiledAdvancedRule extends AdvancedRule {
  condition: Condition
}

/** route_rule.data with every `Cond` compiled: what RouteTable is built from. */
export interface CompiledRouteRule {
  Version: string
  /** product → basic rules in file order. */
  BasicRule: Map<string, BasicRule[]>
  /** product → advanced rules in file order (present even when the list is empty). */
  ProductRule: Map<string, CompiledAdvancedRule[]>
  /** Condition warnings (decisions.md D1), each naming the file and the rule. */
  warnings: string[]
}

/**
 * Compiles every `Cond` of validated route_rule.data in file order. A condition error is a
 * BfeConfError naming `file` and the pointer of the Cond field.
 */
export function compileRouteRule(file: string, conf: RouteRuleConf): CompiledRouteRule {
  const warnings: string[] = []
  const advanced = new Map<string, CompiledAdvancedRule[]>()
  for (const [product, rules] of conf.ProductRule) {
    const out: CompiledAdvancedRule[] = []
    for (const r of rules) {
      let compiled: ReturnType<typeof compileCondition>
      try {
        compiled = compileCondition(r.Cond)
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err)
        throw new BfeConfError(file, r.condPointer, msg, { cause: err })
      }
      for (const w of compiled.warnings) warnings.push(`${file}: ${r.condPointer} ${w}`)
      out.push({ ...r, condition: compiled.condition })
    }
    advanced.set(product, out)
  }
  return { Version: conf.Version, BasicRule: conf.BasicRule, ProductRule: advanced, warnings }
}
