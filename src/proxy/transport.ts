import { buildConnector, Pool } from 'undici'
import type { ClusterConf } from '../config/cluster-conf-types.js'
import { backendTlsOptions } from './backend-tls.js'

/** Idle upstream connections are dropped after this long (BFE's Go transport uses 90 s by default). */
const IDLE_TIMEOUT_MS = 60_000

interface PoolEntry {
  pool: Pool
  sig: string
}

/** What the request path keeps per backend object: the pool it used last and for which cluster conf. */
interface BackendSlot {
  cc: ClusterConf
  pool: Pool
}

/**
 * One undici Pool per backend `addr:port` and transport settings. A pool is created when a
 * backend is first used and kept while the cluster's transport settings stay the same, so a
 * routing reload that does not touch them keeps the warm connections (config.md §7).
 */
export class TransportPools {
  private readonly pools = new Map<string, PoolEntry>()
  /**
   * The request path's shortcut: a backend object and a cluster conf snapshot always map to the
   * same pool, so after the first request the lookup is one WeakMap probe and an identity check
   * instead of building the key and the transport signature again.
   */
  private readonly byBackend = new WeakMap<object, BackendSlot>()
  private readonly sigs = new WeakMap<ClusterConf, string>()

  /** The pool for `backend` (an object with `addr` and `port`) under the cluster conf `cc`. */
  forBackend(backend: { readonly addr: string; readonly port: number }, cc: ClusterConf): Pool {
    const slot = this.byBackend.get(backend)
    if (slot !== undefined && slot.cc === cc && !slot.pool.closed && !slot.pool.destroyed)
      return slot.pool
    const pool = this.keyed(backend.addr, backend.port, cc)
    this.byBackend.set(backend, { cc, pool })
    return pool
  }

  /** The pool by `addr:port|cluster`, replaced when the cluster's transport settings changed. */
  private keyed(addr: string, port: number, cc: ClusterConf): Pool {
    const key = `${addr}:${port}|${cc.name}`
    const entry = this.pools.get(key)
    const sig = this.signature(cc)
    if (entry !== undefined && entry.sig === sig) return entry.pool
    if (entry !== undefined) void entry.pool.close().catch(() => {})
    const pool = createPool(addr, port, cc)
    this.pools.set(key, { pool, sig })
    return pool
  }

  private signature(cc: ClusterConf): string {
    let sig = this.sigs.get(cc)
    if (sig === undefined) {
      sig = transportSignature(cc)
      this.sigs.set(cc, sig)
    }
    return sig
  }

  /** Closes the pools of backends that are no longer in use. */
  retain(keep: (addr: string, port: number, cluster: string) => boolean): void {
    for (const [key, entry] of this.pools) {
      const bar = key.indexOf('|')
      const hostPort = key.slice(0, bar)
      const colon = hostPort.lastIndexOf(':')
      if (keep(hostPort.slice(0, colon), Number(hostPort.slice(colon + 1)), key.slice(bar + 1)))
        continue
      this.pools.delete(key)
      void entry.pool.close().catch(() => {})
    }
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()].map((e) => e.pool.destroy().catch(() => {}))
    this.pools.clear()
    await Promise.all(all)
  }
}

function transportSignature(cc: ClusterConf): string {
  const b = cc.BackendConf
  const h = cc.HTTPSConf
  return [
    b.Protocol,
    b.TimeoutConnSrv,
    b.TimeoutResponseHeader,
    b.MaxIdleConnsPerHost,
    b.MaxConnsPerHost,
    h.RSHost,
    h.RSInsecureSkipVerify,
    h.RSCAList.join(''),
    h.BFECert ?? '',
  ].join('\u0000')
}

function createPool(addr: string, port: number, cc: ClusterConf): Pool {
  return new Pool(backendOrigin(addr, port, cc), poolOptions(cc))
}

/** `http://addr:port`, or `https://` for `Protocol: https` (h2c is plain http with prior knowledge). */
export function backendOrigin(addr: string, port: number, cc: ClusterConf): string {
  const host = addr.includes(':') ? `[${addr}]` : addr
  return `${cc.BackendConf.Protocol === 'https' ? 'https' : 'http'}://${host}:${port}`
}

/** HTTP/2 streams one h2c connection carries at a time (the peer's SETTINGS may lower it). */
const H2C_STREAMS = 100

/**
 * The undici Pool options for a backend of cluster `cc` (config.md §4.4):
 * - `http` (and BFE's `ws`, `tcp`): HTTP/1.1 over TCP, one request per connection at a time.
 * - `https`: HTTP/1.1 over TLS (ALPN `http/1.1`, as BFE's transport) with the cluster's
 *   HTTPSConf (backend-tls.ts), through `httpsConnector`.
 * - `h2c`: HTTP/2 over TCP with prior knowledge (no Upgrade, no ALPN), streams multiplexed.
 */
export function poolOptions(cc: ClusterConf): Pool.Options {
  const b = cc.BackendConf
  const h2c = b.Protocol === 'h2c'
  const common = {
    connections: b.MaxConnsPerHost > 0 ? b.MaxConnsPerHost : null,
    // The flow enforces TimeoutResponseHeader to 100 ms; undici's coarser timer is a backstop.
    headersTimeout: b.TimeoutResponseHeader > 0 ? b.TimeoutResponseHeader + 2000 : 0,
    bodyTimeout: 0,
    keepAliveTimeout: IDLE_TIMEOUT_MS,
    keepAliveMaxTimeout: IDLE_TIMEOUT_MS,
  }
  if (b.Protocol === 'https') return { ...common, pipelining: 1, connect: httpsConnector(cc) }
  if (h2c) {
    return {
      ...common,
      pipelining: H2C_STREAMS,
      allowH2: true,
      maxConcurrentStreams: H2C_STREAMS,
      connectTimeout: b.TimeoutConnSrv,
      // undici's connector reads `useH2c` (HTTP/2 from the first byte); its types do not list it.
      connect: { noDelay: true, useH2c: true } as NonNullable<Pool.Options['connect']>,
    }
  }
  return { ...common, pipelining: 1, connectTimeout: b.TimeoutConnSrv, connect: { noDelay: true } }
}

/**
 * The TLS connector of an `https` cluster. undici takes the SNI name from each request's Host
 * header; BFE sends RSHost, else nothing (and verifies the address dialled), whatever the client
 * asked for, so the name undici passes is replaced here. forward() gives every request of the
 * pool the same `servername`, so undici never drops a connection because the Host changed.
 */
function httpsConnector(cc: ClusterConf): buildConnector.connector {
  const tlsOpts = backendTlsOptions(cc.HTTPSConf)
  const connect = buildConnector({
    ...tlsOpts,
    noDelay: true,
    timeout: cc.BackendConf.TimeoutConnSrv,
  } as buildConnector.BuildOptions)
  const servername = tlsOpts.servername
  return (opts, callback) => {
    const o = { ...opts }
    if (servername === undefined) delete o.servername
    else o.servername = servername
    connect(o, callback)
  }
}

/**
 * The `servername` forward() gives undici for requests to a backend of an `https` cluster: one
 * value per pool (see httpsConnector, which decides what is really sent).
 */
export function httpsServername(cc: ClusterConf, addr: string): string {
  return cc.HTTPSConf.RSHost === '' ? addr : cc.HTTPSConf.RSHost
}
