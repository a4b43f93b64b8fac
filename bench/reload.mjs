#!/usr/bin/env node
// Times the two big hot reloads of one worker: `/reload/server_data_conf` (routing) and
// `/reload/gslb_data_conf` (balancing), as prepare + commit through BfeServer.reloadPreparers().
//
//   npm run bench:reload            (= npm run build && node bench/reload.mjs)
//   node bench/reload.mjs [--rules 10000] [--clusters 1000] [--backends 10] [--runs 10] [--json]
//
// The configuration is generated in a temporary directory: 100 products with 10 host names each,
// `--rules` advanced route rules spread over the products (conditions on path, method, headers,
// cookies, query and host), `--clusters` clusters in cluster_conf.data with health checks and
// timeouts, two sub-clusters per cluster in gslb.data, and `--backends` backends per cluster in
// cluster_table.data. Two versions (A and B) of each file set differ a little (some rules point
// elsewhere, some weights and a backend per 10 clusters change, one cluster's timeout changes), and
// every reload switches to the other one with `path=<dir>`, so each run really changes something.
// The server listens on 127.0.0.1 (ports chosen by the system) so balancers have their prober.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { makeSelfSigned } from '../scripts/example-cert.mjs'

const { values: args } = parseArgs({
  options: {
    rules: { type: 'string', default: '10000' },
    clusters: { type: 'string', default: '1000' },
    backends: { type: 'string', default: '10' },
    runs: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (args.help) {
  process.stdout.write(
    'node bench/reload.mjs [--rules N] [--clusters N] [--backends N] [--runs N] [--json]\n',
  )
  process.exit(0)
}
const RULES = Number(args.rules)
const CLUSTERS = Number(args.clusters)
const BACKENDS = Number(args.backends)
const RUNS = Number(args.runs)
const PRODUCTS = 100
const HOSTS_PER_PRODUCT = 10

const { BfeServer } = await import('../dist/src/server/server.js')

/** A condition for rule `j` of product `p`: the primitives real route files use. */
function cond(p, j) {
  switch (j % 6) {
    case 0:
      return `req_path_prefix_in("/p${p}/api/v${j}", false) && req_method_in("GET|POST")`
    case 1:
      return `req_host_in("h0.p${p}.bench.test|h1.p${p}.bench.test") && req_path_prefix_in("/s${j}", true)`
    case 2:
      return `req_header_value_in("X-Tenant", "t${j}|u${j}", true)`
    case 3:
      return `req_cookie_value_in("grp", "g${j}", false) || req_query_value_in("grp", "g${j}", false)`
    case 4:
      return `req_path_suffix_in(".x${j}", true) && !req_method_in("DELETE")`
    default:
      return `req_path_element_prefix_in("/e${j}", false) && req_header_key_in("X-Env-${j}")`
  }
}

const clusterName = (i) => `cluster_${i}`

/** The data files in BFE's layout, or all in `dir` itself when `flat` (a `path=` directory). */
function writeData(dir, variant, flat = false) {
  const sd = flat ? dir : join(dir, 'server_data_conf')
  const cc = flat ? dir : join(dir, 'cluster_conf')
  mkdirSync(sd, { recursive: true })
  mkdirSync(cc, { recursive: true })
  const json = (p, v) => writeFileSync(p, JSON.stringify(v))

  const hosts = {}
  const hostTags = {}
  const productRule = {}
  const perProduct = Math.ceil(RULES / PRODUCTS)
  let n = 0
  for (let p = 0; p < PRODUCTS; p++) {
    const product = `product_${p}`
    hosts[`${product}_tag`] = Array.from(
      { length: HOSTS_PER_PRODUCT },
      (_, h) => `h${h}.p${p}.bench.test`,
    )
    hostTags[product] = [`${product}_tag`]
    const rules = []
    for (let j = 0; j < perProduct && n < RULES; j++, n++) {
      // variant B sends every 50th rule to the next cluster
      const c = (n + (variant === 'B' && n % 50 === 0 ? 1 : 0)) % CLUSTERS
      rules.push({ Cond: cond(p, j), ClusterName: clusterName(c) })
    }
    productRule[product] = rules
  }
  json(join(sd, 'host_rule.data'), {
    Version: variant,
    DefaultProduct: null,
    Hosts: hosts,
    HostTags: hostTags,
  })
  json(join(sd, 'vip_rule.data'), { Version: variant, Vips: {} })
  json(join(sd, 'route_rule.data'), { Version: variant, ProductRule: productRule })

  const config = {}
  for (let i = 0; i < CLUSTERS; i++) {
    config[clusterName(i)] = {
      BackendConf: {
        TimeoutConnSrv: 2000,
        // variant B changes one cluster's transport settings
        TimeoutResponseHeader: variant === 'B' && i === 0 ? 30000 : 50000,
        MaxIdleConnsPerHost: 2,
        RetryLevel: 0,
        SlowStartTime: i % 3 === 0 ? 10 : 0,
      },
      CheckConf: {
        Schem: 'http',
        Uri: '/health',
        StatusCode: 200,
        FailNum: 3,
        CheckInterval: 1000,
      },
      GslbBasic: { CrossRetry: 1, RetryMax: 2, BalanceMode: i % 2 === 0 ? 'WRR' : 'WLC' },
      ClusterBasic: { TimeoutReadClient: 30000, TimeoutWriteClient: 60000 },
    }
  }
  json(join(sd, 'cluster_conf.data'), { Version: variant, Config: config })

  const table = {}
  const gslb = {}
  for (let i = 0; i < CLUSTERS; i++) {
    const name = clusterName(i)
    const subs = { [`${name}.a`]: [], [`${name}.b`]: [] }
    for (let k = 0; k < BACKENDS; k++) {
      const sub = k % 2 === 0 ? `${name}.a` : `${name}.b`
      // variant B: every 10th cluster swaps its last backend for another address and
      // reweights its first one
      const swap = variant === 'B' && i % 10 === 0 && k === BACKENDS - 1
      subs[sub].push({
        Name: `${name}-b${k}`,
        Addr: `10.${(i >> 8) & 255}.${i & 255}.${swap ? 200 + k : 1 + k}`,
        Port: 8080,
        Weight: variant === 'B' && i % 10 === 0 && k === 0 ? 5 : 1,
      })
    }
    table[name] = subs
    gslb[name] = { [`${name}.a`]: variant === 'B' && i % 7 === 0 ? 70 : 50, [`${name}.b`]: 50 }
  }
  json(join(cc, 'cluster_table.data'), { Version: variant, Config: table })
  json(join(cc, 'gslb.data'), { Hostname: 'bench', Ts: variant, Clusters: gslb })
}

function setUp() {
  const root = mkdtempSync(join(tmpdir(), 'bfe-reload-bench-'))
  writeData(root, 'A')
  writeData(join(root, 'A'), 'A', true)
  writeData(join(root, 'B'), 'B', true)
  makeSelfSigned(join(root, 'tls_conf/certs/server.crt'), join(root, 'tls_conf/certs/server.key'), [
    'DNS:localhost',
  ])
  writeFileSync(
    join(root, 'tls_conf/server_cert_conf.data'),
    JSON.stringify({
      Version: 'bench',
      Config: {
        Default: 'server',
        CertConf: {
          server: {
            ServerCertFile: join(root, 'tls_conf/certs/server.crt'),
            ServerKeyFile: join(root, 'tls_conf/certs/server.key'),
          },
        },
      },
    }),
  )
  writeFileSync(
    join(root, 'tls_conf/tls_rule_conf.data'),
    JSON.stringify({ Version: 'bench', DefaultNextProtos: ['h2', 'http/1.1'], Config: {} }),
  )
  mkdirSync(join(root, 'tls_conf/client_ca'), { recursive: true })
  mkdirSync(join(root, 'tls_conf/client_crl'), { recursive: true })
  writeFileSync(join(root, 'bfe.conf'), '[Server]\nHttpPort = 8080\nNameConf =\nMaxCpus = 1\n')
  return root
}

function stats(list) {
  const s = [...list].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
  return { median, max: s[s.length - 1], min: s[0] }
}

async function timeReload(prepare, dir) {
  const t0 = performance.now()
  const p = await prepare(new URLSearchParams({ path: dir }))
  const t1 = performance.now()
  p.commit()
  const t2 = performance.now()
  return { prepare: t1 - t0, commit: t2 - t1, total: t2 - t0 }
}

const root = setUp()
let server
try {
  const tLoad = performance.now()
  server = await BfeServer.load({
    confRoot: root,
    httpPort: 0,
    httpAddr: '127.0.0.1',
    httpsPort: 0,
    httpsAddr: '127.0.0.1',
  })
  const loadMs = performance.now() - tLoad
  await server.listen()
  const preparers = server.reloadPreparers()
  const results = {}
  for (const name of ['server_data_conf', 'gslb_data_conf']) {
    const prepare = preparers.get(name)
    const runs = []
    // one untimed warm-up each way, then RUNS timed reloads alternating B and A
    await timeReload(prepare, join(root, 'B'))
    await timeReload(prepare, join(root, 'A'))
    for (let i = 0; i < RUNS; i++) {
      runs.push(await timeReload(prepare, join(root, i % 2 === 0 ? 'B' : 'A')))
    }
    results[name] = {
      total: stats(runs.map((r) => r.total)),
      prepare: stats(runs.map((r) => r.prepare)),
      commit: stats(runs.map((r) => r.commit)),
    }
  }
  const backends = server.runtime.balTable.status().BackendNum
  const conf = {
    rules: RULES,
    clusters: CLUSTERS,
    backends,
    products: PRODUCTS,
    hosts: PRODUCTS * HOSTS_PER_PRODUCT,
    runs: RUNS,
    node: process.version,
    loadMs: Math.round(loadMs),
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ conf, results }, null, 2)}\n`)
  } else {
    const f = (x) => x.toFixed(1)
    process.stdout.write(
      `reload of ${RULES} route rules, ${CLUSTERS} clusters, ${backends} backends ` +
        `(${PRODUCTS * HOSTS_PER_PRODUCT} hosts); ${RUNS} runs each, Node ${process.version}; ` +
        `start-up load ${conf.loadMs} ms\n\n`,
    )
    process.stdout.write(
      '| reload | median ms | max ms | prepare median | commit median | commit max |\n',
    )
    process.stdout.write('|---|---:|---:|---:|---:|---:|\n')
    for (const [name, r] of Object.entries(results)) {
      process.stdout.write(
        `| ${name} | ${f(r.total.median)} | ${f(r.total.max)} | ${f(r.prepare.median)} | ` +
          `${f(r.commit.median)} | ${f(r.commit.max)} |\n`,
      )
    }
  }
  const worst = Math.max(...Object.values(results).map((r) => r.total.max))
  if (worst >= 1000) {
    process.stderr.write(`slower than 1 s: ${worst.toFixed(0)} ms\n`)
    process.exitCode = 1
  }
} finally {
  await server?.close()
  rmSync(root, { recursive: true, force: true })
}
