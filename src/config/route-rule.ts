import { checkShape, routeRuleSchema } from './core-schemas.js'
import { readJsonFile } from './data-file.js'
import { JsonNode } from './json-node.js'

/** Cluster name of a basic rule that hands over to the product's advanced rules. */
export const ADVANCED_MODE = 'ADVANCED_MODE'

/** A basic (host + path) rule; empty lists were written as omitted (= `*`). */
export interface BasicRule {
  Hostname: string[]
  Path: string[]
  ClusterName: string
  /** JSON pointer of the rule, for messages. */
  pointer: string
}

/** An advanced rule as written; `route/route-rule.ts` compiles `Cond`. */
export interface AdvancedRule {
  Cond: string
  ClusterName: string
  /** JSON pointer of the rule, for messages. */
  pointer: string
  /** JSON pointer of its Cond field (as spelled in the file), for condition errors. */
  condPointer: string
}

/** route_rule.data (config.md §4.3), validated; conditions are still text. */
export interface RouteRuleConf {
  Version: string
  /** product → basic rules in file order. */
  BasicRule: Map<string, BasicRule[]>
  /** product → advanced rules in file order (present even when the list is empty). */
  ProductRule: Map<string, AdvancedRule[]>
}

/**
 * Parses and validates route_rule.data text. Throws BfeConfError. Conditions are compiled by
 * `compileRouteRule` in route/.
 */
export function parseRouteRule(file: string, text: string): RouteRuleConf {
  return decodeRouteRule(JsonNode.parse(file, text))
}

/** Validates the parsed JSON of the file (`root.file` names it in errors). */
export function decodeRouteRule(root: JsonNode): RouteRuleConf {
  checkShape(routeRuleSchema, root)
  const version = root.get('Version').string()
  const basicNode = root.get('BasicRule')
  const productNode = root.get('ProductRule')
  if (basicNode.absent && productNode.absent) root.fail('needs BasicRule or ProductRule')

  const basic = new Map<string, BasicRule[]>()
  for (const [product, list] of basicNode.namedEntries('product')) {
    const rules: BasicRule[] = []
    // duplicate detection: host bucket key → normalised path keys
    const buckets = new Map<string, Set<string>>()
    for (const r of list.items()) {
      r.entries(true)
      const clusterName = r.get('ClusterName').name('cluster')
      const hostNode = r.get('Hostname')
      const pathNode = r.get('Path')
      const hosts = hostNode.strings([])
      const paths = pathNode.strings([])
      if (hosts.length === 0 && paths.length === 0) r.fail('needs a Hostname or a Path')
      hosts.forEach((h, i) => {
        const bad = checkBasicHost(h)
        if (bad !== undefined) hostNode.get(String(i)).fail(`"${h}": ${bad}`)
      })
      paths.forEach((p, i) => {
        const bad = checkBasicPath(p)
        if (bad !== undefined) pathNode.get(String(i)).fail(`"${p}": ${bad}`)
      })
      for (const h of hosts.length === 0 ? ['*'] : hosts) {
        const hk = basicHostKey(h)
        let set = buckets.get(hk)
        if (set === undefined) {
          set = new Set()
          buckets.set(hk, set)
        }
        for (const p of paths.length === 0 ? ['*'] : paths) {
          const pk = basicPathKey(p)
          if (set.has(pk)) r.fail(`path duplicated: "${p}" for host "${h}" in product "${product}"`)
          set.add(pk)
        }
      }
      rules.push({ Hostname: hosts, Path: paths, ClusterName: clusterName, pointer: r.pointer })
    }
    basic.set(product, rules)
  }

  const advanced = new Map<string, AdvancedRule[]>()
  for (const [product, list] of productNode.namedEntries('product')) {
    const rules: AdvancedRule[] = []
    for (const r of list.items()) {
      r.entries(true)
      const clusterName = r.get('ClusterName').name('cluster')
      const condNode = r.get('Cond')
      const cond = condNode.string()
      rules.push({
        Cond: cond,
        ClusterName: clusterName,
        pointer: r.pointer,
        condPointer: condNode.pointer,
      })
    }
    advanced.set(product, rules)
  }
  return { Version: version, BasicRule: basic, ProductRule: advanced }
}

export function loadRouteRule(file: string): RouteRuleConf {
  return decodeRouteRule(readJsonFile(file))
}

function checkBasicHost(host: string): string | undefined {
  if (host === '') return 'hostname must not be empty'
  const star = host.indexOf('*')
  if (star === -1) return undefined
  if (host.indexOf('*', star + 1) !== -1) return 'only one * is allowed in a hostname'
  if (host !== '*' && !host.startsWith('*.'))
    return 'a wildcard hostname must be * or start with *.'
  return undefined
}

function checkBasicPath(path: string): string | undefined {
  if (path === '') return 'path must not be empty'
  const star = path.indexOf('*')
  if (star === -1) return undefined
  if (path.indexOf('*', star + 1) !== -1) return 'only one * is allowed in a path'
  if (star !== path.length - 1) return '* must be the last character of a path'
  return undefined
}

/**
 * Key of a basic-rule host bucket: lower-cased, trailing dot dropped; `*.x` keeps its form and
 * `*` stays `*`.
 */
export function basicHostKey(host: string): string {
  const h = host.toLowerCase()
  return h.length > 1 && h.endsWith('.') ? h.slice(0, -1) : h
}

/**
 * Key of a basic-rule path: exact paths as written (`=` prefix), prefix paths `P*` become `P` plus
 * a `/` unless `P` is empty or already ends with one (`*` prefix marker).
 */
export function basicPathKey(path: string): string {
  if (!path.endsWith('*')) return `=${path}`
  return `*${prefixOfPattern(path)}`
}

/** The stored prefix of a `P*` path pattern. */
export function prefixOfPattern(path: string): string {
  const p = path.slice(0, -1)
  return p === '' || p.endsWith('/') ? p : `${p}/`
}
