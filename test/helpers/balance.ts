import type { HashSource } from '../../src/balance/hash-key.js'
import { HeaderList } from '../../src/basic/header-list.js'
import { defaultClusterConf } from '../../src/config/cluster-conf.js'
import type { ClusterConf } from '../../src/config/cluster-conf-types.js'
import type { BackendSpec } from '../../src/config/cluster-table.js'
import type { GslbData } from '../../src/config/gslb.js'

/** A ClusterConf with BFE's defaults; `patch` overrides whole sub-objects' fields. */
export function clusterConf(
  name: string,
  patch: {
    BackendConf?: Partial<ClusterConf['BackendConf']>
    CheckConf?: Partial<ClusterConf['CheckConf']>
    GslbBasic?: Partial<ClusterConf['GslbBasic']>
    ClusterBasic?: Partial<ClusterConf['ClusterBasic']>
  } = {},
): ClusterConf {
  const d = defaultClusterConf(name)
  return {
    ...d,
    BackendConf: { ...d.BackendConf, ...patch.BackendConf },
    CheckConf: { ...d.CheckConf, ...patch.CheckConf },
    GslbBasic: { ...d.GslbBasic, ...patch.GslbBasic },
    ClusterBasic: { ...d.ClusterBasic, ...patch.ClusterBasic },
  }
}

/** Backends `name@addr:port*weight` per sub-cluster. */
export function gslbData(
  clusters: Record<
    string,
    { weights: Record<string, number>; table: Record<string, [string, string, number, number][]> }
  >,
): GslbData {
  const g = new Map<string, Map<string, number>>()
  const t = new Map<string, Map<string, BackendSpec[]>>()
  for (const [name, c] of Object.entries(clusters)) {
    g.set(name, new Map(Object.entries(c.weights)))
    const subs = new Map<string, BackendSpec[]>()
    for (const [sub, list] of Object.entries(c.table)) {
      subs.set(
        sub,
        list.map(([Name, Addr, Port, Weight]) => ({ Name, Addr, Port, Weight })),
      )
    }
    t.set(name, subs)
  }
  return {
    clusterTable: { Version: 'test', Config: t },
    gslb: { Hostname: 'h', Ts: 't', Clusters: g },
    files: { clusterTable: 'cluster_table.data', gslb: 'gslb.data' },
  }
}

/** A request-like object for hash keys. */
export function fakeReq(
  init: { clientAddr?: string; headers?: string[]; rawUri?: string } = {},
): HashSource {
  const headers = new HeaderList(init.headers ?? [])
  let cookies: Map<string, string> | undefined
  return {
    headers,
    rawUri: init.rawUri ?? '/',
    clientAddr: init.clientAddr,
    cookies() {
      if (cookies === undefined) {
        cookies = new Map()
        for (const line of headers.getAll('cookie')) {
          for (const part of line.split(';')) {
            const i = part.indexOf('=')
            if (i > 0) {
              const k = part.slice(0, i).trim()
              if (!cookies.has(k)) cookies.set(k, part.slice(i + 1).trim())
            }
          }
        }
      }
      return cookies
    },
  }
}

/** A deterministic random source (LCG). */
export function seededRandom(seed = 1): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}
