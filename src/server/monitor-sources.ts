import type { BalTable } from '../balance/bal-table.js'
import { bodyBuffer } from '../module/body.js'
import type { ModuleFramework } from '../module/registry.js'
import type { MonitorHandler } from '../module/types.js'
import type { ProxyDelays } from '../monitor/delay.js'
import { type CounterGroup, DiffWindow, totalSnapshot } from '../monitor/metrics.js'
import type { StateCounters } from '../monitor/state-counters.js'
import type {
  MetricsSnapshot,
  MonitorSnapshot,
  MonitorSource,
  ValueSnapshot,
} from '../monitor/types.js'
import { processStateSnapshot } from '../process/state.js'
import type { ServerDataConf } from '../route/server-data.js'
import type { SessionCacheCounters } from '../tls/session-cache.js'
import { newTlsCounters, type TlsCounters } from './accept/tls-handshake.js'
import { type Http2Counters, newHttp2Counters } from './engines/http2.js'
import { PROXY_STATE_GAUGES, type ProxyCounters } from './runtime.js'

/** What the monitor reads from a BfeServer (read live: reloads replace some of it). */
export interface MonitorView {
  readonly counters: ProxyCounters
  readonly stateCounters: StateCounters
  readonly delays: ProxyDelays
  readonly framework: ModuleFramework
  /** Undefined before listen(). */
  readonly tlsCounters: TlsCounters | undefined
  readonly http2Counters: Http2Counters | undefined
  readonly sessionCacheCounters: SessionCacheCounters | undefined
  readonly balTable: BalTable
  readonly serverData: ServerDataConf
}

/** proxy_state names kept by the TLS stage. */
const PROXY_STATE_TLS: readonly (keyof TlsCounters)[] = [
  'TLS_HANDSHAKE_ALL',
  'TLS_HANDSHAKE_SUCC',
  'TLS_MULTI_CERT_GET',
  'TLS_MULTI_CERT_CONN_WITHOUT_VIP',
  'TLS_MULTI_CERT_CONN_VIP_UNKNOWN',
  'TLS_MULTI_CERT_CONN_WITHOUT_SNI',
  'TLS_MULTI_CERT_USE_DEFAULT',
  'TLS_MULTI_CERT_UPDATE',
  'TLS_MULTI_CERT_UPDATE_ERR',
]

/** proxy_state names of the TLS session cache (BFE's; SESSION_CACHE_BUSY is ours). */
const PROXY_STATE_SESSION_CACHE: readonly string[] = [
  'SESSION_CACHE_CONN',
  'SESSION_CACHE_CONN_FAIL',
  'SESSION_CACHE_SET',
  'SESSION_CACHE_SET_FAIL',
  'SESSION_CACHE_GET',
  'SESSION_CACHE_GET_FAIL',
  'SESSION_CACHE_TYPE_NOT_BYTES',
  'SESSION_CACHE_MISS',
  'SESSION_CACHE_HIT',
  'SESSION_CACHE_NO_INSTANCE',
  'SESSION_CACHE_BUSY',
]

/**
 * Every `/monitor/<name>` of spec/monitor.md §2.2 and the module handlers, as MonitorSources over
 * a server's live state. Holds the `_diff` windows; `stop()` ends them.
 */
export class MonitorSources {
  private readonly view: MonitorView
  private readonly windows: DiffWindow[] = []
  readonly sources = new Map<string, MonitorSource>()

  constructor(view: MonitorView, diffIntervalSec: number) {
    this.view = view
    const v = view
    const group = (name: string, read: () => CounterGroup[], gauges?: ReadonlySet<string>) => {
      this.sources.set(name, () => totalSnapshot('proxy_state', read(), gauges))
      const w = new DiffWindow('proxy_state', () => countersOnly(read(), gauges), diffIntervalSec)
      this.windows.push(w)
      this.sources.set(`${name}_diff`, () => w.snapshot())
    }
    this.sources.set('process_state', processStateSnapshot)
    group('proxy_state', () => this.proxyState(), PROXY_STATE_GAUGES)
    group('bal_state', () => [v.balTable.counters as unknown as CounterGroup])
    group('tls_state', () => [tlsState(v.tlsCounters ?? newTlsCounters())])
    group('http_state', () => [v.stateCounters.http as unknown as CounterGroup])
    group('http2_state', () => [(v.http2Counters ?? newHttp2Counters()) as unknown as CounterGroup])
    group('spdy_state', () => [v.stateCounters.spdy as unknown as CounterGroup])
    group('stream_state', () => [v.stateCounters.stream as unknown as CounterGroup])
    group('websocket_state', () => [v.stateCounters.websocket as unknown as CounterGroup])
    group('proxy_protocol_state', () => [v.stateCounters.proxyProtocol as unknown as CounterGroup])

    const d = v.delays
    this.sources.set('proxy_delay', () => d.proxy.snapshot())
    this.sources.set('proxy_post_delay', () => d.proxyPost.snapshot())
    this.sources.set('proxy_handshake_delay', () => d.handshake.snapshot())
    this.sources.set('proxy_handshake_full_delay', () => d.handshakeFull.snapshot())
    this.sources.set('proxy_handshake_resume_delay', () => d.handshakeResume.snapshot())

    this.sources.set('host_table_status', () => {
      const sd = v.serverData
      const h = sd.hostTable.sizes()
      const r = sd.routeTable.sizes()
      return value({
        HostTableSize: h.hosts,
        HostTagTableSize: h.hostTags,
        VipTableSize: h.vips,
        ProductRouteTableSize: r.advanced,
        ProductBasicRouteTableSize: r.basic,
      })
    })
    this.sources.set('host_table_version', () => {
      const ver = v.serverData.versions
      return value({ HostTag: ver.hostRule, Vip: ver.vipRule, ProductRoute: ver.routeRule })
    })
    this.sources.set('cluster_table_version', () =>
      value({ ClusterConfVer: v.serverData.versions.clusterConf }),
    )
    this.sources.set('bal_table_status', (q) => {
      const name = q.get('cluster_name')
      return value(
        name === null || name === '' ? v.balTable.status() : v.balTable.clusterStatus(name),
      )
    })
    this.sources.set('bal_table_version', () => value(v.balTable.versionInfo()))
    this.sources.set('module_status', () => value(v.framework.status()))
    this.sources.set('module_handlers', () => value(v.framework.handlerView()))
    this.sources.set('server_stat', () => value({ total_bytes_body_buffer: bodyBuffer.bytes }))
    this.sources.set('proxy_mem_stat', () => value(process.memoryUsage()))

    for (const [name, h] of v.framework.web.monitor) this.addModule(name, h)
  }

