import { basename, join } from 'node:path'
import { BfeConfError } from '../basic/errors.js'
import type { BfeConf } from '../config/bfe-conf.js'
import { loadGslbData } from '../config/gslb.js'
import { loadNameConf, type NameConf } from '../config/name-conf.js'
import { serverDataPaths } from '../config/server-data.js'
import { loadSessionTicketKey } from '../config/session-ticket-key.js'
import type { Logger } from '../log/logger.js'
import type { PreparedReload, ReloadPrepare } from '../monitor/types.js'
import type { TransportPools } from '../proxy/transport.js'
import { loadServerDataConf } from '../route/server-data.js'
import { loadTlsConf } from '../tls/tls-table.js'
import { parseProtoSwitches, type TableTlsPolicy } from './accept/tls-policy.js'
import { Runtime } from './runtime.js'

/** What the reloads read and switch in a worker's server. */
export interface ReloadTarget {
  readonly conf: BfeConf
  readonly log: Logger
  readonly pools: TransportPools
  /** The request snapshot: replaced as a whole by routing and balancing reloads. */
  runtime: Runtime
  /** The TLS stage's table and global protocol switches: replaced as a whole. */
  tlsPolicy: TableTlsPolicy
  /** name_conf.data as last loaded (undefined when `NameConf =` is empty and none was reloaded). */
  nameConf: NameConf | undefined
}

/**
 * The core reloads of config.md §7 in two phases (monitor/types.ts): prepare reads and checks
 * every file and builds the new state off to the side, throwing a BfeConfError (file, field,
 * reason) and switching nothing when the data is refused; commit switches in a few assignments.
 * A multi-worker primary prepares in every worker, then commits everywhere or aborts everywhere.
 */
export function corePreparers(s: ReloadTarget): Map<string, ReloadPrepare> {
  return new Map<string, ReloadPrepare>([
    ['server_data_conf', (q) => prepareServerData(s, q)],
    ['gslb_data_conf', (q) => prepareGslbData(s, q)],
    ['name_conf', (q) => prepareNameConf(s, q)],
    ['tls_conf', (q) => prepareTlsConf(s, q)],
    ['tls_session_ticket_key', () => prepareTicketKey(s)],
  ])
}

/** `path=` as given, undefined when absent or empty (BFE treats both as "the configured files"). */
function pathParam(query: URLSearchParams): string | undefined {
  const p = query.get('path')
  return p === null || p === '' ? undefined : p
}

function prepared(commit: () => string | undefined, abort: () => void = () => {}): PreparedReload {
  let done = false
  return {
    commit() {
      if (done) return undefined
      done = true
      return commit()
    },
    abort() {
      if (done) return
      done = true
      abort()
    },
  }
}

/**
 * `/reload/server_data_conf`: host_rule, vip_rule, route_rule and cluster_conf (from `path=<dir>`
 * with the same base names). On commit new requests route with the new tables, each balancer takes
 * its cluster's new settings, and the pools of clusters that are gone or whose transport settings
 * changed are closed once their requests finish.
 */
function prepareServerData(s: ReloadTarget, query: URLSearchParams): PreparedReload {
  const data = loadServerDataConf(serverDataPaths(s.conf, pathParam(query)), {
    confRoot: s.conf.confRoot,
  })
  return prepared(() => {
    const bal = s.runtime.balTable
    bal.applyClusterConfs(data.clusterConfs)
    s.runtime = new Runtime(data, bal)
    const closed = s.pools.prune()
    for (const w of data.warnings) s.log.warn(w)
    s.log.info({ versions: data.versions, closedPools: closed }, 'server_data_conf reloaded')
    return undefined
  })
}

/**
 * `/reload/gslb_data_conf`: gslb.data and cluster_table.data (from `path=<dir>`). Prepare checks
 * both files and builds every cluster's new backend lists; commit switches all clusters at once
 * (not cluster by cluster as BFE) and closes the pools of removed backends and clusters.
 */
