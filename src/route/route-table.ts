import type { BfeRequest } from '../basic/request.js'
import type { Condition } from '../condition/index.js'
import {
  ADVANCED_MODE,
  type BasicRule,
  basicHostKey,
  prefixOfPattern,
} from '../config/route-rule.js'
import { normaliseRequestHost } from './host-table.js'
import type { CompiledRouteRule } from './route-rule.js'

/** Failure of a cluster lookup (lifecycle.md §5 step 6). */
export interface RouteError {
  readonly code: 'BK_FIND_LOCATION'
  readonly msg: 'no route rule found for product' | 'no rule match for this req'
}

export const ERR_NO_PRODUCT_RULE: RouteError = Object.freeze({
  code: 'BK_FIND_LOCATION',
  msg: 'no route rule found for product',
})
export const ERR_NO_MATCH_RULE: RouteError = Object.freeze({
  code: 'BK_FIND_LOCATION',
  msg: 'no rule match for this req',
})

/** Paths of one host bucket. */
class PathBucket {
  readonly exact = new Map<string, string>()
  /** Index (in the product's BasicRule list) of the rule of each exact path (explain only). */
  readonly exactRule = new Map<string, number>()
  /** Stored prefixes (each '' or ending in '/'), longest first; `rule` as in exactRule. */
  prefixes: { prefix: string; cluster: string; rule: number }[] = []

  lookup(path: string): string | undefined {
    const e = this.exact.get(path)
    if (e !== undefined) return e
    // the request path is compared as if a '/' were appended when it lacks one (and is not '')
    const addSlash = path.length > 0 && path.charCodeAt(path.length - 1) !== 47
    for (const { prefix, cluster } of this.prefixes) {
      if (path.startsWith(prefix)) return cluster
      if (addSlash && prefix.length === path.length + 1 && prefix.startsWith(path)) return cluster
    }
    return undefined
  }

  /** `lookup` answering the index of the rule that matched. */
  lookupRule(path: string): number | undefined {
    const e = this.exactRule.get(path)
    if (e !== undefined) return e
    const addSlash = path.length > 0 && path.charCodeAt(path.length - 1) !== 47
    for (const { prefix, rule } of this.prefixes) {
      if (path.startsWith(prefix)) return rule
      if (addSlash && prefix.length === path.length + 1 && prefix.startsWith(path)) return rule
    }
    return undefined
  }
}

/** Basic rules of one product: host buckets. */
class BasicTable {
  readonly exact = new Map<string, PathBucket>()
  /** `.a.b` → bucket of `*.a.b`. */
  readonly wildcard = new Map<string, PathBucket>()
  any: PathBucket | undefined = undefined

  bucket(host: string): PathBucket | undefined {
    const e = this.exact.get(host)
    if (e !== undefined) return e
    // longest configured wildcard suffix that ends the host
    for (let i = host.indexOf('.'); i !== -1; i = host.indexOf('.', i + 1)) {
      const w = this.wildcard.get(host.slice(i))
      if (w === undefined) continue
      // one label before the suffix: that bucket; more: only the catch-all, no shorter wildcard
      return host.lastIndexOf('.', i - 1) === -1 ? w : this.any
    }
    return this.any
  }
}

interface ProductRoutes {
  basic: BasicTable | undefined
  /** The product's basic rules as written (explain only). */
  basicRules: readonly BasicRule[]
  /** undefined when the product has no ProductRule entry. */
  advanced: readonly { condition: Condition; cluster: string; source: string }[] | undefined
}

/** One basic rule as `explain` reports it. */
export interface BasicRuleExplain {
  readonly index: number
  readonly hostname: readonly string[]
  readonly path: readonly string[]
  readonly cluster: string
  /** The rule the basic table chose for the request (host bucket, then exact or longest prefix). */
  readonly matched: boolean
}

/** One advanced rule as `explain` reports it. */
export interface AdvancedRuleExplain {
  readonly index: number
  readonly cond: string
  readonly cluster: string
  /** Whether the condition matched; undefined when it was not evaluated (an earlier rule won). */
  readonly matched: boolean | undefined
}

/** A cluster lookup with its reasons: every rule considered, in order. */
export interface RouteExplain {
  readonly cluster: string | undefined
  readonly error: RouteError | undefined
  readonly basic: readonly BasicRuleExplain[]
  /** The basic rule chosen was `ADVANCED_MODE` (the advanced rules decide). */
  readonly advancedMode: boolean
  readonly advanced: readonly AdvancedRuleExplain[]
}

/**
 * Cluster lookup for a product (config.md §4.3): basic host+path rules, then advanced rules in
 * order. Built once per routing load; lookups allocate at most a host substring.
 */
export class RouteTable {
  private readonly products = new Map<string, ProductRoutes>()

