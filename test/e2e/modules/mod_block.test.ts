import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { HandlerResult } from '../../../src/module/callback-point.js'
import type { BfeModule } from '../../../src/module/types.js'
import { get, h2Request, rawExchange } from '../../helpers/client.js'
import { simpleConf, type TestConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { ppConnect, ppGet, ppH2 } from '../../helpers/proxy-client.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// BFE's documented scenario (docs/en_us/example/block.md): requests for example.org go to
// example_product; the peer 2.2.2.2 is on the global blocklist, and example_product closes the
// connection of any request for /bonus. Our own extra rules: a `global` ALLOW for requests
// carrying the query key `trusted_job`, and a global CLOSE for /global-closed.
function rules(version: string, path: string): string {
  return JSON.stringify({
    Version: version,
    Config: {
      global: [
        {
          Name: 'jobs pass',
          Cond: 'req_query_key_in("trusted_job")',
          Action: { Cmd: 'ALLOW', Params: [] },
        },
        {
          Name: 'global close',
          Cond: 'req_path_in("/global-closed", false)',
          Action: { Cmd: 'CLOSE', Params: [] },
        },
      ],
      example_product: [
        {
          action: { cmd: 'CLOSE', params: [] },
          name: 'block bonus',
          cond: `req_path_in("${path}", false)`,
        },
      ],
    },
  })
}

/** Error code and block info of each finished request. */
const seen: { errCode: string | undefined; info: unknown }[] = []
const recorder: BfeModule = {
  name: 'mod_test_block',
  init({ callbacks }) {
    callbacks.addResponseFilter(7, (req) => {
      seen.push({ errCode: req.errCode, info: req.context.get('mod_block.block_info') })
      return HandlerResult.GoOn
    })
  },
}

function conf(port: number, files: Record<string, string>, recorded = false): TestConf {
  return simpleConf([port], {
    server: [
      'Layer4LoadBalancer = PROXY',
      'Modules = mod_block',
      ...(recorded ? ['Modules = mod_test_block'] : []),
    ],
    hostRule: {
      Version: 't',
      DefaultProduct: null,
      Hosts: { exampleTag: ['example.org'] },
      HostTags: { example_product: ['exampleTag'] },
    },
    routeRule: {
      Version: 't',
      ProductRule: { example_product: [{ Cond: 'default_t()', ClusterName: 'c' }] },
    },
    files: {
      'mod_block/mod_block.conf':
        '[basic]\nProductRulePath = mod_block/block_rules.data\n\nIPBlocklistPath = mod_block/ip_blocklist.data\n',
      ...files,
    },
  })
}

type Counters = Record<string, number | undefined>
async function counters(port: number): Promise<Counters> {
  return JSON.parse((await monitorGet(port, '/monitor/mod_block')).body).CounterData
}
const diff = (a: Counters, b: Counters, k: string) => (b[k] ?? 0) - (a[k] ?? 0)

const EX = { Host: 'example.org' }
const request = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n`

describe('mod_block', () => {
  let up: Upstream
  let bfe: RunningBfe

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      conf(
        up.port,
        {
          'mod_block/ip_blocklist.data': '2.2.2.2\n',
          'mod_block/block_rules.data': rules('v1', '/bonus'),
        },
        true,
      ),
      [recorder],
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('closes the connection of a request for /bonus without a response (BFE docs scenario)', async () => {
    const before = up.seen.length
    seen.length = 0
    const r = await rawExchange(bfe.port, request('/bonus'))
    assert.deepEqual(r, { data: '', closed: true })
    assert.equal(up.seen.length, before)
    assert.deepEqual(seen, [{ errCode: 'BLOCK', info: { BlockRuleName: 'block bonus' } }])
    const ok = await get(`${bfe.url}/other`, { headers: { host: 'example.org' } })
    assert.equal(ok.body, `ok ${up.port}`)
  })

  it('drops connections from a blocklisted peer at accept, before any request', async () => {
    const c0 = await counters(bfe.server.monitorPort)
    const r = await ppGet(bfe.port, '2.2.2.2', '192.0.2.10', '/other', EX)
    assert.deepEqual(r, { dropped: true, status: 0, body: '' })
    const ok = await ppGet(bfe.port, '2.2.2.3', '192.0.2.10', '/other', EX)
    assert.equal(ok.status, 200)
    const c1 = await counters(bfe.server.monitorPort)
    assert.equal(diff(c0, c1, 'CONN_REFUSE'), 1)
    assert.equal(diff(c0, c1, 'CONN_ACCEPT'), 1)
    assert.equal(diff(c0, c1, 'CONN_TOTAL'), 2)
  })

  it('global rules come first: ALLOW skips the product rules, CLOSE applies to every product', async () => {
    const c0 = await counters(bfe.server.monitorPort)
    const allowed = await get(`${bfe.url}/bonus?trusted_job=1`, {
      headers: { host: 'example.org' },
    })
    assert.equal(allowed.status, 200)
    const closed = await rawExchange(bfe.port, request('/global-closed'))
    assert.deepEqual(closed, { data: '', closed: true })
    const c1 = await counters(bfe.server.monitorPort)
    assert.equal(diff(c0, c1, 'REQ_TOTAL'), 2)
    assert.equal(diff(c0, c1, 'REQ_ACCEPT'), 1)
    assert.equal(diff(c0, c1, 'REQ_REFUSE'), 1)
  })

  it('HTTP/2: a blocked request gets no response; the peer blocklist applies on the TLS port', async () => {
    // the stream is reset and the connection closed: no response header ever comes
    const blocked = await h2Request(bfe.tlsPort, '/bonus', { authority: 'example.org' })
    assert.equal(blocked.headers[':status'], undefined)
    assert.equal(blocked.body.length, 0)
    const ok = await h2Request(bfe.tlsPort, '/fine', { authority: 'example.org' })
    assert.equal(ok.body.toString(), `ok ${up.port}`)
    await assert.rejects(ppH2(bfe.tlsPort, '2.2.2.2', '192.0.2.10', '/fine', {}, 'example.org'))
    const h2ok = await ppH2(bfe.tlsPort, '2.2.2.4', '192.0.2.10', '/fine', {}, 'example.org')
    assert.equal(h2ok.body, `ok ${up.port}`)
    const s = await ppConnect(bfe.tlsPort, '2.2.2.2', '192.0.2.10')
    await new Promise<void>((resolve) => s.once('close', () => resolve()))
  })

  it('reloads the product rules: a good file applies, a broken one keeps the old rules', async () => {
    const file = join(bfe.confRoot, 'mod_block', 'block_rules.data')
    writeFileSync(file, rules('v2', '/coupon'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_block.product_rule_table')
    assert.deepEqual(JSON.parse(ok.body), { error: null })
    assert.equal((await rawExchange(bfe.port, request('/coupon'))).data, '')
    const bonus = await get(`${bfe.url}/bonus`, { headers: { host: 'example.org' } })
    assert.equal(bonus.status, 200)

    writeFileSync(
      file,
      JSON.stringify({
        Version: 'v3',
        Config: {
          example_product: [
            { Name: 'x', Cond: 'default_t()', Action: { Cmd: 'DENY', Params: [] } },
          ],
        },
      }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_block.product_rule_table')
    assert.match(
      JSON.parse(bad.body).error,
      /block_rules\.data.*\/Config\/example_product\/0\/Action\/Cmd.*"DENY"/,
    )
    assert.equal((await rawExchange(bfe.port, request('/coupon'))).data, '')
    assert.equal((await get(`${bfe.url}/x`, { headers: { host: 'example.org' } })).status, 200)
  })

  it('reloads the IP blocklist: a good file applies, a broken one keeps the old list', async () => {
    const file = join(bfe.confRoot, 'mod_block', 'ip_blocklist.data')
    writeFileSync(file, '# new list\n198.51.100.0/24\n2.2.2.3 2.2.2.9\n')
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_block.global_ip_table')
    assert.deepEqual(JSON.parse(ok.body), { error: null })
    assert.equal((await ppGet(bfe.port, '2.2.2.2', '192.0.2.10', '/', EX)).status, 200)
    assert.equal((await ppGet(bfe.port, '2.2.2.5', '192.0.2.10', '/', EX)).dropped, true)
    assert.equal((await ppGet(bfe.port, '198.51.100.77', '192.0.2.10', '/', EX)).dropped, true)

    writeFileSync(file, '198.51.100.0/24\n2.2.2.3 - 2.2.2.9\n')
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_block.global_ip_table')
    assert.match(JSON.parse(bad.body).error, /ip_blocklist\.data: line 2 /)
    assert.equal((await ppGet(bfe.port, '2.2.2.5', '192.0.2.10', '/', EX)).dropped, true)
  })

  it('refuses to start with a bad rule or a bad blocklist line, naming file and field', async () => {
    const rule = (action: unknown) =>
      JSON.stringify({
        Version: '1',
        Config: { p: [{ Name: 'r', Cond: 'default_t()', Action: action }] },
      })
    await assert.rejects(
      startBfe(
        conf(up.port, {
          'mod_block/ip_blocklist.data': '',
          'mod_block/block_rules.data': rule({ Cmd: 'CLOSE', Params: ['now'] }),
        }),
      ),
      /block_rules\.data.*\/Config\/p\/0\/Action\/Params.*exactly 0 items, got 1/,
    )
    await assert.rejects(
      startBfe(
        conf(up.port, {
          'mod_block/ip_blocklist.data': '',
          'mod_block/block_rules.data': JSON.stringify({
            Version: '1',
            Config: {
              p: [{ Name: 'r', Cond: 'req_path_in("/a")', Action: { Cmd: 'CLOSE', Params: [] } }],
            },
          }),
        }),
      ),
      /block_rules\.data.*\/Config\/p\/0\/Cond/,
    )
    await assert.rejects(
      startBfe(
        conf(up.port, {
          'mod_block/ip_blocklist.data': '10.0.0.1\n10.0.0.300\n',
          'mod_block/block_rules.data': rules('1', '/x'),
        }),
      ),
      /ip_blocklist\.data: line 2 "10\.0\.0\.300" is not an IP address/,
    )
  })
})
