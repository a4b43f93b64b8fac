import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { get, rawExchange } from '../helpers/client.js'
import { simpleConf, type TestBackend, type TestConf } from '../helpers/conf.js'
import { type RunningBfe, requestRecorder, startBfe, waitFor } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

/** One upstream per cluster; the default handler answers `ok <port>`, which tells them apart. */
const CLUSTERS = [
  'cShop',
  'cWild',
  'cApi',
  'cDef',
  'cImg',
  'cLogo',
  'cShopApi',
  'cCanary',
  'cCookie',
  'cShopWeb',
  'cStrict',
] as const
type ClusterName = (typeof CLUSTERS)[number]

const ups = new Map<ClusterName, Upstream>()
const rec = requestRecorder()
let bfe: RunningBfe
let bare: RunningBfe

function routingConf(): TestConf {
  const table: Record<string, Record<string, TestBackend[]>> = {}
  const gslb: Record<string, Record<string, number>> = {}
  const config: Record<string, unknown> = {}
  for (const [name, up] of ups) {
    table[name] = { [`${name}.a`]: [{ Port: up.port }] }
    gslb[name] = { [`${name}.a`]: 100 }
    config[name] = {}
  }
  return {
    server: [`Modules = ${rec.module.name}`],
    hostRule: {
      Version: 't',
      DefaultProduct: 'def',
      Hosts: {
        shopTag: ['shop.test'],
        wildTag: ['*.shop.test'],
        apiTag: ['api.test'],
        defTag: ['default.test'],
        rulesTag: ['rules.test'],
        strictTag: ['strict.test'],
        norulesTag: ['norules.test'],
      },
      HostTags: {
        shopOnly: ['shopTag'],
        wild: ['wildTag'],
        api: ['apiTag'],
        def: ['defTag'],
        rules: ['rulesTag'],
        strict: ['strictTag'],
        norules: ['norulesTag'],
      },
    },
    routeRule: {
      Version: 't',
      BasicRule: {
        rules: [
          { Hostname: ['rules.test'], Path: ['/img/*'], ClusterName: 'cImg' },
          { Hostname: ['rules.test'], Path: ['/img/logo.png'], ClusterName: 'cLogo' },
          { Hostname: ['rules.test'], Path: ['*'], ClusterName: 'ADVANCED_MODE' },
        ],
      },
      ProductRule: {
        shopOnly: [{ Cond: 'default_t()', ClusterName: 'cShop' }],
        wild: [{ Cond: 'default_t()', ClusterName: 'cWild' }],
        api: [{ Cond: 'default_t()', ClusterName: 'cApi' }],
        def: [{ Cond: 'default_t()', ClusterName: 'cDef' }],
        rules: [
          { Cond: 'req_path_prefix_in("/api", false)', ClusterName: 'cShopApi' },
          { Cond: 'req_header_value_in("X-Canary", "1", false)', ClusterName: 'cCanary' },
          { Cond: 'req_cookie_value_in("uid", "42", false)', ClusterName: 'cCookie' },
          { Cond: 'default_t()', ClusterName: 'cShopWeb' },
        ],
        strict: [{ Cond: 'req_path_prefix_in("/only", false)', ClusterName: 'cStrict' }],
      },
    },
    clusterConf: { Version: 't', Config: config },
    clusterTable: table,
    gslb,
  }
}

before(async () => {
  for (const name of CLUSTERS) ups.set(name, await startUpstream())
  bfe = await startBfe(routingConf(), [rec.module])
  // A product for p.test only and no DefaultProduct.
  const only = ups.get('cShop') as Upstream
  bare = await startBfe(
    simpleConf([only.port], {
      hostRule: {
        Version: 't',
        DefaultProduct: null,
        Hosts: { pTag: ['p.test'] },
        HostTags: { p: ['pTag'] },
      },
    }),
  )
})
after(async () => {
  await bfe.close()
  await bare.close()
  for (const up of ups.values()) await up.close()
})

/** Sends a GET through the balancer and returns the cluster whose upstream answered. */
async function route(
  host: string,
  path = '/',
  headers: Record<string, string> = {},
): Promise<ClusterName | number> {
  const r = await get(`${bfe.url}${path}`, { headers: { host, ...headers } })
  if (r.status !== 200) return r.status
  for (const [name, up] of ups) if (r.body === `ok ${up.port}`) return name
  throw new Error(`unexpected body ${r.body}`)
}

/** A raw request that the balancer must answer with 500 and then close. */
async function assert500AndClose(host: string, path = '/'): Promise<void> {
  const r = await rawExchange(bfe.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 1500)
  assert.match(r.data, /^HTTP\/1\.1 500 /)
  assert.match(r.data, /\r\nconnection: close\r\n/i)
  assert.equal(r.closed, true, 'the connection is closed after the 500')
}

