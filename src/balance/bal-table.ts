import type { ClusterConf } from '../config/cluster-conf-types.js'
import type { GslbData } from '../config/gslb.js'
import {
  type BalancerLayout,
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

/** A checked balancing reload, built off to the side: `commit()` switches to it, `abort()` drops it. */
export interface PreparedGslb {
  /** Switches every cluster at once. Never throws. */
  commit(): void
  abort(): void
}

/**
 * Every cluster balancer, built from gslb.data + cluster_table.data and the clusters of
 * cluster_conf.data. A balancer lives as long as its cluster stays in gslb.data; a reload gives it
 * a new layout, in which backends with the same `addr:port` are the same objects, so their runtime
 * state (availability, counters, WRR position, slow start) survives.
 */
export class BalTable {
  /** Replaced as a whole by a reload, never changed in place (a Runtime keeps the one it saw). */
  private balancers: ReadonlyMap<string, ClusterBalancer>
  private confs: ReadonlyMap<string, ClusterConf>
  readonly counters: BalCounters
  private opts: BalancerOptions
  private version: BalTableVersion
  /** Bumped by every switch, so a plan made before another switch is rebuilt on commit. */
  private generation: number

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
    this.generation = 0
    this.plan(data, false).commit()
  }

  /** The balancer of `cluster`, undefined when gslb.data does not list it (BK_NO_CLUSTER). */
  lookup(cluster: string): ClusterBalancer | undefined {
    return this.balancers.get(cluster)
  }

  /** The balancers now, by cluster: a map no reload changes (a reload makes a new one). */
  get clusters(): ReadonlyMap<string, ClusterBalancer> {
    return this.balancers
  }

  /**
   * First half of a balancing reload (`/reload/gslb_data_conf`) with already validated data:
   * builds every cluster's new sub-clusters and backends and changes nothing in use. On commit,
   * all clusters switch together: surviving backends (same `addr:port`) keep their state, new
   * ones are appended (slow start if configured), removed backends and clusters stop being
   * checked.
   */
  prepareGslb(data: GslbData): PreparedGslb {
    return this.plan(data, true)
  }

  /** Prepares and commits at once. */
  reloadGslb(data: GslbData): void {
    this.prepareGslb(data).commit()
  }

  private plan(data: GslbData, isReload: boolean): PreparedGslb {
    const generation = this.generation
    const next = new Map<string, ClusterBalancer>()
    const layouts: { b: ClusterBalancer; layout: BalancerLayout; isNew: boolean }[] = []
    for (const [name, weights] of data.gslb.Clusters) {
      let b = this.balancers.get(name)
      const isNew = b === undefined
      if (b === undefined) b = new ClusterBalancer(name, this.opts)
      const layout = b.planLayout(weights, data.clusterTable.Config.get(name), isReload && !isNew)
      layouts.push({ b, layout, isNew })
      next.set(name, b)
    }
    const gone: ClusterBalancer[] = []
    for (const [name, b] of this.balancers) if (!next.has(name)) gone.push(b)
    const version: BalTableVersion = {
      ClusterTableConfVer: data.clusterTable.Version,
      GslbConfTimeStamp: data.gslb.Ts,
      GslbConfSrc: data.gslb.Hostname,
    }
    let done = false
    return {
      commit: () => {
        if (done) return
        done = true
        if (this.generation !== generation) {
          // another reload switched since this one was prepared: merge against what is in use
          this.plan(data, isReload).commit()
          return
        }
        this.generation++
        const prober = this.opts.prober
        for (const { b, layout, isNew } of layouts) {
          b.applyLayout(layout)
          if (isNew) {
            b.setConf(this.confs.get(b.clusterName))
            if (prober !== undefined) b.setProber(prober)
          }
        }
        for (const b of gone) b.stop()
        this.balancers = next
        this.version = version
      },
      abort: () => {
        done = true
      },
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
