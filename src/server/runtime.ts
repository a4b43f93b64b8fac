import type { BalTable } from '../balance/bal-table.js'
import type { ClusterBalancer } from '../balance/cluster-balancer.js'
import type { BfeRequest } from '../basic/request.js'
import type { ClusterConf } from '../config/cluster-conf-types.js'
import type { Logger } from '../log/logger.js'
import type { HandlerTable } from '../module/registry.js'
import type { ProxyDelays } from '../monitor/delay.js'
import type { StateCounters } from '../monitor/state-counters.js'
import type { TransportPools } from '../proxy/transport.js'
import type { ServerDataConf } from '../route/server-data.js'
import type { DecisionTrace } from '../tools/trace.js'
import type { Sweeper } from './accept/deadlines.js'

/**
 * The snapshot a request runs with: routing tables, cluster settings and the balancer of each
 * cluster. Replaced as a whole by a routing or balancing reload, so a request keeps what it
 * started with (its retries included) while new requests see the new configuration.
 */
export class Runtime {
  readonly serverData: ServerDataConf
  readonly balTable: BalTable
  /** The table's balancers when this snapshot was made (a balancing reload makes a new map). */
  readonly balancers: ReadonlyMap<string, ClusterBalancer>

  constructor(serverData: ServerDataConf, balTable: BalTable) {
    this.serverData = serverData
    this.balTable = balTable
    this.balancers = balTable.clusters
  }

  /** The balancer of `cluster` in this snapshot. */
  balancer(cluster: string): ClusterBalancer | undefined {
    return this.balancers.get(cluster)
  }

  /** Product by host, then VIP, then DefaultProduct. Sets `req.product` and `req.hostTag`. */
  findProduct(req: BfeRequest): boolean {
    const r = this.serverData.hostTable.lookup(req.host, req.session.vip)
    if (r === undefined) return false
    req.product = r.product
    req.hostTag = r.hostTag
    return true
  }

  /** Cluster by the product's basic then advanced rules; on failure sets `req.errMsg`. */
  findCluster(req: BfeRequest): string | undefined {
    const r = this.serverData.routeTable.lookup(req.product, req)
    if (typeof r === 'string') return r
    req.errMsg = r.msg
    return undefined
  }

  clusterConf(name: string): ClusterConf | undefined {
    return this.serverData.clusterConfs.get(name)
  }
}

/**
 * The gauges of `/monitor/proxy_state` (spec/monitor.md §2.3); every other name of ProxyCounters
 * is a counter. The TLS and session-cache names of proxy_state live with the TLS stage and the
 * session cache (TlsCounters, SessionCacheCounters) and are merged in by the monitor.
 */
export const PROXY_STATE_GAUGES: ReadonlySet<string> = new Set([
  'CLIENT_CONN_ACTIVE',
  'HTTP_CLIENT_CONN_ACTIVE',
  'HTTPS_CLIENT_CONN_ACTIVE',
  'HTTP2_CLIENT_CONN_ACTIVE',
  'SPDY_CLIENT_CONN_ACTIVE',
  'STREAM_CLIENT_CONN_ACTIVE',
  'WS_CLIENT_CONN_ACTIVE',
  'WSS_CLIENT_CONN_ACTIVE',
  'CLIENT_REQ_ACTIVE',
  'HTTP_CLIENT_REQ_ACTIVE',
  'HTTPS_CLIENT_REQ_ACTIVE',
  'HTTP2_CLIENT_REQ_ACTIVE',
  'SPDY_CLIENT_REQ_ACTIVE',
  'SSE_REQ_ACTIVE',
])

/**
 * Counters of the request path under BFE's `/monitor/proxy_state` names, incremented in place
 * by the acceptor, the engines and the pipeline. Per protocol, a connection is counted once its
 * protocol is known (after TLS and ALPN); `countConnProtocol` moves it (an upgrade to WebSocket).
 */
