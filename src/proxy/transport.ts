import { Pool } from 'undici'
import type { ClusterConf } from '../config/cluster-conf-types.js'

/** Idle upstream connections are dropped after this long (BFE's Go transport uses 90 s by default). */
const IDLE_TIMEOUT_MS = 60_000

/** The backend-connection counters of /monitor/http_state. */
export interface BackendConnCounters {
  HTTP_BACKEND_CONN_ALL: number
  HTTP_BACKEND_CONN_SUCC: number
}

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
  private readonly counters: BackendConnCounters | undefined

  constructor(counters?: BackendConnCounters) {
    this.counters = counters
  }

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
    const c = this.counters
    if (c !== undefined) {
      pool.on('connect', () => {
        c.HTTP_BACKEND_CONN_ALL++
        c.HTTP_BACKEND_CONN_SUCC++
      })
      pool.on('connectionError', () => {
        c.HTTP_BACKEND_CONN_ALL++
      })
    }
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
  const b = cc.BackendConf
  const https = b.Protocol === 'https'
  const host = addr.includes(':') ? `[${addr}]` : addr
  const origin = `${https ? 'https' : 'http'}://${host}:${port}`
  const tls = https
    ? {
        rejectUnauthorized: !cc.HTTPSConf.RSInsecureSkipVerify,
        ...(cc.HTTPSConf.RSHost === '' ? {} : { servername: cc.HTTPSConf.RSHost }),
        ...(cc.HTTPSConf.RSCAList.length === 0 ? {} : { ca: cc.HTTPSConf.RSCAList }),
        ...(cc.HTTPSConf.BFECert !== undefined && cc.HTTPSConf.BFEKey !== undefined
          ? { cert: cc.HTTPSConf.BFECert, key: cc.HTTPSConf.BFEKey }
          : {}),
      }
    : {}
  return new Pool(origin, {
    connections: b.MaxConnsPerHost > 0 ? b.MaxConnsPerHost : null,
    pipelining: 1,
    connectTimeout: b.TimeoutConnSrv,
    // The flow enforces TimeoutResponseHeader to 100 ms; undici's coarser timer is a backstop.
    headersTimeout: b.TimeoutResponseHeader > 0 ? b.TimeoutResponseHeader + 2000 : 0,
    bodyTimeout: 0,
    keepAliveTimeout: IDLE_TIMEOUT_MS,
    keepAliveMaxTimeout: IDLE_TIMEOUT_MS,
    connect: { ...tls, noDelay: true },
  })
}