  constructor(conf: CompiledRouteRule) {
    for (const [product, rules] of conf.BasicRule) {
      const t = new BasicTable()
      for (let ri = 0; ri < rules.length; ri++) {
        const r = rules[ri] as BasicRule
        for (const h of r.Hostname.length === 0 ? ['*'] : r.Hostname) {
          const key = basicHostKey(h)
          let b: PathBucket | undefined
          if (key === '*') b = t.any ??= new PathBucket()
          else {
            const map = key.startsWith('*.') ? t.wildcard : t.exact
            const k = key.startsWith('*.') ? key.slice(1) : key
            b = map.get(k)
            if (b === undefined) {
              b = new PathBucket()
              map.set(k, b)
            }
          }
          for (const p of r.Path.length === 0 ? ['*'] : r.Path) {
            if (p.endsWith('*'))
              b.prefixes.push({ prefix: prefixOfPattern(p), cluster: r.ClusterName, rule: ri })
            else {
              b.exact.set(p, r.ClusterName)
              b.exactRule.set(p, ri)
            }
          }
        }
      }
      const sortBucket = (b: PathBucket): void => {
        b.prefixes.sort((x, y) => y.prefix.length - x.prefix.length)
      }
      for (const b of t.exact.values()) sortBucket(b)
      for (const b of t.wildcard.values()) sortBucket(b)
      if (t.any !== undefined) sortBucket(t.any)
      this.products.set(product, { basic: t, basicRules: rules, advanced: undefined })
    }
    for (const [product, rules] of conf.ProductRule) {
      const advanced = rules.map((r) => ({
        condition: r.condition,
        cluster: r.ClusterName,
        source: r.Cond,
      }))
      const p = this.products.get(product)
      if (p === undefined)
        this.products.set(product, { basic: undefined, basicRules: [], advanced })
      else p.advanced = advanced
    }
  }

  /** For /monitor/host_table_status: products with advanced rules, products with basic rules. */
  sizes(): { advanced: number; basic: number } {
    let advanced = 0
    let basic = 0
    for (const p of this.products.values()) {
      if (p.advanced !== undefined) advanced++
      if (p.basic !== undefined) basic++
    }
    return { advanced, basic }
  }

  /** Products that have basic or advanced rules. */
  productNames(): IterableIterator<string> {
    return this.products.keys()
  }

  /** Cluster name for `req` in `product`, or a `BK_FIND_LOCATION` error. */
  lookup(product: string, req: BfeRequest): string | RouteError {
    const p = this.products.get(product)
    if (p === undefined) return ERR_NO_PRODUCT_RULE
    if (p.basic !== undefined) {
      const bucket = p.basic.bucket(normaliseRequestHost(req.hostname))
      const c = bucket?.lookup(req.path)
      if (c !== undefined && c !== ADVANCED_MODE) return c
    }
    const adv = p.advanced
    if (adv === undefined) return ERR_NO_PRODUCT_RULE
    for (let i = 0; i < adv.length; i++) {
      const r = adv[i]
      if (r?.condition.test(req)) return r.cluster
    }
    return ERR_NO_MATCH_RULE
  }

  /**
   * `lookup` with its reasons (`bfe explain`, the trace header): the basic rule chosen, then each
   * advanced rule in order with whether it matched. Same answer as `lookup`; conditions are
   * evaluated exactly as there (pure functions of the request).
   */
  explain(product: string, req: BfeRequest): RouteExplain {
    const p = this.products.get(product)
    if (p === undefined)
      return {
        cluster: undefined,
        error: ERR_NO_PRODUCT_RULE,
        basic: [],
        advancedMode: false,
        advanced: [],
      }
    let chosen: number | undefined
    if (p.basic !== undefined)
      chosen = p.basic.bucket(normaliseRequestHost(req.hostname))?.lookupRule(req.path)
    const basic = p.basicRules.map((r, index) => ({
      index,
      hostname: r.Hostname,
      path: r.Path,
      cluster: r.ClusterName,
      matched: index === chosen,
    }))
    const chosenCluster = chosen === undefined ? undefined : p.basicRules[chosen]?.ClusterName
    const advancedMode = chosenCluster === ADVANCED_MODE
    if (chosenCluster !== undefined && !advancedMode)
      return { cluster: chosenCluster, error: undefined, basic, advancedMode, advanced: [] }
    const adv = p.advanced
    if (adv === undefined)
      return { cluster: undefined, error: ERR_NO_PRODUCT_RULE, basic, advancedMode, advanced: [] }
    const advanced: AdvancedRuleExplain[] = []
    let cluster: string | undefined
    for (let i = 0; i < adv.length; i++) {
      const r = adv[i] as (typeof adv)[number]
      const matched = cluster === undefined ? r.condition.test(req) : undefined
      if (matched === true) cluster = r.cluster
      advanced.push({ index: i, cond: r.source, cluster: r.cluster, matched })
    }
    return {
      cluster,
      error: cluster === undefined ? ERR_NO_MATCH_RULE : undefined,
      basic,
      advancedMode,
      advanced,
    }
  }
}