export interface ProxyCounters {
  CLIENT_CONN_ACTIVE: number
  HTTP_CLIENT_CONN_ACTIVE: number
  HTTPS_CLIENT_CONN_ACTIVE: number
  HTTP2_CLIENT_CONN_ACTIVE: number
  SPDY_CLIENT_CONN_ACTIVE: number
  STREAM_CLIENT_CONN_ACTIVE: number
  WS_CLIENT_CONN_ACTIVE: number
  WSS_CLIENT_CONN_ACTIVE: number
  CLIENT_REQ_ACTIVE: number
  HTTP_CLIENT_REQ_ACTIVE: number
  HTTPS_CLIENT_REQ_ACTIVE: number
  HTTP2_CLIENT_REQ_ACTIVE: number
  SPDY_CLIENT_REQ_ACTIVE: number
  SSE_REQ_ACTIVE: number
  CLIENT_CONN_SERVED: number
  HTTP_CLIENT_CONN_SERVED: number
  HTTPS_CLIENT_CONN_SERVED: number
  HTTP2_CLIENT_CONN_SERVED: number
  SPDY_CLIENT_CONN_SERVED: number
  STREAM_CLIENT_CONN_SERVED: number
  WS_CLIENT_CONN_SERVED: number
  WSS_CLIENT_CONN_SERVED: number
  CLIENT_REQ_SERVED: number
  HTTP_CLIENT_REQ_SERVED: number
  HTTPS_CLIENT_REQ_SERVED: number
  HTTP2_CLIENT_REQ_SERVED: number
  SPDY_CLIENT_REQ_SERVED: number
  SSE_REQ_SERVED: number
  CLIENT_CONN_USE100_CONTINUE: number
  CLIENT_CONN_UNFINISHED_REQ: number
  CLIENT_REQ_FAIL: number
  CLIENT_REQ_FAIL_WITH_NO_RETRY: number
  CLIENT_REQ_WITH_RETRY: number
  CLIENT_REQ_WITH_CROSS_RETRY: number
  ERR_CLIENT_LONG_URL: number
  ERR_CLIENT_LONG_HEADER: number
  ERR_CLIENT_CLOSE: number
  ERR_CLIENT_TIMEOUT: number
  ERR_CLIENT_BAD_REQUEST: number
  ERR_CLIENT_ZERO_CONTENTLEN: number
  ERR_CLIENT_EXPECT_FAIL: number
  ERR_CLIENT_CONN_ACCEPT: number
  ERR_CLIENT_WRITE: number
  ERR_CLIENT_RESET: number
  ERR_BK_FIND_PRODUCT: number
  ERR_BK_FIND_LOCATION: number
  ERR_BK_NO_BALANCE: number
  ERR_BK_NO_CLUSTER: number
  ERR_BK_BODY_PROCESS: number
  ERR_BK_CONNECT_BACKEND: number
  ERR_BK_REQUEST_BACKEND: number
  ERR_BK_WRITE_REQUEST: number
  ERR_BK_READ_RESP_HEADER: number
  ERR_BK_RESP_HEADER_TIMEOUT: number
  ERR_BK_TRANSPORT_BROKEN: number
  PANIC_CLIENT_CONN_SERVE: number
  PANIC_BACKEND_WRITE: number
  PANIC_BACKEND_READ: number
}

export function newProxyCounters(): ProxyCounters {
  return {
    CLIENT_CONN_ACTIVE: 0,
    HTTP_CLIENT_CONN_ACTIVE: 0,
    HTTPS_CLIENT_CONN_ACTIVE: 0,
    HTTP2_CLIENT_CONN_ACTIVE: 0,
    SPDY_CLIENT_CONN_ACTIVE: 0,
    STREAM_CLIENT_CONN_ACTIVE: 0,
    WS_CLIENT_CONN_ACTIVE: 0,
    WSS_CLIENT_CONN_ACTIVE: 0,
    CLIENT_REQ_ACTIVE: 0,
    HTTP_CLIENT_REQ_ACTIVE: 0,
    HTTPS_CLIENT_REQ_ACTIVE: 0,
    HTTP2_CLIENT_REQ_ACTIVE: 0,
    SPDY_CLIENT_REQ_ACTIVE: 0,
    SSE_REQ_ACTIVE: 0,
    CLIENT_CONN_SERVED: 0,
    HTTP_CLIENT_CONN_SERVED: 0,
    HTTPS_CLIENT_CONN_SERVED: 0,
    HTTP2_CLIENT_CONN_SERVED: 0,
    SPDY_CLIENT_CONN_SERVED: 0,
    STREAM_CLIENT_CONN_SERVED: 0,
    WS_CLIENT_CONN_SERVED: 0,
    WSS_CLIENT_CONN_SERVED: 0,
    CLIENT_REQ_SERVED: 0,
    HTTP_CLIENT_REQ_SERVED: 0,
    HTTPS_CLIENT_REQ_SERVED: 0,
    HTTP2_CLIENT_REQ_SERVED: 0,
    SPDY_CLIENT_REQ_SERVED: 0,
    SSE_REQ_SERVED: 0,
    CLIENT_CONN_USE100_CONTINUE: 0,
    CLIENT_CONN_UNFINISHED_REQ: 0,
    CLIENT_REQ_FAIL: 0,
    CLIENT_REQ_FAIL_WITH_NO_RETRY: 0,
    CLIENT_REQ_WITH_RETRY: 0,
    CLIENT_REQ_WITH_CROSS_RETRY: 0,
    ERR_CLIENT_LONG_URL: 0,
    ERR_CLIENT_LONG_HEADER: 0,
    ERR_CLIENT_CLOSE: 0,
    ERR_CLIENT_TIMEOUT: 0,
    ERR_CLIENT_BAD_REQUEST: 0,
    ERR_CLIENT_ZERO_CONTENTLEN: 0,
    ERR_CLIENT_EXPECT_FAIL: 0,
    ERR_CLIENT_CONN_ACCEPT: 0,
    ERR_CLIENT_WRITE: 0,
    ERR_CLIENT_RESET: 0,
    ERR_BK_FIND_PRODUCT: 0,
    ERR_BK_FIND_LOCATION: 0,
    ERR_BK_NO_BALANCE: 0,
    ERR_BK_NO_CLUSTER: 0,
    ERR_BK_BODY_PROCESS: 0,
    ERR_BK_CONNECT_BACKEND: 0,
    ERR_BK_REQUEST_BACKEND: 0,
    ERR_BK_WRITE_REQUEST: 0,
    ERR_BK_READ_RESP_HEADER: 0,
    ERR_BK_RESP_HEADER_TIMEOUT: 0,
    ERR_BK_TRANSPORT_BROKEN: 0,
    PANIC_CLIENT_CONN_SERVE: 0,
    PANIC_BACKEND_WRITE: 0,
    PANIC_BACKEND_READ: 0,
  }
}