function prepareGslbData(s: ReloadTarget, query: URLSearchParams): PreparedReload {
  const dir = pathParam(query)
  const srv = s.conf.Server
  const pick = (p: string): string => (dir === undefined ? p : join(dir, basename(p)))
  const data = loadGslbData({ clusterTable: pick(srv.ClusterTableConf), gslb: pick(srv.GslbConf) })
  const bal = s.runtime.balTable
  const plan = bal.prepareGslb(data)
  return prepared(
    () => {
      plan.commit()
      s.runtime = new Runtime(s.runtime.serverData, bal)
      const closed = s.pools.prune()
      s.log.info({ version: bal.versionInfo(), closedPools: closed }, 'gslb_data_conf reloaded')
      return undefined
    },
    () => plan.abort(),
  )
}

/** `/reload/name_conf`: name_conf.data, or the file `path=<file>`. */
function prepareNameConf(s: ReloadTarget, query: URLSearchParams): PreparedReload {
  const file = pathParam(query) ?? s.conf.Server.NameConf
  if (file === '') {
    throw new BfeConfError(
      s.conf.path,
      '[Server] NameConf',
      'is empty, so there is no name_conf.data to reload (give path=<file>)',
    )
  }
  const nameConf = loadNameConf(file)
  return prepared(() => {
    s.nameConf = nameConf
    s.log.info({ file, version: nameConf.Version }, 'name_conf reloaded')
    return undefined
  })
}

/**
 * `/reload/tls_conf`: server_cert_conf, tls_rule_conf, client CAs and CRLs (the two data files
 * from `path=<dir>`); every secure context is built in prepare. `enable=` switches optional
 * protocols globally and takes effect whatever happens to the files: on commit, on abort (another
 * worker refused the files), or here when this worker refuses them.
 */
function prepareTlsConf(s: ReloadTarget, query: URLSearchParams): PreparedReload {
  const { switches, ignored } = parseProtoSwitches(query.get('enable') ?? '')
  if (ignored.length > 0) s.log.warn({ ignored }, 'tls_conf reload: unknown enable= items ignored')
  const applySwitches = (): void => {
    if (switches.length === 0) return
    s.tlsPolicy = s.tlsPolicy.withSwitches(switches)
    s.log.info({ disabled: [...s.tlsPolicy.disabled] }, 'TLS protocols switched')
  }
  const dir = pathParam(query)
  let loaded: ReturnType<typeof loadTlsConf>
  try {
    loaded = loadTlsConf(s.conf, {
      ticketKey: s.tlsPolicy.table.ticketKey,
      ...(dir === undefined ? {} : { dir }),
    })
  } catch (err) {
    applySwitches()
    throw err
  }
  const table = loaded.table
  return prepared(() => {
    applySwitches()
    // a ticket key reload may have switched since this table was built
    const key = s.tlsPolicy.table.ticketKey
    if (key !== undefined && key !== table.ticketKey) table.setTicketKey(key)
    s.tlsPolicy = s.tlsPolicy.withTable(table)
    for (const w of loaded.warnings) s.log.warn(w)
    s.log.info({ version: table.conf.rules.Version }, 'tls_conf reloaded')
    return undefined
  }, applySwitches)
}

/**
 * `/reload/tls_session_ticket_key`: session_ticket_key.data; new tickets use the new key from the
 * commit on. A no-op when session tickets are disabled.
 */
function prepareTicketKey(s: ReloadTarget): PreparedReload {
  const t = s.conf.SessionTicket
  if (t.SessionTicketsDisabled) return prepared(() => undefined)
  const { key } = loadSessionTicketKey(t.SessionTicketKeyFile)
  return prepared(() => {
    s.tlsPolicy.table.setTicketKey(key)
    s.log.info('session ticket key reloaded')
    return undefined
  })
}
