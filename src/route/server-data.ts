import { loadClusterConf } from '../config/cluster-conf.js'
import type { ClusterConf } from '../config/cluster-conf-types.js'
import { loadHostRule } from '../config/host-rule.js'
import { loadRouteRule } from '../config/route-rule.js'
import { checkServerDataRefs, type ServerDataPaths } from '../config/server-data.js'
import { loadVipRule } from '../config/vip-rule.js'
import { HostTable } from './host-table.js'
import { compileRouteRule } from './route-rule.js'
import { RouteTable } from './route-table.js'

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

/**
 * Loads host_rule, vip_rule, route_rule and cluster_conf, validates each (config/), compiles the
 * route conditions, runs the cross-file checks (config.md §4.6) and builds the lookup tables. All
 * or nothing: throws BfeConfError.
 */
export function loadServerDataConf(
  paths: ServerDataPaths,
  opts: ServerDataOptions = {},
): ServerDataConf {
  const hostRule = loadHostRule(paths.hostRule)
  const vipRule = loadVipRule(paths.vipRule)
  const routeRule = compileRouteRule(paths.routeRule, loadRouteRule(paths.routeRule))
  const clusterOpts = opts.confRoot === undefined ? {} : { confRoot: opts.confRoot }
  const clusterConf = loadClusterConf(paths.clusterConf, clusterOpts)
  checkServerDataRefs(paths, hostRule, routeRule, clusterConf)

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
