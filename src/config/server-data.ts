import path from 'node:path'
import { BfeConfError } from '../basic/errors.js'
import { HostTable } from '../route/host-table.js'
import { RouteTable } from '../route/route-table.js'
import type { BfeConf } from './bfe-conf.js'
import { loadClusterConf } from './cluster-conf.js'
import type { ClusterConf } from './cluster-conf-types.js'
import { loadHostRule } from './host-rule.js'
import { ADVANCED_MODE, loadRouteRule } from './route-rule.js'
import { loadVipRule } from './vip-rule.js'

export type { NameConf, NameInstance } from './name-conf.js'
export { loadNameConf } from './name-conf.js'

/** The four files of server_data_conf, loaded and reloaded together. */
export interface ServerDataPaths {
  hostRule: string
  vipRule: string
  routeRule: string
  clusterConf: string
}

/**
 * One immutable routing snapshot (config.md §4). A request keeps the snapshot it started with;
 * a reload builds a new one and swaps the reference.
 */
export interface ServerDataConf {
  readonly hostTable: HostTable
  readonly routeTable: RouteTable
  readonly clusterConfs: ReadonlyMap<string, ClusterConf>
  readonly versions: {
    readonly hostRule: string
    readonly vipRule: string
    readonly routeRule: string
    readonly clusterConf: string
  }
  /** Load warnings (condition D1 warnings, D17 path notes), each naming its file. */
  readonly warnings: readonly string[]
}

export interface ServerDataOptions {
  /** Configuration root: second place for paths inside cluster_conf.data (D17). */
  confRoot?: string
}

/** The server_data_conf paths of bfe.conf, or the same base names in `dir` (`?path=<dir>`). */
export function serverDataPaths(conf: BfeConf, dir?: string): ServerDataPaths {
  const s = conf.Server
  const inDir = (p: string): string => (dir === undefined ? p : path.join(dir, path.basename(p)))
  return {
    hostRule: inDir(s.HostRuleConf),
    vipRule: inDir(s.VipRuleConf),
    routeRule: inDir(s.RouteRuleConf),
    clusterConf: inDir(s.ClusterConf),
  }
}

/**
 * Loads host_rule, vip_rule, route_rule and cluster_conf, validates each, runs the cross-file
 * checks (config.md §4.6) and builds the lookup tables. All or nothing: throws BfeConfError.
 */
export function loadServerDataConf(
  paths: ServerDataPaths,
  opts: ServerDataOptions = {},
): ServerDataConf {
  const hostRule = loadHostRule(paths.hostRule)
  const vipRule = loadVipRule(paths.vipRule)
  const routeRule = loadRouteRule(paths.routeRule)
  const clusterOpts = opts.confRoot === undefined ? {} : { confRoot: opts.confRoot }
  const clusterConf = loadClusterConf(paths.clusterConf, clusterOpts)

  // every product with route rules must be a product of host_rule.data
  const checkProduct = (kind: string, product: string): void => {
    if (!hostRule.HostTags.has(product)) {
      throw new BfeConfError(
        paths.routeRule,
        `/${kind}/${product}`,
        `product "${product}" is not a product of ${paths.hostRule} HostTags`,
      )
    }
  }
  const checkCluster = (pointer: string, cluster: string): void => {
    if (!clusterConf.Config.has(cluster)) {
      throw new BfeConfError(
        paths.routeRule,
        `${pointer}/ClusterName`,
        `cluster "${cluster}" is not in ${paths.clusterConf}`,
      )
    }
  }
  for (const [product, rules] of routeRule.BasicRule) {
    checkProduct('BasicRule', product)
    for (const r of rules) {
      if (r.ClusterName !== ADVANCED_MODE) checkCluster(r.pointer, r.ClusterName)
    }
  }
  for (const [product, rules] of routeRule.ProductRule) {
    checkProduct('ProductRule', product)
    for (const r of rules) checkCluster(r.pointer, r.ClusterName)
  }

  const snapshot: ServerDataConf = {
    hostTable: new HostTable(hostRule, vipRule),
    routeTable: new RouteTable(routeRule),
    clusterConfs: clusterConf.Config,
    versions: Object.freeze({
      hostRule: hostRule.Version,
      vipRule: vipRule.Version,
      routeRule: routeRule.Version,
      clusterConf: clusterConf.Version,
    }),
    warnings: Object.freeze([...routeRule.warnings, ...clusterConf.notes]),
  }
  return Object.freeze(snapshot)
}
