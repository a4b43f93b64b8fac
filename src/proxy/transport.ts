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
  cluster: string
  /** `addr:port` */
  backendKey: string
}

/** What the request path keeps per backend object: the pool it used last and for which cluster conf. */
interface BackendSlot {
  cc: ClusterConf
  pool: Pool
}

/**
 * The configuration in force: the cluster conf of `cluster` when `backendKey` (`addr:port`) is one
 * of the cluster's backends now, else undefined. The server answers from its current Runtime.
 */
export type PoolScope = (cluster: string, backendKey: string) => ClusterConf | undefined

/**
 * One undici Pool per backend `addr:port` and cluster, with the cluster's transport settings. A
 * pool is created when a backend is first used and kept while the cluster's transport settings
 * stay the same, so a reload that does not touch them keeps the warm connections (config.md §7).
 * After a reload, `prune()` closes the pools of backends and clusters that are gone and of clusters
 * whose transport settings changed; undici's close lets the requests in flight finish first.
 */
export class TransportPools {
  private readonly pools = new Map<string, PoolEntry>()
  /**
   * Pools for a request of an older snapshot that reached a backend or settings no longer in
   * force: one per dispatch, closed as soon as their request is done.
   */
  private readonly orphans = new Set<Pool>()
  /**
   * The request path's shortcut: a backend object and a cluster conf snapshot always map to the
   * same pool, so after the first request the lookup is one WeakMap probe and an identity check
   * instead of building the key and the transport signature again.
   */
  private readonly byBackend = new WeakMap<object, BackendSlot>()
  private readonly sigs = new WeakMap<ClusterConf, string>()
  private readonly scope: PoolScope | undefined
  private readonly counters: BackendConnCounters | undefined

  /**
   * Without a scope every (backend, cluster conf) asked for is taken as current (unit tests).
   * `counters` get http_state's backend connection counts.
   */
  constructor(scope?: PoolScope, counters?: BackendConnCounters) {
    this.scope = scope
    this.counters = counters
  }

  /** The pool for `backend` (an object with `addr` and `port`) under the cluster conf `cc`. */
  forBackend(backend: { readonly addr: string; readonly port: number }, cc: ClusterConf): Pool {
    const slot = this.byBackend.get(backend)
    if (slot !== undefined && slot.cc === cc && !slot.pool.closed && !slot.pool.destroyed)
      return slot.pool
    const pool = this.keyed(backend.addr, backend.port, cc)
    if (!this.orphans.has(pool)) this.byBackend.set(backend, { cc, pool })
    return pool
  }

  /** Live pools (orphans not counted). */
  get size(): number {
    return this.pools.size
  }

  /** Orphan pools not closed yet. */
  get orphanCount(): number {
    return this.orphans.size
  }

  /** The pool by `addr:port|cluster`, replaced when the cluster's transport settings changed. */
  private keyed(addr: string, port: number, cc: ClusterConf): Pool {
    const backendKey = `${addr}:${port}`
    const key = `${backendKey}|${cc.name}`
    const entry = this.pools.get(key)
    const sig = this.signature(cc)
    if (entry !== undefined && entry.sig === sig) return entry.pool
    if (this.scope !== undefined) {
      const now = this.scope(cc.name, backendKey)
      if (now === undefined || (now !== cc && this.signature(now) !== sig))
        return this.orphan(addr, port, cc)
    }
    if (entry !== undefined) closeGracefully(entry.pool)
    const pool = this.create(addr, port, cc)
    this.pools.set(key, { pool, sig, cluster: cc.name, backendKey })
    return pool
  }

  /**
   * A pool that is not kept: the caller dispatches on it right away (same tick), then it closes,
   * which waits for that request. It never replaces the pool of the configuration in force.
   */
  private orphan(addr: string, port: number, cc: ClusterConf): Pool {
    const pool = this.create(addr, port, cc)
    this.orphans.add(pool)
    queueMicrotask(() => {
      pool
        .close()
        .catch(() => {})
        .finally(() => this.orphans.delete(pool))
    })
    return pool
  }

  /** A new pool, its connections counted in http_state. */
  private create(addr: string, port: number, cc: ClusterConf): Pool {
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

  /**
   * After a reload: closes the pools whose backend or cluster the scope no longer has, or whose
   * cluster's transport settings changed. Requests in flight on them finish first. Returns how
   * many pools were closed.
   */
  prune(): number {
    const scope = this.scope
    if (scope === undefined) return 0
    let n = 0
    for (const [key, e] of this.pools) {
      const cc = scope(e.cluster, e.backendKey)
      if (cc !== undefined && this.signature(cc) === e.sig) continue
      this.pools.delete(key)
      closeGracefully(e.pool)
      n++
    }
    return n
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()].map((e) => e.pool.destroy().catch(() => {}))
    for (const p of this.orphans) all.push(p.destroy().catch(() => {}))
    this.pools.clear()
    this.orphans.clear()
    await Promise.all(all)
  }
}

function closeGracefully(pool: Pool): void {
  void pool.close().catch(() => {})
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
