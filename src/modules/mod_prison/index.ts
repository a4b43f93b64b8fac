import type { BfeRequest } from '../../basic/request.js'
import { ini } from '../../config/ini.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext, Reloadable } from '../../module/context.js'
import { loadProductRules, productRuleFile } from '../../module/rule-table.js'
import type { BfeModule, ExplainStep } from '../../module/types.js'
import { newRuleState, PrisonRule, prisonRules, type RuleState } from './rule.js'

/** mod_prison.conf (spec/modules.md §14). */
const confSchema = {
  Basic: { ProductRulePath: ini.string('mod_prison/prison.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** BFE's error code for a request stopped by a prison rule. */
export const ERR_PRISON = 'PRISON'

const GLOBAL = 'global'
const EMPTY: readonly PrisonRule[] = Object.freeze([])

/** The compiled rules by product. */
export interface PrisonTable {
  readonly products: ReadonlyMap<string, readonly PrisonRule[]>
}

/**
 * Builds the runtime table of a prison.data file. A rule keeps the counters and jail of the rule
 * with the same product and name in `states` (enlarged when it asks for more room); states no
 * rule of the new or the current table uses are dropped.
 */
export function buildPrisonTable(
  file: string,
  states: Map<string, RuleState>,
  current: PrisonTable | undefined,
): { value: PrisonTable; version: string; warnings: readonly string[] } {
  const t = loadProductRules(file, prisonRules)
  const products = new Map<string, PrisonRule[]>()
  const used = new Set<string>()
  for (const product of t.productNames()) {
    const list: PrisonRule[] = []
    for (const c of t.rules(product)) {
      const key = `${product}\n${c.Name}`
      let st = states.get(key)
      if (st === undefined) {
        st = newRuleState(c.AccessDictSize, c.PrisonDictSize)
        states.set(key, st)
      } else {
        st.access.enlarge(c.AccessDictSize)
        st.prison.enlarge(c.PrisonDictSize)
      }
      used.add(key)
      list.push(new PrisonRule(c, st))
    }
    products.set(product, list)
  }
  if (current !== undefined)
    for (const [product, list] of current.products)
      for (const r of list) used.add(`${product}\n${r.name}`)
  for (const key of states.keys()) if (!used.has(key)) states.delete(key)
  return { value: { products }, version: t.versionText(), warnings: t.warnings }
}

const COUNTERS = ['ALL_CHECKED', 'ALL_PRISON'] as const

/**
 * mod_prison: at HandleFoundProduct, the rules of `global` and then of the request's product count
 * the requests of each visitor (as the rule's AccessSignConf identifies it); a visitor over the
 * rule's Threshold within CheckPeriod is jailed for StayPeriod, and its requests get the rule's
 * action (CLOSE, FINISH, PASS or REQ_HEADER_SET).
 */
export function createModPrison(): BfeModule {
  let loaded: Reloadable<PrisonTable> | undefined
  return {
    name: 'mod_prison',
    dataFiles: [productRuleFile('mod_prison/prison.data', prisonRules)],
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.FoundProduct || loaded === undefined) return undefined
      const t = loaded.value
      const g = t.products.get(GLOBAL) ?? EMPTY
      const p = req.product === GLOBAL ? EMPTY : (t.products.get(req.product) ?? EMPTY)
      if (g.length === 0 && p.length === 0) return undefined
      const all = [...g, ...p]
      const counted: { rule: string; counted: boolean; [k: string]: unknown }[] = []
      const rules = all.map((r, i) => {
        const matched = r.cond.condition.test(req)
        if (matched) {
          const sign = r.signOf(req)
          counted.push({
            rule: r.name,
            counted: sign !== undefined,
            sign: sign ?? null,
            action: r.cmd,
            ...r.limits,
          })
        }
        return { index: i, cond: r.cond.source, matched }
      })
      const n = counted.filter((c) => c.counted === true).length
      return {
        summary:
          counted.length === 0
            ? 'no rule matched'
            : `counted by ${n} rule(s) (${counted.map((c) => String(c.rule)).join(', ')}); counters not known here`,
        rules,
        detail: {
          rules: counted,
          note: 'whether the visitor is over a threshold depends on live counters: not known at explain time',
        },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const states = new Map<string, RuleState>()
      let holder: Reloadable<PrisonTable> | undefined
      const table = ctx.reloadable('mod_prison', ctx.confFile(conf.Basic.ProductRulePath), (f) =>
        buildPrisonTable(f, states, holder?.value),
      )
      holder = table
      loaded = table
      const m = ctx.metrics(COUNTERS)
      const debug = conf.Log.OpenDebug

      /** Runs one product's rules: GoOn, or the code that ends the request. */
      const run = (req: BfeRequest, rules: readonly PrisonRule[], now: number): HandlerResult => {
        for (let i = 0; i < rules.length; i++) {
          const r = rules[i] as PrisonRule
          if (!r.cond.condition.test(req)) continue
          m.ALL_CHECKED++
          if (!r.check(req, now)) continue
          m.ALL_PRISON++
          if (debug) ctx.log.debug({ rule: r.name, action: r.cmd, uri: req.rawUri }, 'jailed')
          switch (r.cmd) {
            case 'CLOSE':
              req.errCode = ERR_PRISON
              return HandlerResult.Close
            case 'FINISH':
              req.errCode = ERR_PRISON
              return HandlerResult.Finish
            case 'REQ_HEADER_SET':
              req.headers.set(r.params[0] as string, r.params[1] as string)
              break
            default:
              break
          }
        }
        return HandlerResult.GoOn
      }

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function prison(req) {
          const t = table.value
          const g = t.products.get(GLOBAL) ?? EMPTY
          const p = req.product === GLOBAL ? EMPTY : (t.products.get(req.product) ?? EMPTY)
          if (g.length === 0 && p.length === 0) return HandlerResult.GoOn
          const now = Date.now()
          const r = run(req, g, now)
          return r === HandlerResult.GoOn ? run(req, p, now) : r
        },
        'prison',
      )
    },
  }
}
