import type { StickyBackend } from '../basic/request.js'
import { defaultClusterConf } from '../config/cluster-conf.js'
import type { CheckConf, ClusterConf, HashConf, HTTPSConf } from '../config/cluster-conf-types.js'
import type { BackendSpec } from '../config/cluster-table.js'
import * as clock from '../util/clock.js'
import { murmur3Sum64 } from '../util/murmur3.js'
import { Backend, type HealthHost } from './backend.js'
import { type HashSource, hashKey, type RandomSource } from './hash-key.js'
import {
  ActiveHealthCheck,
  expediteCheck,
  type HealthProber,
  OutlierMatcher,
  startChecker,
  stopBackendChecks,
} from './health.js'
import { applySlowStart } from './slow-start.js'
import { sortByKey, stickyPick } from './sticky.js'
import { wlcPick } from './wlc.js'
import { wrrPick } from './wrr.js'

/** The sub-cluster name that takes a share of traffic and rejects it. */
export const GSLB_BLACKHOLE = 'GSLB_BLACKHOLE'

/** One sub-cluster of a balancer: GSLB weight and backends in list order. */
export class SubCluster {
  readonly name: string
  weight: number
  readonly blackhole: boolean
  /** Backends in cluster_table.data order (survivors of reloads first, new ones appended). */
  backends: Backend[]
  /** The same backends sorted by `addr:port` (sticky hash). */
  sorted: Backend[]

  constructor(name: string, weight: number) {
    this.name = name
    this.weight = weight
    this.blackhole = name === GSLB_BLACKHOLE
    this.backends = []
    this.sorted = []
  }
}

/** A surviving backend's new name and configured weight, set when a layout is applied. */
export interface BackendUpdate {
  readonly backend: Backend
  readonly name: string
  readonly weight: number
}

/**
 * A balancer's sub-clusters and backends as a reload wants them: built by `planLayout` while the
 * current layout keeps serving, switched in by `applyLayout`.
 */
export interface BalancerLayout {
  readonly subClusters: SubCluster[]
  readonly totalWeight: number
  readonly totalWeightBig: bigint
  readonly positiveCount: number
  readonly single: SubCluster | undefined
  readonly byKey: Map<string, Backend>
  readonly allBackends: Backend[]
  readonly updates: readonly BackendUpdate[]
  /** Backends of the current layout missing from this one: their checks stop on apply. */
  readonly removed: readonly Backend[]
}

/** Counters of `/monitor/bal_state`. */
export interface BalCounters {
  ERR_BK_NO_SUB_CLUSTER: number
  ERR_BK_NO_SUB_CLUSTER_CROSS: number
  ERR_BK_NO_BACKEND: number
  ERR_BK_RETRY_TOO_MANY: number
  ERR_GSLB_BLACKHOLE: number
}

export function newBalCounters(): BalCounters {
  return {
    ERR_BK_NO_SUB_CLUSTER: 0,
    ERR_BK_NO_SUB_CLUSTER_CROSS: 0,
    ERR_BK_NO_BACKEND: 0,
    ERR_BK_RETRY_TOO_MANY: 0,
    ERR_GSLB_BLACKHOLE: 0,
  }
}

export const BalanceErrorCode = {
  RetryTooMany: 'BK_RETRY_TOOMANY',
  NoSubCluster: 'BK_NO_SUB_CLUSTER',
  GslbBlackhole: 'GSLB_BLACKHOLE',
  NoBackend: 'BK_NO_BACKEND',
  NoSubClusterCross: 'BK_NO_SUB_CLUSTER_CROSS',
  CrossRetryBalance: 'CROSS_RETRY_BALANCE',
} as const
export type BalanceErrorCode = (typeof BalanceErrorCode)[keyof typeof BalanceErrorCode]

export interface BalanceOk {
  readonly ok: true
  readonly backend: Backend
  readonly subCluster: SubCluster
  /** The backend is in another sub-cluster than the GSLB choice (cross retry). */
  readonly crossRetried: boolean
}

export interface BalanceError {
  readonly ok: false
  readonly code: BalanceErrorCode
  readonly msg: string
}

