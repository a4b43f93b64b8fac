import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CertPair, TestPki } from './certs.js'

/** A backend for `cluster_table.data`. */
export interface TestBackend {
  Name?: string
  Addr?: string
  Port: number
  Weight?: number
}

/** Everything a test configuration can set; what is missing gets a small working default. */
export interface TestConf {
  /** Extra `[Server]` lines (e.g. `['MaxHeaderUriBytes = 100', 'Modules = mod_test']`). */
  server?: string[]
  /** Extra sections appended verbatim to bfe.conf. */
  extraBfeConf?: string
  hostRule?: unknown
  vipRule?: unknown
  routeRule?: unknown
  clusterConf?: unknown
  /** cluster → sub-cluster → backends. */
  clusterTable?: Record<string, Record<string, TestBackend[]>>
  gslb?: Record<string, Record<string, number>>
  /** Extra files: path relative to the conf root → content (may replace the TLS files below). */
  files?: Record<string, string | Buffer>
  /**
   * TLS: by default one certificate (`localhost`, `*.test`, 127.0.0.1) from the shared test CA
   * as the default certificate, and a tls_rule_conf.data with DefaultNextProtos
   * `["h2", "http/1.1"]` and no rules. Override either file through `files`.
   */
  tlsRule?: unknown
}

let pki: TestPki | undefined
let defaultCert: CertPair | undefined

/** The test CA of this process (made on first use, removed at exit). */
export function testPki(): TestPki {
  if (pki === undefined) {
    const p = new TestPki()
    pki = p
    process.once('exit', () => p.cleanup())
  }
  return pki
}

/** The default server certificate of test configurations. */
export function defaultTestCert(): CertPair {
  if (defaultCert === undefined)
    defaultCert = testPki().server('default', {
      cn: 'localhost',
      dns: ['localhost', '*.test'],
      ips: ['127.0.0.1'],
    })
  return defaultCert
}

/** A conf root in a temp directory, BFE 1.8 layout. `cleanup()` removes it. */
export interface ConfDir {
  root: string
  cleanup(): void
}

/** One product `p` for any host, one cluster `c` with the given backends in sub-cluster `c.a`. */
export function simpleConf(ports: number[], extra: TestConf = {}): TestConf {
  return {
    hostRule: {
      Version: 't',
      DefaultProduct: 'p',
      Hosts: { pTag: ['p.test'] },
      HostTags: { p: ['pTag'] },
    },
    routeRule: {
      Version: 't',
      ProductRule: { p: [{ Cond: 'default_t()', ClusterName: 'c' }] },
    },
    clusterConf: { Version: 't', Config: { c: {} } },
    clusterTable: { c: { 'c.a': ports.map((Port, i) => ({ Name: `b${i}`, Port, Weight: 1 })) } },
    gslb: { c: { 'c.a': 100 } },
    ...extra,
  }
}

