import assert from 'node:assert/strict'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { BfeServer } from '../../src/server/server.js'
import { testPki, writeConf } from '../helpers/conf.js'
import { run } from '../helpers/exec.js'
import { MAIN, ROOT } from '../helpers/process.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

/*
 * `bfe explain --json` against the live server: 1,000 generated requests per configuration are
 * explained by the CLI (one process, in order), then sent one at a time to a real server started
 * on the same configuration, whose echo backends answer with their cluster and name. Explain's
 * cluster and backend must be where the server sent each request.
 */

const temps: string[] = []
const upstreams: Upstream[] = []
after(async () => {
  for (const u of upstreams) await u.close()
  for (const d of temps) rmSync(d, { recursive: true, force: true })
})

/** A seeded generator (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Echo backends for every backend of a cluster_table.data: each entry gets its own upstream that
 * answers `X-Echo: <cluster>/<name>`; the table is rewritten to point at them.
 */
async function echoTable(file: string): Promise<void> {
  const t = JSON.parse(readFileSync(file, 'utf8')) as {
    Config: Record<string, Record<string, { Name: string; Addr: string; Port: number }[]>>
  }
  for (const [cluster, subs] of Object.entries(t.Config)) {
    for (const list of Object.values(subs)) {
      for (const b of list) {
        const who = `${cluster}/${b.Name}`
        const u = await startUpstream((req, res) => {
          req.resume()
          res.writeHead(200, { 'x-echo': who, 'content-length': Buffer.byteLength(who) })
          res.end(who)
        })
        upstreams.push(u)
        b.Addr = '127.0.0.1'
        b.Port = u.port
      }
    }
  }
  writeFileSync(file, JSON.stringify(t, null, 2))
}

interface Sent {
  status: number
  echo: string | undefined
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 })

function send(
  port: number,
  method: string,
  host: string,
  path: string,
  headers: [string, string][],
): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { host }
    for (const [k, v] of headers) h[k] = v
    const r = request({ host: '127.0.0.1', port, method, path, headers: h, agent }, (res) => {
      res.resume()
      res.on('end', () => {
        const e = res.headers['x-echo']
        resolve({ status: res.statusCode ?? 0, echo: typeof e === 'string' ? e : undefined })
      })
    })
    r.on('error', reject)
    r.end()
  })
}

interface Gen {
  method: string
  host: string
  path: string
  headers: [string, string][]
}

interface ExplainJson {
  product: string | null
  cluster: string | null
  subCluster: string | null
  backend: { name: string; addr: string; port: number } | null
  error: { code: string } | null
  answeredBy: { module: string } | null
  steps: { step: string }[]
}

/** Explains `reqs` with the CLI, sends them to a live server on `root`, compares. */
async function compareWithLive(
  root: string,
  reqs: Gen[],
): Promise<{ routed: Set<string>; answered: number; failed: number }> {
  const file = join(root, 'requests.txt')
  const line = (g: Gen) =>
    `${g.method} http://${g.host}${g.path}${g.headers.map(([k, v]) => ` ${k}: ${v}`).join('')}`
  writeFileSync(file, `${reqs.map(line).join('\n')}\n`)
  const r = await run(
    process.execPath,
    [MAIN, 'explain', '-c', root, '--requests', file, '--json', '--cip', '127.0.0.1'],
    { timeoutMs: 60_000 },
  )
  assert.equal(r.code, 0, r.stderr)
  const explained = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ExplainJson)
  assert.equal(explained.length, reqs.length)

  const server = await BfeServer.load({
    confRoot: root,
    httpPort: 0,
    httpAddr: '127.0.0.1',
    httpsPort: 0,
    httpsAddr: '127.0.0.1',
    monitor: false,
  })
  const port = await server.listen()
  const routed = new Set<string>()
  let answered = 0
  let failed = 0
  try {
    for (let i = 0; i < reqs.length; i++) {
      const g = reqs[i] as Gen
      const e = explained[i] as ExplainJson
      const got = await send(port, g.method, g.host, g.path, g.headers)
      const what = `request ${i}: ${line(g)}`
      if (e.answeredBy !== null) {
        answered++
        assert.equal(got.echo, undefined, `${what}: explain says a module answers`)
        assert.equal(got.status, 403, what)
        continue
      }
      if (e.error !== null) {
        failed++
        assert.equal(got.echo, undefined, `${what}: explain says ${e.error.code}`)
        assert.ok(got.status >= 500, `${what}: status ${got.status}`)
        continue
      }
      assert.ok(e.backend !== null && e.cluster !== null, what)
      assert.equal(got.status, 200, what)
      assert.equal(got.echo, `${e.cluster}/${e.backend.name}`, what)
      routed.add(got.echo ?? '')
    }
  } finally {
    await server.close()
  }
  return { routed, answered, failed }
}

