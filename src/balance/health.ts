import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import type { CheckConf, HTTPSConf } from '../config/cluster-conf-types.js'
import type { Backend } from './backend.js'

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
 * starts for it.
 */
export function onBackendFailure(backend: Backend): void {
  const host = backend.host
  if (host === undefined || backend.removed || host.healthCheckDisabled()) return
  backend.failNum++
  const conf = host.checkConf()
  if (backend.available && backend.failNum >= conf.FailNum) {
    backend.available = false
    backend.succNum = 0
    if (!conf.ActiveCheck) startChecker(backend)
  }
}

/** `backend` answered with `status`: an outlier status counts as a failure, others reset it. */
export function onBackendSuccess(backend: Backend, status: number): void {
  const host = backend.host
  if (host?.isOutlierStatus(status)) {
    onBackendFailure(backend)
    return
  }
  backend.failNum = 0
}

function markUp(backend: Backend): void {
  backend.available = true
  backend.failNum = 0
  backend.succNum = 0
  backend.restarted = true
}

// ---- recovery checker (§6.2) ---------------------------------------------------------------

/** Starts the recovery checker of a down backend (no-op if one runs already). */
export function startChecker(backend: Backend): void {
  if (backend.checking || backend.removed || backend.available) return
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
  if (conf.ActiveCheck && !host.healthCheckDisabled()) {
    // the cluster's active checker brings it back
    b.checking = false
    return
  }
  const ac = new AbortController()
  b.checkAbort = ac
  void runCheck(b, conf, host.httpsConf(), ac.signal).then((ok) => {
    if (b.checkAbort === ac) b.checkAbort = undefined
    if (b.removed || !b.checking) return
    if (ok) {
      b.succNum++
      if (b.succNum >= Math.max(1, conf.SuccNum)) {
        markUp(b)
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

// ---- always-on active check (decisions.md D14) ----------------------------------------------

/** What the active checker reads from its cluster, at the time of each round. */
export interface ActiveCheckTarget {
  checkConf(): CheckConf
  httpsConf(): HTTPSConf
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
    if (!this.stopped) return
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
    if (this.stopped) return
    const conf = this.target.checkConf()
    const https = this.target.httpsConf()
    for (const b of this.target.backendList()) {
      if (b.probing || b.removed) continue
      this.probe(b, conf, https)
    }
    this.schedule(Math.max(1, conf.CheckInterval))
  }

  private probe(b: Backend, conf: CheckConf, https: HTTPSConf): void {
    b.probing = true
    const ac = new AbortController()
    this.inFlight.add(ac)
    void runCheck(b, conf, https, ac.signal).then((ok) => {
      this.inFlight.delete(ac)
      b.probing = false
      if (this.stopped || b.removed || ac.signal.aborted) return
      if (ok) {
        if (b.available) {
          b.failNum = 0
          return
        }
        b.succNum++
        if (b.succNum >= Math.max(1, conf.SuccNum)) markUp(b)
        return
      }
      b.succNum = 0
      b.failNum++
      if (b.available && b.failNum >= conf.FailNum) b.available = false
    })
  }
}

// ---- the checks ----------------------------------------------------------------------------

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

function hostPort(addr: string, port: number): string {
  return net.isIPv6(addr) ? `[${addr}]:${port}` : `${addr}:${port}`
}

/**
 * Runs one check of kind CheckConf.Schem against a backend. Resolves true on success; never
 * rejects. `signal` aborts it (the backend was removed or the table stopped).
 */
export function runCheck(
  b: Backend,
  conf: CheckConf,
  https: HTTPSConf,
  signal: AbortSignal,
): Promise<boolean> {
  switch (conf.Schem) {
    case 'tcp':
      return tcpCheck(b, conf, signal)
    case 'tls':
      return tlsCheck(b, conf, https, signal, false)
    case 'https':
      return tlsCheck(b, conf, https, signal, true)
    default:
      return httpCheck(b, conf, signal)
  }
}

/** Settles once: clears the timer, drops the abort listener, destroys what was opened. */
function guarded(
  signal: AbortSignal,
  timeoutMs: number | undefined,
  run: (finish: (ok: boolean) => void) => { destroy(): void },
): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false)
      return
    }
    let done = false
    let timer: NodeJS.Timeout | undefined
    let handle: { destroy(): void } | undefined
    const onAbort = () => finish(false)
    const finish = (ok: boolean) => {
      if (done) return
      done = true
      if (timer !== undefined) clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      handle?.destroy()
      resolve(ok)
    }
    signal.addEventListener('abort', onAbort)
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => finish(false), timeoutMs)
      timer.unref()
    }
    try {
      handle = run(finish)
      if (done) handle.destroy()
    } catch {
      finish(false)
    }
  })
}

