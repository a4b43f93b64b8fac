import type { BalTable } from '../balance/bal-table.js'
import type { ClusterBalancer } from '../balance/cluster-balancer.js'
import type { BfeRequest } from '../basic/request.js'
import type { ClusterConf } from '../config/cluster-conf-types.js'
import type { Logger } from '../log/logger.js'
import type { HandlerTable } from '../module/registry.js'
import type { TransportPools } from '../proxy/transport.js'
import type { ServerDataConf } from '../route/server-data.js'
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
  readonly log: Logger
  readonly compatErrorStatus: boolean
  readonly keepAliveEnabled: boolean
  readonly shuttingDown: boolean
  onUnexpected(err: unknown, req: BfeRequest | undefined): void
}