  /** proxy_state: the request path's counters, the TLS stage's and the session cache's. */
  private proxyState(): CounterGroup[] {
    const v = this.view
    const tls = v.tlsCounters ?? newTlsCounters()
    const t: CounterGroup = {}
    for (const k of PROXY_STATE_TLS) t[k] = tls[k]
    const sc = v.sessionCacheCounters as unknown as CounterGroup | undefined
    const s: CounterGroup = {}
    for (const k of PROXY_STATE_SESSION_CACHE) s[k] = sc?.[k] ?? 0
    return [v.counters as unknown as CounterGroup, t, s]
  }

  /**
   * A module's monitor handler. What it returns is shown as a counter group with the module's
   * prefix when it is a flat object of numbers (or already a MetricsSnapshot / histogram), else
   * as a plain value. A counter handler `mod_x` without a `mod_x.diff` of its own gets one.
   */
  private addModule(name: string, h: MonitorHandler): void {
    const isDiff = name.endsWith('.diff') || name.endsWith('_diff')
    const prefix = isDiff ? name.slice(0, -5) : name
    this.sources.set(name, (q) => moduleSnapshot(prefix, h(q), isDiff))
    const web = this.view.framework.web.monitor
    if (isDiff || web.has(`${name}.diff`) || web.has(`${name}_diff`)) return
    let first: unknown
    try {
      first = h(new URLSearchParams())
    } catch {
      return
    }
    if (!isCounterObject(first) && !isMetrics(first)) return
    const w = new DiffWindow(
      name,
      () => {
        const r = h(new URLSearchParams())
        if (isMetrics(r)) return { ...r.counters }
        return isCounterObject(r) ? { ...r } : {}
      },
      this.windows[0]?.intervalSec,
    )
    this.windows.push(w)
    this.sources.set(`${name}.diff`, () => w.snapshot())
  }

  stop(): void {
    for (const w of this.windows) w.stop()
    this.windows.length = 0
  }
}

function value(v: unknown): ValueSnapshot {
  return { type: 'value', value: v }
}

/** tls_state: the TLS stage's counters without the names proxy_state shows. */
function tlsState(c: TlsCounters): CounterGroup {
  const out: CounterGroup = { ...(c as unknown as CounterGroup) }
  for (const k of PROXY_STATE_TLS) delete out[k]
  return out
}

function countersOnly(
  groups: CounterGroup[],
  gauges: ReadonlySet<string> | undefined,
): CounterGroup {
  const out: CounterGroup = {}
  for (const g of groups)
    for (const k of Object.keys(g)) if (gauges === undefined || !gauges.has(k)) out[k] = g[k] ?? 0
  return out
}

function isMetrics(v: unknown): v is MetricsSnapshot {
  return isSnapshot(v) && v.type === 'metrics'
}

function isCounterObject(v: unknown): v is Record<string, number> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const vals = Object.values(v)
  return vals.length > 0 && vals.every((x) => typeof x === 'number')
}

/** A module handler's answer as a snapshot. */
export function moduleSnapshot(prefix: string, v: unknown, isDiff: boolean): MonitorSnapshot {
  if (isSnapshot(v)) {
    if (v.type !== 'metrics') return v
    // Tolerate a hand-made snapshot without gauges or states.
    const m = v as Partial<MetricsSnapshot> & { counters: Record<string, number>; prefix: string }
    return { ...v, gauges: m.gauges ?? {}, states: m.states ?? {} }
  }
  if (isCounterObject(v)) {
    const s: MetricsSnapshot = {
      type: 'metrics',
      prefix: isDiff ? `${prefix}_diff` : prefix,
      kind: isDiff ? 'delta' : 'total',
      counters: { ...v },
      gauges: {},
      states: {},
    }
    return s
  }
  return value(v)
}

function isSnapshot(v: unknown): v is MonitorSnapshot {
  if (typeof v !== 'object' || v === null) return false
  const t = (v as { type?: unknown }).type
  if (t === 'metrics')
    return (
      typeof (v as { counters?: unknown }).counters === 'object' &&
      typeof (v as { prefix?: unknown }).prefix === 'string'
    )
  if (t === 'histogram')
    return Array.isArray((v as { current?: { counters?: unknown } }).current?.counters)
  return false
}
