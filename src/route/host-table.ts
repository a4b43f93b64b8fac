import type { HostRuleConf } from '../config/host-rule.js'
import type { VipRuleConf } from '../config/vip-rule.js'
import { normalizeIp } from '../util/ip.js'

/** Result of a product lookup. `hostTag` is '' when the product came from the VIP or default. */
export interface HostRoute {
  readonly product: string
  readonly hostTag: string
}

/** How a product was found: `explain`'s answer. */
export interface HostExplain extends HostRoute {
  readonly via: 'host' | 'wildcard' | 'vip' | 'default'
  /** The configured host name, wildcard, VIP or default product that matched. */
  readonly matched: string
}

/**
 * Product lookup (config.md §4.1): request host, exact then most specific wildcard (`*.a.b`
 * matches one or more labels in front of `.a.b`), then the VIP, then DefaultProduct.
 * Built once per routing load; lookups only read Maps.
 */
export class HostTable {
  private readonly exact: Map<string, HostRoute>
  /** `.a.b` → route of `*.a.b`; `''` → route of a bare `*`. */
  private readonly wildcard: Map<string, HostRoute>
  private readonly vips: Map<string, HostRoute>
  private readonly defaultRoute: HostRoute | undefined
  /** Every product of HostTags. */
  readonly products: ReadonlySet<string>
  readonly defaultProduct: string | undefined
  /**
   * The last Host looked up and its result (the table never changes): the requests of a
   * connection, and mostly of a server, carry the same Host, and one string comparison is
   * cheaper than normalising it and hashing it into the maps again.
   */
  private lastHost: string
  private lastRoute: HostRoute | undefined

  constructor(hostRule: HostRuleConf, vipRule: VipRuleConf | undefined) {
    this.lastHost = ''
    this.lastRoute = undefined
    this.exact = new Map()
    this.wildcard = new Map()
    this.vips = new Map()
    const tagProduct = new Map<string, string>()
    for (const [product, tags] of hostRule.HostTags) {
      for (const tag of tags) tagProduct.set(tag, product)
    }
    for (const [tag, hosts] of hostRule.Hosts) {
      const product = tagProduct.get(tag)
      if (product === undefined) continue // rejected by the loader
      const route: HostRoute = Object.freeze({ product, hostTag: tag })
      for (const h of hosts) {
        if (h === '*') this.wildcard.set('', route)
        else if (h.startsWith('*.')) this.wildcard.set(h.slice(1), route)
        else this.exact.set(h, route)
      }
    }
    if (vipRule !== undefined) {
      for (const [product, ips] of vipRule.Vips) {
        const route: HostRoute = Object.freeze({ product, hostTag: '' })
        for (const ip of ips) this.vips.set(ip, route)
      }
    }
    this.products = new Set(hostRule.HostTags.keys())
    this.defaultProduct = hostRule.DefaultProduct
    this.defaultRoute =
      hostRule.DefaultProduct === undefined
        ? undefined
        : Object.freeze({ product: hostRule.DefaultProduct, hostTag: '' })
  }

  /**
   * Full lookup: `host` is the Host header (or hostname; case, port and a trailing dot are
   * handled here), `vip` the session VIP. undefined = `BK_FIND_PRODUCT`.
   */
  lookup(host: string, vip: string | undefined): HostRoute | undefined {
    return (
      this.lookupHost(host) ??
      (vip === undefined ? undefined : this.lookupVip(vip)) ??
      this.defaultRoute
    )
  }

  /** Host part only. */
  lookupHost(host: string): HostRoute | undefined {
    if (host === this.lastHost && host !== '') return this.lastRoute
    const r = this.lookupHostUncached(host)
    this.lastHost = host
    this.lastRoute = r
    return r
  }

  private lookupHostUncached(host: string): HostRoute | undefined {
    const h = normaliseRequestHost(host)
    if (h === '') return undefined
    const exact = this.exact.get(h)
    if (exact !== undefined) return exact
    if (this.wildcard.size === 0) return undefined
    // the first dot from the left gives the longest (most specific) suffix
    for (let i = h.indexOf('.'); i > 0; i = h.indexOf('.', i + 1)) {
      const r = this.wildcard.get(h.slice(i))
      if (r !== undefined) return r
    }
    return this.wildcard.get('')
  }

  /**
   * `lookup` with its reason, for `bfe explain` and the trace header: which step gave the
   * product (`host` exact name, `wildcard`, `vip`, `default`) and the configured name that matched.
   */
  explain(host: string, vip: string | undefined): HostExplain | undefined {
    const h = normaliseRequestHost(host)
    if (h !== '') {
      const exact = this.exact.get(h)
      if (exact !== undefined) return { ...exact, via: 'host', matched: h }
      for (let i = h.indexOf('.'); i > 0 && this.wildcard.size > 0; i = h.indexOf('.', i + 1)) {
        const r = this.wildcard.get(h.slice(i))
        if (r !== undefined) return { ...r, via: 'wildcard', matched: `*${h.slice(i)}` }
      }
      const any = this.wildcard.get('')
      if (any !== undefined) return { ...any, via: 'wildcard', matched: '*' }
    }
    if (vip !== undefined) {
      const r = this.lookupVip(vip)
      if (r !== undefined) return { ...r, via: 'vip', matched: vip }
    }
    if (this.defaultRoute !== undefined)
      return { ...this.defaultRoute, via: 'default', matched: this.defaultRoute.product }
    return undefined
  }

  /** Table sizes for /monitor/host_table_status. */
  sizes(): { hosts: number; hostTags: number; vips: number } {
    const tags = new Set<string>()
    for (const r of this.exact.values()) tags.add(r.hostTag)
    for (const r of this.wildcard.values()) tags.add(r.hostTag)
    return {
      hosts: this.exact.size + this.wildcard.size,
      hostTags: tags.size,
      vips: this.vips.size,
    }
  }

  /** VIP part only (also used at accept time to set `session.product`). */
  lookupVip(vip: string): HostRoute | undefined {
    if (this.vips.size === 0 || vip === '') return undefined
    const r = this.vips.get(vip)
    if (r !== undefined) return r
    const n = normalizeIp(vip)
    return n === undefined || n === vip ? undefined : this.vips.get(n)
  }
}

/** Lower-cases a Host value, cuts it at the first `:` and drops a trailing dot. */
export function normaliseRequestHost(host: string): string {
  const colon = host.indexOf(':')
  let h = colon === -1 ? host : host.slice(0, colon)
  if (h.endsWith('.')) h = h.slice(0, -1)
  return h.toLowerCase()
}