test('product by exact host', async () => {
  assert.equal(await route('shop.test'), 'cShop')
  assert.equal(await route('api.test', '/x/y'), 'cApi')
  await waitFor(() => rec.seen.at(-1)?.uri === '/x/y')
  assert.equal(rec.seen.at(-1)?.cluster, 'cApi')
})

test('product by wildcard host: one or more labels in front, not the bare name', async () => {
  assert.equal(await route('a.shop.test'), 'cWild')
  assert.equal(await route('x.y.shop.test'), 'cWild')
  // shop.test itself is the exact host of another product, never the wildcard.
  assert.equal(await route('shop.test'), 'cShop')
  // A name that merely ends with the suffix text is not a subdomain.
  assert.equal(await route('ashop.test'), 'cDef')
})

test('Host with a port and in upper case is matched lower-cased without the port', async () => {
  assert.equal(await route('API.Test:8080'), 'cApi')
  assert.equal(await route('SHOP.TEST:1'), 'cShop')
  assert.equal(await route('B.Shop.Test:443'), 'cWild')
})

test('a trailing dot on the request host is ignored', async () => {
  assert.equal(await route('api.test.'), 'cApi')
})

test('no host match goes to DefaultProduct', async () => {
  assert.equal(await route('unknown.test'), 'cDef')
  assert.equal(await route('10.1.2.3'), 'cDef')
})

test('no host match and no DefaultProduct: 500, Connection: close, connection closed', async () => {
  const only = ups.get('cShop') as Upstream
  const before = only.seen.length
  const r = await rawExchange(bare.port, 'GET / HTTP/1.1\r\nHost: nomatch.test\r\n\r\n', 1500)
  assert.match(r.data, /^HTTP\/1\.1 500 /)
  assert.match(r.data, /\r\nconnection: close\r\n/i)
  assert.equal(r.closed, true)
  assert.equal(only.seen.length, before, 'nothing was forwarded')
  // The configured host still works on that balancer.
  const ok = await get(`${bare.url}/`, { headers: { host: 'p.test' } })
  assert.equal(ok.status, 200)
})

test('basic rule host+path: /img/* prefix, exact path wins, /imgx does not match', async () => {
  assert.equal(await route('rules.test', '/img/a.png'), 'cImg')
  assert.equal(await route('rules.test', '/img/sub/dir/b.png'), 'cImg')
  assert.equal(await route('rules.test', '/img'), 'cImg')
  assert.equal(await route('rules.test', '/img/'), 'cImg')
  assert.equal(await route('rules.test', '/img/logo.png'), 'cLogo')
  assert.equal(await route('rules.test', '/imgx'), 'cShopWeb')
  assert.equal(await route('rules.test', '/imgx/a.png'), 'cShopWeb')
  assert.equal(await route('rules.test', '/im'), 'cShopWeb')
})

test('basic rule ADVANCED_MODE falls through to the advanced rules', async () => {
  // Path `*` → ADVANCED_MODE → the product's advanced rules decide.
  assert.equal(await route('rules.test', '/api/v1'), 'cShopApi')
  assert.equal(await route('rules.test', '/other'), 'cShopWeb')
  await waitFor(() => rec.seen.at(-1)?.uri === '/other')
  assert.equal(rec.seen.at(-1)?.cluster, 'cShopWeb')
  // The advanced path rule does not take over paths that a basic rule routes.
  assert.equal(await route('rules.test', '/img/api'), 'cImg')
})

test('advanced rules are evaluated in order: the first true condition wins', async () => {
  const all = { 'x-canary': '1', cookie: 'a=b; uid=42' }
  assert.equal(await route('rules.test', '/api/x', all), 'cShopApi')
  assert.equal(await route('rules.test', '/web', all), 'cCanary')
  assert.equal(await route('rules.test', '/web', { cookie: 'uid=42' }), 'cCookie')
  assert.equal(await route('rules.test', '/web', { 'x-canary': '2', cookie: 'uid=43' }), 'cShopWeb')
  assert.equal(await route('rules.test', '/web'), 'cShopWeb')
})

test('product with rules where nothing matches: 500 + close (BK_FIND_LOCATION)', async () => {
  assert.equal(await route('strict.test', '/only/here'), 'cStrict')
  const strict = ups.get('cStrict') as Upstream
  const before = strict.seen.length
  await assert500AndClose('strict.test', '/elsewhere')
  assert.equal(strict.seen.length, before)
  assert.equal(rec.seen.at(-1)?.errCode, 'BK_FIND_LOCATION')
})

test('product without any route rule: 500 + close (BK_FIND_LOCATION)', async () => {
  await assert500AndClose('norules.test')
  assert.equal(rec.seen.at(-1)?.errCode, 'BK_FIND_LOCATION')
})
