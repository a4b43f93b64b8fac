import { type BfeConf, loadBfeConf } from '../config/bfe-conf.js'
import { type GslbData, loadGslbData } from '../config/gslb.js'
import { serverDataPaths } from '../config/server-data.js'
import { silentLogger } from '../log/logger.js'
import { loadModuleFiles } from '../module/module-file.js'
import { ModuleFramework } from '../module/registry.js'
import type { BfeModule } from '../module/types.js'
import { moduleCatalog } from '../modules/index.js'
import { loadServerDataConf, type ServerDataConf } from '../route/server-data.js'

/**
 * Everything a routing decision reads, loaded from a configuration root without a server: bfe.conf,
 * the routing files, the balancing files and the enabled modules (initialised, so their rule
 * tables are loaded). No TLS files (a decision does not depend on them), no socket, no prober.
 */
export interface DecisionConf {
  readonly confRoot: string
  readonly conf: BfeConf
  readonly serverData: ServerDataConf
  readonly gslb: GslbData
  readonly framework: ModuleFramework
  /** Load warnings (D1 ...), each naming its file. */
  readonly warnings: readonly string[]
}

/** Loads a configuration for `bfe explain` / `bfe simulate`. Throws BfeConfError. */
export async function loadDecisionConf(
  confRoot: string,
  modules: readonly BfeModule[] = [],
): Promise<DecisionConf> {
  const conf = loadBfeConf(confRoot)
  const s = conf.Server
  const serverData = loadServerDataConf(serverDataPaths(conf), { confRoot: conf.confRoot })
  const gslb = loadGslbData({ clusterTable: s.ClusterTableConf, gslb: s.GslbConf })
  const fileModules = await loadModuleFiles(s.ModuleFile)
  const framework = new ModuleFramework(moduleCatalog([...modules, ...fileModules]))
  await framework.init(s.Modules, { confRoot: conf.confRoot, settings: conf, log: silentLogger() })
  return {
    confRoot: conf.confRoot,
    conf,
    serverData,
    gslb,
    framework,
    warnings: [...conf.warnings, ...serverData.warnings],
  }
}
