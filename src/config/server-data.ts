import path from 'node:path'
import { BfeConfError } from '../basic/errors.js'
import type { BfeConf } from './bfe-conf.js'
import type { ClusterConfFile } from './cluster-conf.js'
import type { HostRuleConf } from './host-rule.js'
import { ADVANCED_MODE, type RouteRuleConf } from './route-rule.js'

/** The four files of server_data_conf, loaded and reloaded together. */
export interface ServerDataPaths {
  hostRule: string
  vipRule: string
  routeRule: string
  clusterConf: string
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
 * Cross-file checks of server_data_conf (config.md §4.6): every product with route rules is a
 * product of host_rule.data, and every cluster a rule names is in cluster_conf.data.
 */
export function checkServerDataRefs(
  paths: ServerDataPaths,
  hostRule: HostRuleConf,
  routeRule: RouteRuleConf,
  clusterConf: ClusterConfFile,
): void {
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
}
