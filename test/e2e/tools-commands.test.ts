import assert from 'node:assert/strict'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { allSchemas } from '../../src/tools/schemas.js'
import { simpleConf, type TestConf, writeConf } from '../helpers/conf.js'
import { run } from '../helpers/exec.js'
import { MAIN, ROOT } from '../helpers/process.js'

const temps: string[] = []
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true })
})

function bfe(args: string[]) {
  return run(process.execPath, [MAIN, ...args], { timeoutMs: 30_000 })
}

function conf(c: TestConf): string {
  const d = writeConf(c)
  temps.push(d.root)
  return d.root
}

/** Two products, a canary cluster chosen by header, two weighted sub-clusters hashed by URI. */
function twoProducts(extra: Partial<TestConf> = {}): TestConf {
  return {
    hostRule: {
      Version: 't',
      Hosts: { wTag: ['www.test'], aTag: ['api.test', '*.api.test'] },
      HostTags: { www: ['wTag'], api: ['aTag'] },
    },
    routeRule: {
      Version: 't',
      ProductRule: {
        www: [
          { Cond: 'req_header_value_in("X-Env", "canary", false)', ClusterName: 'canary' },
          { Cond: 'default_t()', ClusterName: 'web' },
        ],
        api: [{ Cond: 'default_t()', ClusterName: 'web' }],
      },
    },
    clusterConf: {
      Version: 't',
      Config: { web: { GslbBasic: { HashConf: { HashStrategy: 3 } } }, canary: {} },
    },
    clusterTable: {
      web: { 'web.a': [{ Port: 9001 }, { Port: 9002 }], 'web.b': [{ Port: 9003 }] },
      canary: { 'canary.a': [{ Port: 9004 }] },
    },
    gslb: { web: { 'web.a': 60, 'web.b': 40 }, canary: { 'canary.a': 100 } },
    ...extra,
  }
}