describe('bfe explain agrees with the live server', () => {
  test('bundled conf/: 1,000 requests, cluster and backend', { timeout: 120_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'bfe-explain-'))
    temps.push(root)
    cpSync(join(ROOT, 'conf'), root, { recursive: true })
    const c = testPki().server('explain', { cn: 'example.org', dns: ['example.org', 'localhost'] })
    mkdirSync(join(root, 'tls_conf/certs'), { recursive: true })
    writeFileSync(join(root, 'tls_conf/certs/server.crt'), c.certPem)
    writeFileSync(join(root, 'tls_conf/certs/server.key'), c.keyPem)
    await echoTable(join(root, 'cluster_conf/cluster_table.data'))
    const rand = rng(7)
    const pick = <T>(l: readonly T[]): T => l[Math.floor(rand() * l.length)] as T
    const reqs: Gen[] = []
    for (let i = 0; i < 1000; i++) {
      reqs.push({
        method: pick(['GET', 'GET', 'HEAD', 'POST', 'DELETE']),
        host: pick([
          'localhost',
          'example.local',
          'static.example.local',
          'a.b.example.local',
          'api.example.local',
          'unknown.test',
        ]),
        path: pick(['/', '/hello', '/v2/items', '/v2', '/img/logo.png', '/img', '/v3/x?y=1']),
        headers: rand() < 0.3 ? [['X-Trace', String(i)]] : [],
      })
    }
    const { routed } = await compareWithLive(root, reqs)
    // every backend of every cluster was reached (WRR rotation included)
    assert.deepEqual([...routed].sort(), [
      'cluster_static/static-1',
      'cluster_v2/v2-1',
      'cluster_web/web-1',
      'cluster_web/web-2',
    ])
  })

  test('a BFE-format conf with several products, hashing, sticky backends, mod_tag and a user module', {
    timeout: 120_000,
  }, async () => {
    const gateModule = `export default {
  name: 'mod_test_gate',
  init(ctx) {
    ctx.callbacks.addRequestFilter(2, (req) => (req.path.startsWith('/gate/') ? 0 : 1), 'gate')
  },
  explain(req, point) {
    if (point !== 2 || !req.path.startsWith('/gate/')) return undefined
    return { summary: 'path under /gate/: Finish (403)', result: 0 }
  },
}
`
    const dir = writeConf({
      server: ['Modules = mod_tag', 'Modules = mod_test_gate', 'ModuleFile = gate.mjs'],
      files: {
        'gate.mjs': gateModule,
        'mod_tag/mod_tag.conf': '[Basic]\nDataPath = mod_tag/tag_rule.data\n',
        'mod_tag/tag_rule.data': JSON.stringify({
          Version: 't1',
          Config: {
            shop: [
              {
                Cond: 'req_header_value_in("X-Env", "canary", true)',
                Param: { TagName: 'env', TagValue: 'canary' },
                Last: true,
              },
            ],
          },
        }),
      },
      hostRule: {
        Version: 't',
        Hosts: {
          shopTag: ['shop.test', '*.shop.test'],
          apiTag: ['api.test'],
          imgTag: ['img.test', 'cdn.img.test'],
        },
        HostTags: { shop: ['shopTag'], api: ['apiTag'], img: ['imgTag'] },
      },
      routeRule: {
        Version: 't',
        BasicRule: {
          img: [
            { Hostname: ['cdn.img.test'], Path: ['/static/*'], ClusterName: 'c_img' },
            { Hostname: [], Path: ['*'], ClusterName: 'ADVANCED_MODE' },
          ],
        },
        ProductRule: {
          shop: [
            { Cond: 'req_tag_match("env", "canary")', ClusterName: 'c_canary' },
            {
              Cond: 'req_path_prefix_in("/cart/", false) || req_cookie_value_in("vip", "1", false)',
              ClusterName: 'c_sticky',
            },
            { Cond: 'default_t()', ClusterName: 'c_shop' },
          ],
          api: [
            { Cond: 'req_method_in("POST|PUT")', ClusterName: 'c_api_write' },
            { Cond: 'req_query_key_in("debug")', ClusterName: 'c_uri' },
            { Cond: 'default_t()', ClusterName: 'c_shop' },
          ],
          img: [{ Cond: 'req_path_suffix_in(".png|.jpg", false)', ClusterName: 'c_img' }],
        },
      },
      clusterConf: {
        Version: 't',
        Config: {
          c_shop: { GslbBasic: { CrossRetry: 0 } },
          c_canary: {},
          c_sticky: {
            GslbBasic: {
              HashConf: { HashStrategy: 2, HashHeader: 'Cookie:uid', SessionSticky: true },
            },
          },
          c_api_write: { GslbBasic: { HashConf: { HashStrategy: 2, HashHeader: 'X-Uid' } } },
          c_uri: { GslbBasic: { HashConf: { HashStrategy: 3 } } },
          c_img: {},
        },
      },
      clusterTable: {
        c_shop: {
          'c_shop.a': [
            { Port: 1, Weight: 3 },
            { Port: 1, Weight: 2 },
            { Port: 1, Weight: 1 },
          ],
        },
        c_canary: { 'c_canary.a': [{ Port: 1 }] },
        c_sticky: {
          'c_sticky.a': [{ Port: 1, Weight: 2 }, { Port: 1 }],
          'c_sticky.b': [{ Port: 1 }, { Port: 1 }, { Port: 1, Weight: 5 }],
        },
        c_api_write: {
          'c_api_write.a': [{ Port: 1 }],
          'c_api_write.b': [{ Port: 1 }, { Port: 1 }],
        },
        c_uri: {
          'c_uri.a': [{ Port: 1 }],
          'c_uri.b': [{ Port: 1 }],
          'c_uri.c': [{ Port: 1, Weight: 4 }],
        },
        c_img: { 'c_img.a': [{ Port: 1 }, { Port: 1 }] },
      },
      gslb: {
        c_shop: { 'c_shop.a': 100 },
        c_canary: { 'c_canary.a': 100 },
        c_sticky: { 'c_sticky.a': 30, 'c_sticky.b': 70 },
        c_api_write: { 'c_api_write.a': 50, 'c_api_write.b': 50 },
        c_uri: { 'c_uri.a': 20, 'c_uri.b': 30, 'c_uri.c': 50 },
        c_img: { 'c_img.a': 100 },
      },
    })
    temps.push(dir.root)
    // writeConf names backends <sub-cluster>-<i>; make them point at echo upstreams
    await echoTable(join(dir.root, 'cluster_conf/cluster_table.data'))
    const rand = rng(11)
    const pick = <T>(l: readonly T[]): T => l[Math.floor(rand() * l.length)] as T
    const reqs: Gen[] = []
    for (let i = 0; i < 1000; i++) {
      const headers: [string, string][] = []
      if (rand() < 0.2) headers.push(['X-Env', pick(['canary', 'prod'])])
      if (rand() < 0.4)
        headers.push(['Cookie', `uid=u${Math.floor(rand() * 50)}; vip=${pick(['0', '1'])}`])
      if (rand() < 0.5) headers.push(['X-Uid', `user-${Math.floor(rand() * 100)}`])
      reqs.push({
        method: pick(['GET', 'GET', 'POST', 'PUT', 'HEAD']),
        host: pick([
          'shop.test',
          'm.shop.test',
          'api.test',
          'img.test',
          'cdn.img.test',
          'nowhere.test',
        ]),
        path: pick([
          '/',
          '/cart/1',
          '/items?id=3',
          '/static/a.png',
          '/p/b.jpg',
          '/gate/x',
          `/q?debug=${i}`,
          `/u/${i}`,
        ]),
        headers,
      })
    }
    const { routed, answered, failed } = await compareWithLive(dir.root, reqs)
    assert.ok(answered > 50, `the user module answered ${answered}`)
    assert.ok(failed > 50, `requests without a product or route: ${failed}`)
    for (const c of ['c_shop', 'c_canary', 'c_sticky', 'c_api_write', 'c_uri', 'c_img'])
      assert.ok(
        [...routed].some((r) => r.startsWith(`${c}/`)),
        `cluster ${c} reached`,
      )
    assert.ok(routed.size >= 12, `backends reached: ${[...routed].join(' ')}`)
  })
})