export type BalanceResult = BalanceOk | BalanceError

function err(code: BalanceErrorCode, msg: string): BalanceError {
  return Object.freeze({ ok: false, code, msg })
}

// Errors carry no per-request data, so one frozen object each is enough.
const ERR_RETRY_TOOMANY = err(BalanceErrorCode.RetryTooMany, 'retry too many')
const ERR_NO_SUB_CLUSTER = err(BalanceErrorCode.NoSubCluster, 'no sub cluster')
const ERR_BLACKHOLE = err(BalanceErrorCode.GslbBlackhole, 'traffic sent to GSLB_BLACKHOLE')
const ERR_NO_BACKEND = err(BalanceErrorCode.NoBackend, 'all backend is down')
const ERR_NO_SUB_CLUSTER_CROSS = err(
  BalanceErrorCode.NoSubClusterCross,
  'no sub cluster for cross retry',
)
const ERR_CROSS_RETRY = err(BalanceErrorCode.CrossRetryBalance, 'cross retry balance failed')

// Settings of a cluster that is in gslb.data but not in cluster_conf.data: the file's defaults.
const DEFAULTS = defaultClusterConf('')
const DEFAULT_CHECK_CONF: CheckConf = Object.freeze(DEFAULTS.CheckConf)
const DEFAULT_HTTPS_CONF: HTTPSConf = Object.freeze(DEFAULTS.HTTPSConf)
const DEFAULT_HASH_CONF: HashConf = Object.freeze(DEFAULTS.GslbBasic.HashConf)

export interface BalancerOptions {
  /** Random numbers in [0, 1); default Math.random. */
  random?: RandomSource | undefined
  /** Clock in ms (slow start); default the request-path clock (util/clock.ts). */
  now?: (() => number) | undefined
  /** Shared counters (the table's); a private set by default. */
  counters?: BalCounters | undefined
  /**
   * Runs health checks (the server passes `proxy/health-probe.ts`). Without one no probe and no
   * timer is started: a backend marked down stays down until `setProber` gives one.
   */
  prober?: HealthProber | undefined
}

/** Balancer of one cluster of gslb.data: GSLB pick of a sub-cluster, then SLB pick of a backend. */
export class ClusterBalancer implements HealthHost {
  readonly clusterName: string
  /** Sorted by name (byte order). */
  subClusters: SubCluster[]
  /** Sum of the positive sub-cluster weights. */
  totalWeight: number
  private totalWeightBig: bigint
  /** The only sub-cluster with a positive weight, undefined when there are 0 or several. */
  private single: SubCluster | undefined
  private positiveCount: number
  /** First eligible-by-config backend per `addr:port` (sticky-backend lookups). */
  private byKey: Map<string, Backend>
  private allBackends: Backend[]

  retryMax: number
  crossRetry: number
  hashConf: HashConf
  wlc: boolean
  slowStartTime: number
  conf: ClusterConf | undefined
  private outlier: OutlierMatcher
  private active: ActiveHealthCheck
  private stopped: boolean
  private proberRef: HealthProber | undefined

  readonly counters: BalCounters
  private readonly random: RandomSource
  private readonly now: () => number

  constructor(clusterName: string, opts: BalancerOptions = {}) {
    this.clusterName = clusterName
    this.subClusters = []
    this.totalWeight = 0
    this.totalWeightBig = 0n
    this.single = undefined
    this.positiveCount = 0
    this.byKey = new Map()
    this.allBackends = []
    // defaults before a cluster_conf.data entry is applied (balancing.md §1)
    this.retryMax = 3
    this.crossRetry = 1
    this.hashConf = DEFAULT_HASH_CONF
    this.wlc = false
    this.slowStartTime = 0
    this.conf = undefined
    this.outlier = new OutlierMatcher('')
    this.active = new ActiveHealthCheck(this)
    this.stopped = false
    this.proberRef = opts.prober
    this.counters = opts.counters ?? newBalCounters()
    this.random = opts.random ?? Math.random
    this.now = opts.now ?? clock.now
  }