function tcpCheck(b: Backend, conf: CheckConf, signal: AbortSignal): Promise<boolean> {
  const { port } = checkTarget(b, conf)
  return guarded(signal, conf.CheckTimeout, (finish) => {
    const sock = net.connect({ host: b.addr, port })
    sock.on('error', () => finish(false))
    sock.on('connect', () => finish(true))
    return sock
  })
}

function httpCheck(b: Backend, conf: CheckConf, signal: AbortSignal): Promise<boolean> {
  const { port } = checkTarget(b, conf)
  const host = conf.Host === '' ? hostPort(b.addr, b.port) : conf.Host
  return guarded(signal, conf.CheckTimeout, (finish) => {
    const req = http.request({
      host: b.addr,
      port,
      method: 'GET',
      path: conf.Uri === '' ? '/' : conf.Uri,
      headers: { Host: host, Accept: '*/*' },
      agent: false,
    })
    req.on('error', () => finish(false))
    req.on('response', (res) => {
      res.on('error', () => {})
      res.resume()
      finish(statusCodeMatches(conf.StatusCode, res.statusCode ?? 0))
    })
    req.end()
    return req
  })
}

const TLS_DEFAULT_TIMEOUT = 30_000
const HTTPS_IO_DEADLINE = 3_000

function tlsCheck(
  b: Backend,
  conf: CheckConf,
  https: HTTPSConf,
  signal: AbortSignal,
  withRequest: boolean,
): Promise<boolean> {
  const { hostName, port } = checkTarget(b, conf)
  const sni = conf.HostType.toLowerCase() === 'instance_ip' ? b.addr : stripBrackets(hostName)
  const hostHeader = conf.Host === '' ? hostPort(b.addr, b.port) : conf.Host
  return guarded(signal, conf.CheckTimeout ?? TLS_DEFAULT_TIMEOUT, (finish) => {
    const opts: tls.ConnectionOptions = {
      host: b.addr,
      port,
      rejectUnauthorized: !https.RSInsecureSkipVerify,
    }
    if (sni !== '' && net.isIP(sni) === 0) opts.servername = sni
    if (sni !== '') opts.checkServerIdentity = (_h, cert) => tls.checkServerIdentity(sni, cert)
    if (https.RSCAList.length > 0) opts.ca = https.RSCAList
    if (https.BFECert !== undefined && https.BFEKey !== undefined) {
      opts.cert = https.BFECert
      opts.key = https.BFEKey
    }
    const sock = tls.connect(opts)
    sock.on('error', () => finish(false))
    sock.on('secureConnect', () => {
      if (!withRequest) {
        finish(true)
        return
      }
      sock.setTimeout(HTTPS_IO_DEADLINE, () => finish(false))
      sock.once('data', (chunk: Buffer) => {
        const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(chunk.toString('latin1', 0, 64))
        if (m === null) {
          finish(false)
          return
        }
        const status = Number(m[1])
        finish(
          conf.StatusCodeRange !== ''
            ? statusRangeMatches(conf.StatusCodeRange, status)
            : statusCodeMatches(conf.StatusCode, status),
        )
      })
      sock.on('end', () => finish(false))
      sock.write(
        `GET ${conf.Uri === '' ? '/' : conf.Uri} HTTP/1.1\r\nHost: ${hostHeader}\r\n` +
          'User-Agent: BFE-Health-Check\r\n\r\n',
      )
    })
    return sock
  })
}

function stripBrackets(h: string): string {
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h
}