/** A connection's protocol for the per-protocol counters of proxy_state. */
export type ConnProtocol = 'http' | 'https' | 'h2' | 'stream' | 'ws' | 'wss'

const CONN_ACTIVE = {
  http: 'HTTP_CLIENT_CONN_ACTIVE',
  https: 'HTTPS_CLIENT_CONN_ACTIVE',
  h2: 'HTTP2_CLIENT_CONN_ACTIVE',
  stream: 'STREAM_CLIENT_CONN_ACTIVE',
  ws: 'WS_CLIENT_CONN_ACTIVE',
  wss: 'WSS_CLIENT_CONN_ACTIVE',
} as const satisfies Record<ConnProtocol, keyof ProxyCounters>

const CONN_SERVED = {
  http: 'HTTP_CLIENT_CONN_SERVED',
  https: 'HTTPS_CLIENT_CONN_SERVED',
  h2: 'HTTP2_CLIENT_CONN_SERVED',
  stream: 'STREAM_CLIENT_CONN_SERVED',
  ws: 'WS_CLIENT_CONN_SERVED',
  wss: 'WSS_CLIENT_CONN_SERVED',
} as const satisfies Record<ConnProtocol, keyof ProxyCounters>

/**
 * Counts a connection under `proto` (`<PROTO>_CLIENT_CONN_SERVED` and `_ACTIVE`), leaving the
 * protocol it was counted under before (`from`, if any): an HTTP connection upgraded to WebSocket
 * moves from `http` to `ws`. Returns `proto`, to be passed as `from` next time and to
 * `uncountConnProtocol` when the connection closes.
 */
export function countConnProtocol(
  c: ProxyCounters,
  proto: ConnProtocol,
  from: ConnProtocol | undefined,
): ConnProtocol {
  if (from !== undefined) c[CONN_ACTIVE[from]]--
  c[CONN_SERVED[proto]]++
  c[CONN_ACTIVE[proto]]++
  return proto
}

/** The connection counted under `proto` has closed. */
export function uncountConnProtocol(c: ProxyCounters, proto: ConnProtocol | undefined): void {
  if (proto !== undefined) c[CONN_ACTIVE[proto]]--
}

/** What a request pipeline reads from its server: current tables, filters, pools and settings. */
export interface ServerContext {
  readonly runtime: Runtime
  readonly handlers: HandlerTable
  readonly pools: TransportPools
  /** Checks the deadlines of connections and HTTP/2 streams. */
  readonly sweeper: Sweeper
  readonly counters: ProxyCounters
  /** http_state, websocket_state, stream_state, proxy_protocol_state, spdy_state. */
  readonly stateCounters: StateCounters
  /** proxy_delay, proxy_post_delay and the handshake histograms. */
  readonly delays: ProxyDelays
  readonly log: Logger
  readonly compatErrorStatus: boolean
  readonly keepAliveEnabled: boolean
  readonly shuttingDown: boolean
  /** Trace on demand (`[Server] DecisionTraceToken`); undefined when off. */
  readonly trace?: DecisionTrace | undefined
  onUnexpected(err: unknown, req: BfeRequest | undefined): void
}
