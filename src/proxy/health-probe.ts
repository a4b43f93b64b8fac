import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import type { Backend } from '../balance/backend.js'
import {
  checkTarget,
  type HealthProber,
  statusCodeMatches,
  statusRangeMatches,
} from '../balance/health.js'
import type { CheckConf, HTTPSConf } from '../config/cluster-conf-types.js'
import { backendTlsOptions } from './backend-tls.js'

// The sockets of health checking (balancing.md §6): balance/health.ts decides when to probe and
// what a result means; this file opens the connections.

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
  // The name sent in SNI and verified: the backend IP (HostType Instance_IP), else the check's
  // Host, else the cluster's RSHost as for traffic, else none (the address dialled is verified).
  const name =
    conf.HostType.toLowerCase() === 'instance_ip' ? b.addr : stripBrackets(hostName) || https.RSHost
  const hostHeader = conf.Host === '' ? hostPort(b.addr, b.port) : conf.Host
  return guarded(signal, conf.CheckTimeout ?? TLS_DEFAULT_TIMEOUT, (finish) => {
    const sock = tls.connect({ host: b.addr, port, ...backendTlsOptions(https, name) })
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

/** The prober the server gives its BalTable: real http, https, tcp and tls checks. */
export const socketHealthProber: HealthProber = { probe: runCheck }
