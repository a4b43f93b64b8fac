import type { BalTable } from '../balance/bal-table.js'
import type { BfeRequest } from '../basic/request.js'
import type { ClusterConf } from '../config/cluster-conf-types.js'
import type { Logger } from '../log/logger.js'
import type { HandlerTable } from '../module/registry.js'
import type { TransportPools } from '../proxy/transport.js'
import type { WebSocketState } from '../proxy/tunnel.js'
import type { ServerDataConf } from '../route/server-data.js'
import type { Sweeper } from './accept/deadlines.js'

/**
 * The routing snapshot a request runs with: replaced as a whole by a routing reload, so a request
 * keeps the tables it started with.
 */
export class Runtime {
  readonly serverData: ServerDataConf
  readonly balTable: BalTable

  constructor(serverData: ServerDataConf, balTable: BalTable) {
    this.serverData = serverData
    this.balTable = balTable
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

/** Counters of the request path (names as BFE's /monitor/proxy_state). */
export interface ProxyCounters {
  CLIENT_CONN_SERVED: number
  CLIENT_CONN_ACTIVE: number
  CLIENT_REQ_SERVED: number
  CLIENT_REQ_ACTIVE: number
  CLIENT_REQ_FAIL_WITH_NO_RETRY: number
  ERR_BK_REQUEST_BACKEND: number
  ERR_BK_NO_BALANCE: number
  ERR_CLIENT_LONG_HEADER: number
  ERR_CLIENT_LONG_URL: number
  ERR_CLIENT_BAD_REQUEST: number
  ERR_CLIENT_TIMEOUT: number
  ERR_CLIENT_EXPECT_FAIL: number
  ERR_CLIENT_ZERO_CONTENTLEN: number
  PANIC_CLIENT_CONN_SERVE: number
  /** Connections switched to WebSocket (a 101 relayed), over plain HTTP and over TLS. */
  WS_CLIENT_CONN_SERVED: number
  WS_CLIENT_CONN_ACTIVE: number
  WSS_CLIENT_CONN_SERVED: number
  WSS_CLIENT_CONN_ACTIVE: number
}

export function newProxyCounters(): ProxyCounters {
  return {
    CLIENT_CONN_SERVED: 0,
    CLIENT_CONN_ACTIVE: 0,
    CLIENT_REQ_SERVED: 0,
    CLIENT_REQ_ACTIVE: 0,
    CLIENT_REQ_FAIL_WITH_NO_RETRY: 0,
    ERR_BK_REQUEST_BACKEND: 0,
    ERR_BK_NO_BALANCE: 0,
    ERR_CLIENT_LONG_HEADER: 0,
    ERR_CLIENT_LONG_URL: 0,
    ERR_CLIENT_BAD_REQUEST: 0,
    ERR_CLIENT_TIMEOUT: 0,
    ERR_CLIENT_EXPECT_FAIL: 0,
    ERR_CLIENT_ZERO_CONTENTLEN: 0,
    PANIC_CLIENT_CONN_SERVE: 0,
    WS_CLIENT_CONN_SERVED: 0,
    WS_CLIENT_CONN_ACTIVE: 0,
    WSS_CLIENT_CONN_SERVED: 0,
    WSS_CLIENT_CONN_ACTIVE: 0,
  }
}

/** What a request pipeline reads from its server: current tables, filters, pools and settings. */
export interface ServerContext {
  readonly runtime: Runtime
  readonly handlers: HandlerTable
  readonly pools: TransportPools
  /** Checks the deadlines of connections and HTTP/2 streams. */
  readonly sweeper: Sweeper
  readonly counters: ProxyCounters
  /** `websocket_state` counters (proxy/tunnel.ts). */
  readonly websocketState: WebSocketState
  readonly log: Logger
  readonly compatErrorStatus: boolean
  readonly keepAliveEnabled: boolean
  readonly shuttingDown: boolean
  onUnexpected(err: unknown, req: BfeRequest | undefined): void
}
