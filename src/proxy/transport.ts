import { createRequire } from 'node:module'
import { Socket as NetSocket, type Socket } from 'node:net'
import { buildConnector, Pool } from 'undici'
import type { ClusterConf } from '../config/cluster-conf-types.js'
import { backendTlsOptions } from './backend-tls.js'
import { type BackendConnCounters, H1Pool, IDLE_TIMEOUT_MS } from './h1-pool.js'
import { dropInterimContinue } from './interim.js'

export type { BackendConnCounters } from './h1-pool.js'

/**
 * A backend's pool: our own HTTP/1.1 keep-alive pool for plain HTTP backends (h1-pool.ts), an
 * undici Pool for `https` and `h2c` backends.
 */
export type BackendPool = H1Pool | Pool

const undiciSymbols: unknown = createRequire(import.meta.url)('undici/lib/core/symbols.js')

interface PoolEntry {
  pool: BackendPool
  sig: string
  cluster: string
  /** `addr:port` */
  backendKey: string
}

/** What the request path keeps per backend object: the pool it used last and for which cluster conf. */
interface BackendSlot {
  cc: ClusterConf
  pool: BackendPool
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
  private readonly orphans = new Set<BackendPool>()
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
  forBackend(
    backend: { readonly addr: string; readonly port: number },
    cc: ClusterConf,
  ): BackendPool {
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
  private keyed(addr: string, port: number, cc: ClusterConf): BackendPool {
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
  private orphan(addr: string, port: number, cc: ClusterConf): BackendPool {
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
  private create(addr: string, port: number, cc: ClusterConf): BackendPool {
    const b = cc.BackendConf
    if (b.Protocol !== 'https' && b.Protocol !== 'h2c')
      return new H1Pool(
        addr,
        port,
        { connectTimeout: b.TimeoutConnSrv, maxIdle: b.MaxIdleConnsPerHost },
        this.counters,
      )
    const pool = createPool(addr, port, cc)
    pool.on('connect', onPoolConnect)
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

/**
 * The pool that has just connected a socket. undici emits 'connect' and then, in the same tick,
 * writes the queued request on the new socket (our handler's onRequestStart); a request started
 * at any other time went out on a socket that was open already (a reused keep-alive connection).
 */
let freshPool: object | undefined

/** undici's symbol for a Client's socket (lib/core/symbols.js; undici 7 has no public way). */
const kSocket = (undiciSymbols as { kSocket?: symbol }).kSocket

function onPoolConnect(this: Pool, _origin: unknown, targets: unknown): void {
  freshPool = this
  queueMicrotask(() => {
    if (freshPool !== this) return
    freshPool = undefined
    // No request went out on the new socket: undici connected for a request that had been
    // aborted meanwhile (it reconnects for the head of its queue before it looks at it). Close
    // it rather than keep an idle connection nobody asked for.
    const client = Array.isArray(targets) ? (targets[1] as Record<symbol, unknown>) : undefined
    const socket = client !== undefined && kSocket !== undefined ? client[kSocket] : undefined
    if (socket instanceof NetSocket) socket.destroy()
  })
}
/** True once for the request undici writes right after `pool` connected a socket. */
export function takeFreshConnection(pool: object): boolean {
  if (freshPool !== pool) return false
  freshPool = undefined
  return true
}

function closeGracefully(pool: BackendPool): void {
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
  return { ...common, pipelining: 1, connect: httpConnector(b.TimeoutConnSrv) }
}

/** The TCP connector of an HTTP/1 cluster: `100 Continue` answers are dropped (interim.ts). */
function httpConnector(timeout: number): buildConnector.connector {
  const connect = buildConnector({ noDelay: true, timeout } as buildConnector.BuildOptions)
  return (opts, callback) => {
    connect(opts, (err, socket) => {
      if (err === null) dropInterimContinue(socket as Socket)
      callback(err, socket as never)
    })
  }
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
    connect(o, (err, socket) => {
      if (err === null) dropInterimContinue(socket as Socket)
      callback(err, socket as never)
    })
  }
}

/**
 * The `servername` forward() gives undici for requests to a backend of an `https` cluster: one
 * value per pool (see httpsConnector, which decides what is really sent).
 */
export function httpsServername(cc: ClusterConf, addr: string): string {
  return cc.HTTPSConf.RSHost === '' ? addr : cc.HTTPSConf.RSHost
}
