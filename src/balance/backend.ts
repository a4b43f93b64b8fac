import type { CheckConf, HTTPSConf } from '../config/cluster-conf-types.js'
import type { HealthProber } from './health.js'

/** Configured weights are scaled by this factor so slow start can ramp in small steps. */
export const WEIGHT_SCALE = 100

/**
 * What the health code needs from the cluster that owns a backend. Implemented by ClusterBalancer;
 * always read at the time of use so a routing reload changes checks already in flight.
 */
export interface HealthHost {
  readonly clusterName: string
  checkConf(): CheckConf
  httpsConf(): HTTPSConf
  healthCheckDisabled(): boolean
  /** Runs health checks; undefined (config test, unit tests): no probe and no timer, ever. */
  readonly prober: HealthProber | undefined
  /** True when `status` matches the cluster's OutlierDetectionHttpCode. */
  isOutlierStatus(status: number): boolean
}

/**
 * One backend instance of a sub-cluster with its runtime state. Every field is set in the
 * constructor so the object keeps a single shape.
 */
export class Backend {
  /** Name from cluster_table.data (a reload may rename a surviving backend). */
  name: string
  readonly addr: string
  readonly port: number
  /** `addr:port`, the identity kept across reloads. */
  readonly key: string
  readonly subCluster: string
  /** Configured weight × WEIGHT_SCALE (the target of slow start). */
  finalWeight: number
  /** Weight used by the algorithms now (× WEIGHT_SCALE). */
  weight: number
  /** Smooth WRR counter. */
  current: number

  available: boolean
  /** Consecutive failures (traffic or active probes). */
  failNum: number
  /** Consecutive successful checks. */
  succNum: number
  /** Requests in flight from this process. */
  activeRequests: number

  /** Added by a reload or brought back by a checker: slow start begins on the next pick. */
  restarted: boolean
  /** Slow start running since this time (ms); 0 when not ramping. */
  slowStartBegin: number

  /** The owning cluster (health settings), undefined for a detached backend (tests). */
  host: HealthHost | undefined
  /** Removed by a reload or the table was stopped: checkers end. */
  removed: boolean
  /** A recovery checker is running. */
  checking: boolean
  /** An active probe (D14) is in flight. */
  probing: boolean
  /** Pending checker sleep, cleared on stop. */
  checkTimer: NodeJS.Timeout | undefined
  /** Aborts an in-flight check on stop. */
  checkAbort: AbortController | undefined
  /** When the recovery checker last started a probe (epoch ms, 0 never). */
  lastCheckAt: number

  constructor(name: string, addr: string, port: number, weight: number, subCluster: string) {
    this.name = name
    this.addr = addr
    this.port = port
    this.key = `${addr}:${port}`
    this.subCluster = subCluster
    this.finalWeight = weight * WEIGHT_SCALE
    this.weight = this.finalWeight
    this.current = this.weight
    this.available = true
    this.failNum = 0
    this.succNum = 0
    this.activeRequests = 0
    this.restarted = false
    this.slowStartBegin = 0
    this.host = undefined
    this.removed = false
    this.checking = false
    this.probing = false
    this.checkTimer = undefined
    this.checkAbort = undefined
    this.lastCheckAt = 0
  }

  /** Configured weight (as in cluster_table.data). */
  get confWeight(): number {
    return this.finalWeight / WEIGHT_SCALE
  }

  /** Applies a new configured weight from a reload; a weight ≤ 0 resets `current`. */
  setConfWeight(weight: number): void {
    this.finalWeight = weight * WEIGHT_SCALE
    if (this.slowStartBegin === 0 || weight <= 0) this.weight = this.finalWeight
    if (weight <= 0) {
      this.current = 0
      this.slowStartBegin = 0
    }
  }

  /** Eligible for a pick: available with a positive weight. */
  get eligible(): boolean {
    return this.available && this.weight > 0
  }
}