  // ---- configuration -----------------------------------------------------------------------

  /**
   * Sets sub-clusters and backends at once (start-up, tests): `planLayout` then `applyLayout`.
   */
  setSubClusters(
    weights: ReadonlyMap<string, number>,
    table: ReadonlyMap<string, readonly BackendSpec[]> | undefined,
    isReload: boolean,
  ): void {
    this.applyLayout(this.planLayout(weights, table, isReload))
  }

  /**
   * Builds the sub-clusters and backends of gslb.data weights and the cluster's cluster_table.data
   * entry off to the side, without changing anything in use. Backends with the same `addr:port`
   * in the same sub-cluster are the same objects (runtime state and place kept; a new name or
   * weight waits for `applyLayout`); new ones are appended (flagged for slow start when
   * `isReload`); the others are listed in `removed`.
   */
  planLayout(
    weights: ReadonlyMap<string, number>,
    table: ReadonlyMap<string, readonly BackendSpec[]> | undefined,
    isReload: boolean,
  ): BalancerLayout {
    const old = new Map<string, SubCluster>()
    for (const sc of this.subClusters) old.set(sc.name, sc)
    const updates: BackendUpdate[] = []
    const removed: Backend[] = []
    const next: SubCluster[] = []
    for (const [name, weight] of weights) {
      const prev = old.get(name)
      old.delete(name)
      const sc = new SubCluster(name, weight)
      sc.backends = this.mergeBackends(
        name,
        prev?.backends ?? [],
        table?.get(name) ?? [],
        isReload,
        updates,
        removed,
      )
      sc.sorted = sortByKey(sc.backends)
      next.push(sc)
    }
    for (const sc of old.values()) for (const b of sc.backends) removed.push(b)
    next.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))

    let total = 0
    let count = 0
    let single: SubCluster | undefined
    const byKey = new Map<string, Backend>()
    const all: Backend[] = []
    for (const sc of next) {
      if (sc.weight > 0) {
        total += sc.weight
        count++
        single = sc
      }
      for (const b of sc.backends) {
        all.push(b)
        if (!byKey.has(b.key)) byKey.set(b.key, b)
      }
    }
    return {
      subClusters: next,
      totalWeight: total,
      totalWeightBig: BigInt(total),
      positiveCount: count,
      single: count === 1 ? single : undefined,
      byKey,
      allBackends: all,
      updates,
      removed,
    }
  }

  /**
   * Switches to a layout made by `planLayout` from the current one: renamed and reweighted
   * backends take their new values, removed backends stop being checked. Never throws.
   */
  applyLayout(l: BalancerLayout): void {
    this.subClusters = l.subClusters
    this.totalWeight = l.totalWeight
    this.totalWeightBig = l.totalWeightBig
    this.positiveCount = l.positiveCount
    this.single = l.single
    this.byKey = l.byKey
    this.allBackends = l.allBackends
    for (const u of l.updates) {
      u.backend.name = u.name
      u.backend.setConfWeight(u.weight)
    }
    for (const b of l.removed) stopBackendChecks(b)
  }

  private mergeBackends(
    subName: string,
    prev: readonly Backend[],
    specs: readonly BackendSpec[],
    isReload: boolean,
    updates: BackendUpdate[],
    removed: Backend[],
  ): Backend[] {
    // Specs by key, in file order; duplicates of one key are matched one by one.
    const wanted = new Map<string, BackendSpec[]>()
    for (const s of specs) {
      const k = `${s.Addr}:${s.Port}`
      const list = wanted.get(k)
      if (list === undefined) wanted.set(k, [s])
      else list.push(s)
    }
    const out: Backend[] = []
    for (const b of prev) {
      const spec = wanted.get(b.key)?.shift()
      if (spec === undefined) {
        removed.push(b)
        continue
      }
      if (b.name !== spec.Name || b.confWeight !== spec.Weight)
        updates.push({ backend: b, name: spec.Name, weight: spec.Weight })
      out.push(b)
    }
    for (const s of specs) {
      const k = `${s.Addr}:${s.Port}`
      const list = wanted.get(k)
      if (list === undefined || list[0] !== s) continue
      list.shift()
      const b = new Backend(s.Name, s.Addr, s.Port, s.Weight, subName)
      b.host = this
      b.restarted = isReload
      out.push(b)
    }
    return out
  }

  /** Some sub-cluster has a backend at `key` (`addr:port`). */
  hasBackend(key: string): boolean {
    return this.byKey.has(key)
  }

  /** Applies the cluster's cluster_conf.data entry (startup and routing reload). */
  setConf(conf: ClusterConf | undefined): void {
    this.conf = conf
    if (conf !== undefined) {
      const g = conf.GslbBasic
      this.retryMax = g.RetryMax
      this.crossRetry = g.CrossRetry
      this.hashConf = g.HashConf
      this.wlc = g.BalanceMode.toUpperCase() === 'WLC'
      this.slowStartTime = conf.BackendConf.SlowStartTime
      this.outlier = new OutlierMatcher(conf.BackendConf.OutlierDetectionHttpCode)
    }
    this.updateActiveCheck()
  }

  /**
   * Gives the balancer its prober: the active check starts if configured, and down backends get
   * their recovery checker.
   */
  setProber(prober: HealthProber): void {
    if (this.proberRef === prober) return
    this.proberRef = prober
    this.updateActiveCheck()
    if (!this.stopped && !this.active.running) {
      for (const b of this.allBackends) if (!b.available) startChecker(b)
    }
  }

  private updateActiveCheck(): void {
    const want =
      !this.stopped &&
      this.conf !== undefined &&
      this.conf.CheckConf.ActiveCheck &&
      !this.conf.ClusterBasic.DisableHealthCheck &&
      this.proberRef !== undefined
    if (want && !this.active.running) this.active.start()
    if (!want && this.active.running) {
      this.active.stop()
      // down backends now need the passive recovery checker
      if (!this.stopped) for (const b of this.allBackends) if (!b.available) startChecker(b)
    }
  }

  /** Stops every checker of this cluster (removed from gslb.data, or the table stops). */
  stop(): void {
    this.stopped = true
    this.active.stop()
    for (const b of this.allBackends) stopBackendChecks(b)
  }

  // ---- HealthHost --------------------------------------------------------------------------

  get prober(): HealthProber | undefined {
    return this.proberRef
  }

  checkConf(): CheckConf {
    return this.conf?.CheckConf ?? DEFAULT_CHECK_CONF
  }

  httpsConf(): HTTPSConf {
    return this.conf?.HTTPSConf ?? DEFAULT_HTTPS_CONF
  }

  healthCheckDisabled(): boolean {
    return this.conf?.ClusterBasic.DisableHealthCheck ?? false
  }

  isOutlierStatus(status: number): boolean {
    return this.outlier.match(status)
  }

  backendList(): readonly Backend[] {
    return this.allBackends
  }

  // ---- balancing ---------------------------------------------------------------------------

  /** Hash of the request's key (balancing.md §2). */
  hashOf(req: HashSource): bigint {
    return murmur3Sum64(hashKey(req, this.hashConf, this.random))
  }

  /** GSLB pick (§3); undefined when no sub-cluster has a positive weight. */
  pickSubCluster(hash: bigint): SubCluster | undefined {
    if (this.single !== undefined) return this.single
    if (this.positiveCount === 0) return undefined
    let w = Number(hash % this.totalWeightBig)
    const list = this.subClusters
    for (let i = 0; i < list.length; i++) {
      const sc = list[i]!
      if (sc.weight <= 0) continue
      w -= sc.weight
      if (w < 0) return sc
    }
    return undefined
  }

  /** SLB pick inside one sub-cluster (§5); undefined when no backend is eligible. */
  pickBackend(sc: SubCluster, hash: bigint): Backend | undefined {
    if (this.hashConf.SessionSticky) return stickyPick(sc.sorted, hash)
    applySlowStart(sc.backends, this.slowStartTime, this.now())
    return this.wlc ? wlcPick(sc.backends) : wrrPick(sc.backends)
  }

  /**
   * Chooses a backend for attempt number `retry` of a request (balancing.md §4.1). `sticky` is the
   * backend mod_session_sticky decoded for the request: it is chosen when its sub-cluster has a
   * positive weight and holds that `addr:port` available with a positive weight.
   */
  balance(req: HashSource, retry: number, sticky?: StickyBackend): BalanceResult {
    if (retry > this.retryMax + this.crossRetry) {
      this.counters.ERR_BK_RETRY_TOO_MANY++
      return ERR_RETRY_TOOMANY
    }
    if (sticky !== undefined) {
      const hit = this.stickyLookup(sticky)
      if (hit !== undefined) return hit
    }
    const hash = this.single === undefined || this.hashConf.SessionSticky ? this.hashOf(req) : 0n
    const sc = this.pickSubCluster(hash)
    if (sc === undefined) {
      this.counters.ERR_BK_NO_SUB_CLUSTER++
      return ERR_NO_SUB_CLUSTER
    }
    if (sc.blackhole) {
      this.counters.ERR_GSLB_BLACKHOLE++
      return ERR_BLACKHOLE
    }
    if (retry <= this.retryMax) {
      const b = this.pickBackend(sc, hash)
      if (b !== undefined) return { ok: true, backend: b, subCluster: sc, crossRetried: false }
      this.counters.ERR_BK_NO_BACKEND++
      this.expediteChecks(sc)
    }
    if (this.crossRetry <= 0) return ERR_NO_BACKEND

    // cross retry: a random other sub-cluster, weight >= 0, not the blackhole
    const list = this.subClusters
    let n = 0
    for (let i = 0; i < list.length; i++) {
      const o = list[i]!
      if (o !== sc && !o.blackhole && o.weight >= 0) n++
    }
    if (n === 0) {
      this.counters.ERR_BK_NO_SUB_CLUSTER_CROSS++
      return ERR_NO_SUB_CLUSTER_CROSS
    }
    let k = Math.floor(this.random() * n)
    if (k >= n) k = n - 1
    for (let i = 0; i < list.length; i++) {
      const o = list[i]!
      if (o === sc || o.blackhole || o.weight < 0) continue
      if (k-- > 0) continue
      const b = this.pickBackend(o, hash)
      if (b === undefined) return ERR_CROSS_RETRY
      return { ok: true, backend: b, subCluster: o, crossRetried: true }
    }
    return ERR_CROSS_RETRY
  }

  private stickyLookup(sticky: StickyBackend): BalanceOk | undefined {
    const sc = this.findSubCluster(sticky.subCluster)
    if (sc === undefined || sc.weight <= 0 || sc.blackhole) return undefined
    const list = sc.backends
    for (let i = 0; i < list.length; i++) {
      const b = list[i]!
      if (b.port === sticky.port && b.addr === sticky.addr) {
        if (!b.available || b.weight <= 0) return undefined
        return { ok: true, backend: b, subCluster: sc, crossRetried: false }
      }
    }
    return undefined
  }

  /** Every backend of `sc` is down: their recovery checkers probe now (health.ts). */
  private expediteChecks(sc: SubCluster): void {
    if (this.proberRef === undefined) return
    const now = Date.now()
    const list = sc.backends
    for (let i = 0; i < list.length; i++) {
      const b = list[i]!
      if (!b.available) expediteCheck(b, now)
    }
  }

  findSubCluster(name: string): SubCluster | undefined {
    const list = this.subClusters
    for (let i = 0; i < list.length; i++) if (list[i]!.name === name) return list[i]
    return undefined
  }

  /** Backend count per sub-cluster, for `/monitor/bal_table_status`. */
  status(): { SubClusters: Record<string, { BackendNum: number }>; BackendNum: number } {
    const subs: Record<string, { BackendNum: number }> = {}
    let total = 0
    for (const sc of this.subClusters) {
      subs[sc.name] = { BackendNum: sc.backends.length }
      total += sc.backends.length
    }
    return { SubClusters: subs, BackendNum: total }
  }
}