export function writeConf(conf: TestConf): ConfDir {
  const root = mkdtempSync(join(tmpdir(), 'bfe-test-'))
  mkdirSync(join(root, 'server_data_conf'))
  mkdirSync(join(root, 'cluster_conf'))
  mkdirSync(join(root, 'tls_conf'))
  mkdirSync(join(root, 'tls_conf', 'certs'))
  mkdirSync(join(root, 'tls_conf', 'client_ca'))
  mkdirSync(join(root, 'tls_conf', 'client_crl'))
  const own = conf.server ?? []
  const server = [
    '[Server]',
    'HttpPort = 8080',
    'NameConf =',
    'MaxCpus = 1',
    // Tests run side by side: no monitor on the fixed default port unless a test asks for one.
    ...(own.some((l) => /^\s*Monitor(Enabled|Port)\b/.test(l)) ? [] : ['MonitorEnabled = false']),
    ...own,
  ]
  writeFileSync(join(root, 'bfe.conf'), `${server.join('\n')}\n${conf.extraBfeConf ?? ''}\n`)
  const json = (p: string, v: unknown) => writeFileSync(join(root, p), JSON.stringify(v, null, 2))
  json(
    'server_data_conf/host_rule.data',
    conf.hostRule ?? { Version: 't', DefaultProduct: null, Hosts: {}, HostTags: {} },
  )
  json('server_data_conf/vip_rule.data', conf.vipRule ?? { Version: 't', Vips: {} })
  json('server_data_conf/route_rule.data', conf.routeRule ?? { Version: 't', ProductRule: {} })
  json('server_data_conf/cluster_conf.data', conf.clusterConf ?? { Version: 't', Config: {} })
  const table: Record<string, Record<string, Required<TestBackend>[]>> = {}
  for (const [c, subs] of Object.entries(conf.clusterTable ?? {})) {
    table[c] = {}
    for (const [s, list] of Object.entries(subs)) {
      table[c][s] = list.map((b, i) => ({
        Name: b.Name ?? `${s}-${i}`,
        Addr: b.Addr ?? '127.0.0.1',
        Port: b.Port,
        Weight: b.Weight ?? 1,
      }))
    }
  }
  json('cluster_conf/cluster_table.data', { Version: 't', Config: table })
  json('cluster_conf/gslb.data', { Hostname: 'test', Ts: '0', Clusters: conf.gslb ?? {} })
  const cert = defaultTestCert()
  writeFileSync(join(root, 'tls_conf/certs/default.crt'), cert.certPem)
  writeFileSync(join(root, 'tls_conf/certs/default.key'), cert.keyPem)
  json('tls_conf/server_cert_conf.data', {
    Version: 't',
    Config: {
      Default: 'default',
      CertConf: {
        default: {
          ServerCertFile: 'tls_conf/certs/default.crt',
          ServerKeyFile: 'tls_conf/certs/default.key',
        },
      },
    },
  })
  json(
    'tls_conf/tls_rule_conf.data',
    conf.tlsRule ?? { Version: 't', DefaultNextProtos: ['h2', 'http/1.1'], Config: {} },
  )
  for (const [p, content] of Object.entries(conf.files ?? {})) {
    const full = join(root, p)
    mkdirSync(join(full, '..'), { recursive: true })
    writeFileSync(full, content)
  }
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) }
}

/** One cluster of `clustersConf`. */
export interface TestCluster {
  /** Hosts routed to this cluster (its product has the cluster's name). */
  hosts: string[]
  /** Sub-cluster → backends. */
  subs: Record<string, TestBackend[]>
  /** Sub-cluster → GSLB weight; default 1 for each sub-cluster of `subs`. */
  gslb?: Record<string, number>
  /** The cluster's cluster_conf.data entry (default `{}`). */
  conf?: unknown
}

/**
 * One product per cluster (named like the cluster) for the cluster's hosts, routed with
 * `default_t()`; no DefaultProduct. `extra` overrides any part.
 */
export function clustersConf(
  clusters: Record<string, TestCluster>,
  extra: TestConf = {},
): TestConf {
  const hosts: Record<string, string[]> = {}
  const hostTags: Record<string, string[]> = {}
  const productRule: Record<string, { Cond: string; ClusterName: string }[]> = {}
  const config: Record<string, unknown> = {}
  const table: Record<string, Record<string, TestBackend[]>> = {}
  const gslb: Record<string, Record<string, number>> = {}
  for (const [name, c] of Object.entries(clusters)) {
    hosts[`${name}Tag`] = c.hosts
    hostTags[name] = [`${name}Tag`]
    productRule[name] = [{ Cond: 'default_t()', ClusterName: name }]
    config[name] = c.conf ?? {}
    table[name] = c.subs
    gslb[name] = c.gslb ?? Object.fromEntries(Object.keys(c.subs).map((s) => [s, 1]))
  }
  return {
    hostRule: { Version: 't', DefaultProduct: null, Hosts: hosts, HostTags: hostTags },
    routeRule: { Version: 't', ProductRule: productRule },
    clusterConf: { Version: 't', Config: config },
    clusterTable: table,
    gslb,
    ...extra,
  }
}
