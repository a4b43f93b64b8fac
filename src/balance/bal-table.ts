import type { ClusterConf } from '../config/cluster-conf-types.js'
import type { GslbData } from '../config/gslb.js'
import {
  type BalancerOptions,
  type BalCounters,
  ClusterBalancer,
  newBalCounters,
} from './cluster-balancer.js'
import type { HealthProber } from './health.js'

/** `/monitor/bal_table_status` without a cluster name. */
export interface BalTableStatus {
  Balancers: Record<
    string,
    { SubClusters: Record<string, { BackendNum: number }>; BackendNum: number }
  >
  BackendNum: number
}

/** `/monitor/bal_table_version`. */
export interface BalTableVersion {
  ClusterTableConfVer: string
  GslbConfTimeStamp: string
  GslbConfSrc: string
}

/**
 * Every cluster balancer, built from gslb.data + cluster_table.data and the clusters of
 * cluster_conf.data. Reloads update balancers in place so backend runtime state survives.
 */
export class BalTable {
  private readonly balancers: Map<string, ClusterBalancer>
  private confs: ReadonlyMap<string, ClusterConf>
  readonly counters: BalCounters
  private opts: BalancerOptions
  private version: BalTableVersion

  constructor(
    data: GslbData,
    confs: ReadonlyMap<string, ClusterConf>,
    opts: Omit<BalancerOptions, 'counters'> = {},
  ) {
    this.balancers = new Map()
    this.confs = confs
    this.counters = newBalCounters()
    this.opts = {
      random: opts.random,
      now: opts.now,
      counters: this.counters,
      prober: opts.prober,
    }
    this.version = { ClusterTableConfVer: '', GslbConfTimeStamp: '', GslbConfSrc: '' }
    this.apply(data, false)
  }

  /** The balancer of `cluster`, undefined when gslb.data does not list it (BK_NO_CLUSTER). */
  lookup(cluster: string): ClusterBalancer | undefined {
    return this.balancers.get(cluster)
  }

  /**
   * Balancing reload (`/reload/gslb_data_conf`) with already validated data. Applied cluster by
   * cluster: surviving backends (same `addr:port`) keep their state, new ones are appended,
   * clusters no longer in gslb.data are dropped and their checkers stop.
   */
  reloadGslb(data: GslbData): void {
    this.apply(data, true)
  }

  private apply(data: GslbData, isReload: boolean): void {
    const clusters = data.gslb.Clusters
    for (const [name, b] of this.balancers) {
      if (!clusters.has(name)) {
        b.stop()
        this.balancers.delete(name)
      }
    }
    for (const [name, weights] of clusters) {
      let b = this.balancers.get(name)
      const isNew = b === undefined
      if (b === undefined) {
        b = new ClusterBalancer(name, this.opts)
        this.balancers.set(name, b)
      }
      b.setSubClusters(weights, data.clusterTable.Config.get(name), isReload && !isNew)
      if (isNew) b.setConf(this.confs.get(name))
    }
    this.version = {
      ClusterTableConfVer: data.clusterTable.Version,
      GslbConfTimeStamp: data.gslb.Ts,
      GslbConfSrc: data.gslb.Hostname,
    }
  }

  /** Routing reload: each balancer takes its cluster's new GslbBasic, CheckConf, SlowStartTime. */
  applyClusterConfs(confs: ReadonlyMap<string, ClusterConf>): void {
    this.confs = confs
    for (const [name, b] of this.balancers) b.setConf(confs.get(name))
  }

  /**
   * Gives every balancer (and those added by later reloads) the prober that runs health checks;
   * a table built without one never probes.
   */
  setProber(prober: HealthProber): void {
    this.opts = { ...this.opts, prober }
    for (const b of this.balancers.values()) b.setProber(prober)
  }

  /** Stops every health checker (shutdown). */
  stop(): void {
    for (const b of this.balancers.values()) b.stop()
  }

  /** `/monitor/bal_table_status`. */
  status(): BalTableStatus {
    const out: BalTableStatus = { Balancers: {}, BackendNum: 0 }
    for (const [name, b] of this.balancers) {
      const s = b.status()
      out.Balancers[name] = s
      out.BackendNum += s.BackendNum
    }
    return out
  }

  /** `/monitor/bal_table_status?cluster_name=X`. */
  clusterStatus(name: string): { status: 'Exist' | 'Not Exist' | 'No SubCluster' } {
    const b = this.balancers.get(name)
    if (b === undefined) return { status: 'Not Exist' }
    return { status: b.subClusters.length === 0 ? 'No SubCluster' : 'Exist' }
  }

  /** `/monitor/bal_table_version`. */
  versionInfo(): BalTableVersion {
    return { ...this.version }
  }
}
