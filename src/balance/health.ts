import type { CheckConf, HTTPSConf } from '../config/cluster-conf-types.js'
import { serverLog } from '../log/logger.js'
import type { Backend } from './backend.js'

/**
 * Runs one health check (CheckConf.Schem: http, https, tcp or tls) against a backend. The state
 * machine below decides when to probe and what a result means; the prober owns the sockets, so
 * balance/ never touches the network. The server injects `proxy/health-probe.ts`; without a prober
 * no probe and no timer is ever started, and a backend marked down stays down.
 */
export interface HealthProber {
  /** Resolves true on success; never rejects. `signal` aborts it (backend removed, table stopped). */
  probe(backend: Backend, conf: CheckConf, https: HTTPSConf, signal: AbortSignal): Promise<boolean>
}

// ---- passive marking (balancing.md §6.1) --------------------------------------------------

/** OutlierDetectionHttpCode compiled once per cluster configuration. */
export class OutlierMatcher {
  /** Bit per status class: 1 << (status / 100). */
  readonly classMask: number
  readonly codes: ReadonlySet<number>

  constructor(pattern: string) {
    let mask = 0
    const codes = new Set<number>()
    for (const raw of pattern.split('|')) {
      const item = raw.trim().toLowerCase()
      if (item === '3xx' || item === '4xx' || item === '5xx') {
        mask |= 1 << Number(item[0])
      } else if (/^\d{1,3}$/.test(item)) {
        codes.add(Number(item))
      }
    }
    this.classMask = mask
    this.codes = codes
  }

  get empty(): boolean {
    return this.classMask === 0 && this.codes.size === 0
  }

  match(status: number): boolean {
    const cls = Math.floor(status / 100)
    if (cls >= 0 && cls < 10 && (this.classMask & (1 << cls)) !== 0) return true
    return this.codes.size !== 0 && this.codes.has(status)
  }
}

/**
 * A request to `backend` failed in a way that counts against it (connect, write, read, header
 * timeout). When the consecutive failures reach FailNum the backend goes down and one checker
 * starts for it. `reason` (the request's error code) goes into the log line when it does.
 */
export function onBackendFailure(backend: Backend, reason = 'request failed'): void {
  const host = backend.host
  if (host === undefined || backend.removed || host.healthCheckDisabled()) return
  backend.failNum++
  const conf = host.checkConf()
  if (backend.available && backend.failNum >= conf.FailNum) {
    backend.available = false
    backend.succNum = 0
    logDown(backend, `${backend.failNum} consecutive failed requests, last: ${reason}`)
    if (!conf.ActiveCheck) startChecker(backend)
  }
}

/** `backend` answered with `status`: an outlier status counts as a failure, others reset it. */
export function onBackendSuccess(backend: Backend, status: number): void {
  const host = backend.host
  if (host?.isOutlierStatus(status)) {
    onBackendFailure(backend, `status ${status} (OutlierDetectionHttpCode)`)
    return
  }
  backend.failNum = 0
}

function markUp(backend: Backend, reason: string): void {
  backend.available = true
  backend.failNum = 0
  backend.succNum = 0
  backend.restarted = true
  serverLog().info(
    { cluster: backend.host?.clusterName, subCluster: backend.subCluster, backend: backend.name },
    `backend ${backend.key} marked up: ${reason}`,
  )
}

function logDown(backend: Backend, reason: string): void {
  serverLog().warn(
    { cluster: backend.host?.clusterName, subCluster: backend.subCluster, backend: backend.name },
    `backend ${backend.key} marked down: ${reason}`,
  )
}

// ---- recovery checker (§6.2) ---------------------------------------------------------------

/**
 * Starts the recovery checker of a down backend (no-op if one runs already, or when the cluster
 * has no prober: the backend then stays down).
 */
export function startChecker(backend: Backend): void {
  if (backend.checking || backend.removed || backend.available) return
  if (backend.host?.prober === undefined) return
  backend.checking = true
  checkStep(backend)
}

/** Ends every check of a backend (it was removed by a reload, or the table stops). */
export function stopBackendChecks(backend: Backend): void {
  backend.removed = true
  backend.checking = false
  if (backend.checkTimer !== undefined) {
    clearTimeout(backend.checkTimer)
    backend.checkTimer = undefined
  }
  if (backend.checkAbort !== undefined) {
    backend.checkAbort.abort()
    backend.checkAbort = undefined
  }
}

function checkStep(b: Backend): void {
  b.checkTimer = undefined
  const host = b.host
  if (b.removed || b.available || host === undefined) {
    b.checking = false
    return
  }
  const conf = host.checkConf()
  const prober = host.prober
  if ((conf.ActiveCheck && !host.healthCheckDisabled()) || prober === undefined) {
    // the cluster's active checker brings it back (or nothing can probe it)
    b.checking = false
    return
  }
  const ac = new AbortController()
  b.checkAbort = ac
  b.lastCheckAt = Date.now()
  void prober.probe(b, conf, host.httpsConf(), ac.signal).then((ok) => {
    if (b.checkAbort === ac) b.checkAbort = undefined
    if (b.removed || !b.checking) return
    if (ok) {
      b.succNum++
      if (b.succNum >= Math.max(1, conf.SuccNum)) {
        markUp(b, `${b.succNum} successful health checks`)
        b.checking = false
        return
      }
    } else {
      b.succNum = 0
    }
    b.checkTimer = setTimeout(checkStep, Math.max(0, conf.CheckInterval), b)
    b.checkTimer.unref()
  })
}