describe('bfe explain', () => {
  test('text: product, rules, cluster, GSLB bucket and backend', async () => {
    const root = conf(twoProducts())
    const r = await bfe(['explain', '-c', root, '-H', 'X-Env: canary', 'http://www.test/a'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /product +www \(host www\.test, host tag wTag\)/)
    assert.match(
      r.stdout,
      /advanced 0 matched +req_header_value_in\("X-Env", "canary", false\) -> canary/,
    )
    assert.match(r.stdout, /advanced 1 not evaluated +default_t\(\) -> web/)
    assert.match(r.stdout, /backend +canary\.a-0 127\.0\.0\.1:9004 in canary\.a/)
  })

  test('--json: the keys, steps in pipeline order, the hash key and bucket', async () => {
    const root = conf(twoProducts())
    const r = await bfe(['explain', '-c', root, '--json', '-X', 'POST', 'http://x.api.test/p?q=1'])
    assert.equal(r.code, 0, r.stderr)
    const e = JSON.parse(r.stdout) as {
      product: string
      hostTag: string
      cluster: string
      subCluster: string
      backend: { name: string; port: number }
      steps: {
        step: string
        via?: string
        hashKey?: { source: string; value: string }
        bucket?: number
      }[]
    }
    assert.equal(e.product, 'api')
    assert.equal(e.hostTag, 'aTag')
    assert.equal(e.cluster, 'web')
    assert.deepEqual(
      e.steps.map((s) => s.step),
      ['product', 'route', 'gslb', 'backend'],
    )
    assert.equal(e.steps[0]?.via, 'wildcard')
    const g = e.steps[2]
    assert.deepEqual(g?.hashKey, { source: 'request URI', value: '/p?q=1' })
    assert.ok(typeof g?.bucket === 'number' && g.bucket >= 0 && g.bucket < 100)
    // bucket < 40 falls in web.a (weight 60 after web.a? no: sorted by name, web.a first: 0..59)
    assert.equal(e.subCluster, (g?.bucket ?? 0) < 60 ? 'web.a' : 'web.b')
    assert.ok(['web.a-0', 'web.a-1', 'web.b-0'].includes(e.backend.name))
  })

  test('unknown host with no default product: exit 1 with the reason', async () => {
    const root = conf(twoProducts())
    const r = await bfe(['explain', '-c', root, 'http://nowhere.test/'])
    assert.equal(r.code, 1)
    assert.match(r.stdout, /no product: host "nowhere\.test" matches no host rule/)
    assert.match(r.stderr, /BK_FIND_PRODUCT: no product found for this request/)
    const j = await bfe(['explain', '-c', root, '--json', 'http://nowhere.test/'])
    assert.equal(j.code, 1)
    const e = JSON.parse(j.stdout) as { product: null; error: { code: string } }
    assert.equal(e.product, null)
    assert.equal(e.error.code, 'BK_FIND_PRODUCT')
  })

  test('the VIP decides when the host does not; a bad -H is a usage error', async () => {
    const root = conf(twoProducts({ vipRule: { Version: 't', Vips: { api: ['10.0.0.7'] } } }))
    const r = await bfe(['explain', '-c', root, '--vip', '10.0.0.7', 'http://other.test/'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /product +api \(VIP 10\.0\.0\.7\)/)
    const bad = await bfe(['explain', '-c', root, '-H', 'nocolon', 'http://www.test/'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /write Name: value/)
  })
})

describe('bfe -t', () => {
  test('lists every broken file, not only the first; --json for CI', async () => {
    const root = conf(simpleConf([9001]))
    writeFileSync(
      join(root, 'cluster_conf/gslb.data'),
      '{"Hostname": "h", "Ts": "0", "Clusters": {"c": {"c.a": "x"}}}',
    )
    writeFileSync(join(root, 'server_data_conf/vip_rule.data'), '{"Version": "", "Vips": {}}')
    const r = await bfe(['-t', '-c', root])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /vip_rule\.data: \/Version must not be empty/)
    assert.match(r.stderr, /gslb\.data: \/Clusters\/c\/c\.a must be an integer/)
    assert.match(r.stderr, /2 errors/)
    assert.match(r.stderr, /test failed/)
    const j = await bfe(['-t', '--json', '-c', root])
    assert.equal(j.code, 1)
    const rep = JSON.parse(j.stdout) as { ok: boolean; errors: { file: string; field: string }[] }
    assert.equal(rep.ok, false)
    assert.deepEqual(
      rep.errors.map((e) => [e.file.split('/').pop(), e.field]),
      [
        ['vip_rule.data', '/Version'],
        ['gslb.data', '/Clusters/c/c.a'],
      ],
    )
  })

  test('warnings: D1 precedence, rules after default_t(), clusters without backends, weight 0', async () => {
    const root = conf({
      ...simpleConf([9001]),
      routeRule: {
        Version: 't',
        ProductRule: {
          p: [
            {
              Cond: 'req_host_in("a.test") && req_method_in("GET") || req_method_in("HEAD")',
              ClusterName: 'c',
            },
            { Cond: 'default_t()', ClusterName: 'c' },
            { Cond: 'req_path_prefix_in("/x", false)', ClusterName: 'orphan' },
          ],
        },
      },
      clusterConf: { Version: 't', Config: { c: {}, orphan: {} } },
      clusterTable: { c: { 'c.a': [{ Port: 9001 }], 'c.b': [{ Port: 9002 }] } },
      gslb: { c: { 'c.a': 100, 'c.b': 0 } },
      server: ['Modules = mod_tag'],
      files: {
        'mod_tag/mod_tag.conf': '[Basic]\nDataPath = mod_tag/tag_rule.data\n',
        'mod_tag/tag_rule.data': JSON.stringify({
          Version: 'v',
          Config: {
            p: [
              {
                Cond: 'req_method_in("GET") || req_method_in("HEAD") && req_path_in("/t", false)',
                Param: { TagName: 't', TagValue: '1' },
              },
            ],
          },
        }),
      },
    })
    const j = await bfe(['-t', '--json', '-c', root])
    assert.equal(j.code, 0, j.stderr)
    const rep = JSON.parse(j.stdout) as { ok: boolean; warnings: string[] }
    assert.equal(rep.ok, true)
    const w = rep.warnings.join('\n')
    assert.match(w, /route_rule\.data: \/ProductRule\/p\/0\/Cond .*(&&|\|\|)/)
    assert.match(w, /1 rule\(s\) after the default_t\(\) rule 1 can never match/)
    assert.match(w, /cluster "orphan" has no backends/)
    assert.match(w, /\/Clusters\/c\/c\.b has weight 0/)
    // a module's rule file: its D1 warning reaches -t too
    assert.match(w, /tag_rule\.data: \/Config\/p\/0\/Cond .*(&&|\|\|)/)
    const t = await bfe(['-t', '-c', root])
    assert.equal(t.code, 0)
    assert.match(t.stdout, /test is successful/)
    assert.match(t.stderr, /bfe: warning: .*can never match/)
  })
})

describe('bfe simulate', () => {
  test('counts product, cluster and sub-cluster changes, with examples', async () => {
    const oldRoot = conf(twoProducts())
    const changed = twoProducts()
    // the canary takes api too; web gets a new sub-cluster layout
    ;(changed.routeRule as { ProductRule: Record<string, unknown[]> }).ProductRule['api'] = [
      { Cond: 'req_path_prefix_in("/v2/", false)', ClusterName: 'canary' },
      { Cond: 'default_t()', ClusterName: 'web' },
    ]
    changed.gslb = { web: { 'web.a': 10, 'web.b': 90 }, canary: { 'canary.a': 100 } }
    changed.hostRule = {
      Version: 't',
      Hosts: { wTag: ['www.test'], aTag: ['api.test', '*.api.test', 'old.test'] },
      HostTags: { www: ['wTag'], api: ['aTag'] },
    }
    const newRoot = conf(changed)
    const lines = [
      '# a comment',
      'GET http://api.test/v2/x',
      'GET http://api.test/v1/x',
      'GET http://old.test/',
      'GET http://www.test/ X-Env: canary',
      JSON.stringify({
        request_line: 'GET /v2/y HTTP/1.1',
        host: 'api.test',
        remote_addr: '10.1.1.1:5555',
      }),
    ]
    for (let i = 0; i < 40; i++) lines.push(`GET http://www.test/page/${i}`)
    const file = join(oldRoot, 'reqs.txt')
    writeFileSync(file, `${lines.join('\n')}\n`)
    const r = await bfe(['simulate', '-c', oldRoot, '-n', newRoot, '--requests', file, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const rep = JSON.parse(r.stdout) as {
      requests: number
      changed: { product: number; cluster: number; subCluster: number }
      examples: {
        cluster: { request: string; old: { cluster: string }; new: { cluster: string } }[]
      }
    }
    assert.equal(rep.requests, 45)
    assert.equal(rep.changed.product, 1) // old.test: no product -> api
    assert.equal(rep.changed.cluster, 3) // two /v2/ requests + old.test
    assert.ok(rep.changed.subCluster > 5, `sub-cluster changes: ${rep.changed.subCluster}`)
    assert.ok(rep.changed.subCluster < 45)
    assert.deepEqual(
      rep.examples.cluster.map((e) => [e.request, e.old.cluster, e.new.cluster]),
      [
        ['GET http://api.test/v2/x', 'web', 'canary'],
        ['GET /v2/y Host: api.test (client 10.1.1.1)', 'web', 'canary'],
      ],
    )
    const text = await bfe(['simulate', '-c', oldRoot, '-n', newRoot, '--requests', file])
    assert.match(text.stdout, /cluster changed: +3/)
    assert.match(text.stdout, /old: api \/ web \/ web\.[ab]\n +new: api \/ canary \/ canary\.a/)
  })
})

describe('bfe schema', () => {
  test('lists the kinds and prints a 2020-12 schema generated from the loader declaration', async () => {
    const l = await bfe(['schema'])
    assert.equal(l.code, 0)
    for (const k of [
      'server_data_conf/host_rule.data',
      'server_data_conf/route_rule.data',
      'server_data_conf/cluster_conf.data',
      'cluster_conf/gslb.data',
      'mod_tag/tag_rule.data',
    ])
      assert.ok(l.stdout.split('\n').includes(k), k)
    const r = await bfe(['schema', 'cluster_table.data'])
    assert.equal(r.code, 0)
    const doc = JSON.parse(r.stdout) as {
      $schema: string
      required: string[]
      properties: Record<
        string,
        {
          additionalProperties?: {
            additionalProperties?: { items?: { properties: Record<string, { maximum?: number }> } }
          }
        }
      >
    }
    assert.equal(doc.$schema, 'https://json-schema.org/draft/2020-12/schema')
    assert.deepEqual(doc.required, ['Version', 'Config'])
    const port =
      doc.properties['Config']?.additionalProperties?.additionalProperties?.items?.properties[
        'Port'
      ]
    assert.equal(port?.maximum, 65535)
    const bad = await bfe(['schema', 'nope.data'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /unknown file kind "nope\.data"/)
  })

  test('the bundled conf files name their schema and -t accepts them', async () => {
    const host = JSON.parse(
      readFileSync(join(ROOT, 'conf/server_data_conf/host_rule.data'), 'utf8'),
    ) as {
      $schema?: string
    }
    assert.equal(host.$schema, '../../schemas/server_data_conf.host_rule.data.json')
    const shipped = JSON.parse(
      readFileSync(join(ROOT, 'schemas/server_data_conf.host_rule.data.json'), 'utf8'),
    ) as { title: string }
    assert.equal(shipped.title, 'BFE host_rule.data')
  })

  test('the shipped schemas/ are what the declarations generate (no drift)', () => {
    const all = allSchemas()
    assert.ok(all.size >= 8)
    for (const [name, doc] of all) {
      const shipped = JSON.parse(readFileSync(join(ROOT, 'schemas', name), 'utf8')) as unknown
      assert.deepEqual(shipped, doc, `schemas/${name} is stale: run node scripts/write-schemas.mjs`)
    }
  })
})