/**
 * Recovery checks run at most this often on demand (see `expediteCheck`), whatever the
 * cluster's CheckInterval.
 */
export const EXPEDITE_GAP_MS = 100

/**
 * A request found no available backend: probe this down backend now instead of at the end of its
 * checker's CheckInterval sleep, so traffic resumes about as soon as the backend is back (nginx
 * and Envoy get there by trying down backends when all are down; BFE waits for the checker). No
 * more than one probe per EXPEDITE_GAP_MS, never two at once, and only while requests arrive.
 */
export function expediteCheck(b: Backend, now = Date.now()): void {
  if (!b.checking || b.checkTimer === undefined || b.available || b.removed) return
  if (now - b.lastCheckAt < EXPEDITE_GAP_MS) return
  clearTimeout(b.checkTimer)
  checkStep(b)
}

// ---- always-on active check (decisions.md D14) ----------------------------------------------

/** What the active checker reads from its cluster, at the time of each round. */
export interface ActiveCheckTarget {
  checkConf(): CheckConf
  httpsConf(): HTTPSConf
  /** Runs the probes; the checker does not start without one. */
  readonly prober: HealthProber | undefined
  /** Every backend of the cluster now. */
  backendList(): readonly Backend[]
}

/**
 * Probes every backend of a cluster every CheckInterval ms (our `CheckConf.ActiveCheck` key):
 * FailNum consecutive failed probes mark a backend down, SuccNum successes bring it back.
 */
export class ActiveHealthCheck {
  private readonly target: ActiveCheckTarget
  private timer: NodeJS.Timeout | undefined
  private readonly inFlight: Set<AbortController>
  private stopped: boolean

  constructor(target: ActiveCheckTarget) {
    this.target = target
    this.timer = undefined
    this.inFlight = new Set()
    this.stopped = true
  }

  get running(): boolean {
    return !this.stopped
  }

  start(): void {
    if (!this.stopped || this.target.prober === undefined) return
    this.stopped = false
    this.schedule(0)
  }

  stop(): void {
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    for (const ac of this.inFlight) ac.abort()
    this.inFlight.clear()
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => this.round(), ms)
    this.timer.unref()
  }

  private round(): void {
    this.timer = undefined
    const prober = this.target.prober
    if (this.stopped || prober === undefined) return
    const conf = this.target.checkConf()
    const https = this.target.httpsConf()
    for (const b of this.target.backendList()) {
      if (b.probing || b.removed) continue
      this.probe(prober, b, conf, https)
    }
    this.schedule(Math.max(1, conf.CheckInterval))
  }

  private probe(prober: HealthProber, b: Backend, conf: CheckConf, https: HTTPSConf): void {
    b.probing = true
    const ac = new AbortController()
    this.inFlight.add(ac)
    void prober.probe(b, conf, https, ac.signal).then((ok) => {
      this.inFlight.delete(ac)
      b.probing = false
      if (this.stopped || b.removed || ac.signal.aborted) return
      if (ok) {
        if (b.available) {
          b.failNum = 0
          return
        }
        b.succNum++
        if (b.succNum >= Math.max(1, conf.SuccNum))
          markUp(b, `${b.succNum} successful active health checks`)
        return
      }
      b.succNum = 0
      b.failNum++
      if (b.available && b.failNum >= conf.FailNum) {
        b.available = false
        logDown(b, `${b.failNum} consecutive failed active health checks`)
      }
    })
  }
}

// ---- reading check results (used by the prober) -------------------------------------------

/** StatusCode rule: 0 any; 1–31 class bit mask (1=1xx … 16=5xx); otherwise exact. */
export function statusCodeMatches(rule: number, status: number): boolean {
  if (rule === 0) return true
  if (rule > 0 && rule < 32) {
    const cls = Math.floor(status / 100)
    return cls >= 1 && cls <= 5 && (rule & (1 << (cls - 1))) !== 0
  }
  return rule === status
}

/** StatusCodeRange: `|`-separated 3-character patterns of digits and `x` (any digit). */
export function statusRangeMatches(range: string, status: number): boolean {
  const code = String(status)
  if (code.length !== 3) return false
  for (const raw of range.split('|')) {
    const p = raw.trim().toLowerCase()
    if (p.length !== 3) continue
    let ok = true
    for (let i = 0; i < 3; i++) {
      const c = p[i]
      if (c !== 'x' && c !== code[i]) {
        ok = false
        break
      }
    }
    if (ok) return true
  }
  return false
}

/** Host and port a check uses: a `name:port` CheckConf.Host replaces the backend port. */
export function checkTarget(b: Backend, conf: CheckConf): { hostName: string; port: number } {
  const host = conf.Host
  const m = /^(\[[^\]]*\]|[^:]*):(\d{1,5})$/.exec(host)
  if (m !== null) {
    const port = Number(m[2])
    if (port <= 65535) return { hostName: m[1] ?? '', port }
  }
  return { hostName: host, port: b.port }
}
