import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Client } from 'undici'
import { rawExchange } from '../helpers/client.js'
import { clustersConf } from '../helpers/conf.js'
import { type RunningBfe, requestRecorder, startBfe, waitFor } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const URI_HASH = { GslbBasic: { HashConf: { HashStrategy: 3 } } }

let wrrA: Upstream
let wrrB: Upstream
let ipA: Upstream
let ipB: Upstream
let uriA: Upstream
let uriB: Upstream
let holeUp: Upstream
let shareUp: Upstream
let bfe: RunningBfe
let compat: RunningBfe
let client: Client
const rec = requestRecorder()

before(async () => {
  wrrA = await startUpstream()
  wrrB = await startUpstream()
  ipA = await startUpstream()
  ipB = await startUpstream()
  uriA = await startUpstream()
  uriB = await startUpstream()
  holeUp = await startUpstream()
  shareUp = await startUpstream()
  const conf = clustersConf(
    {
      wrr: {
        hosts: ['wrr.test'],
        subs: {
          'wrr.a': [
            { Port: wrrA.port, Weight: 3 },
            { Port: wrrB.port, Weight: 1 },
          ],
        },
      },
      ip: {
        hosts: ['ip.test'],
        subs: { 'ip.a': [{ Port: ipA.port }], 'ip.b': [{ Port: ipB.port }] },
        gslb: { 'ip.a': 70, 'ip.b': 30 },
      },
      uri: {
        hosts: ['uri.test'],
        subs: { 'uri.a': [{ Port: uriA.port }], 'uri.b': [{ Port: uriB.port }] },
        gslb: { 'uri.a': 70, 'uri.b': 30 },
        conf: URI_HASH,
      },
      hole: {
        hosts: ['hole.test'],
        subs: { 'hole.a': [{ Port: holeUp.port }] },
        gslb: { GSLB_BLACKHOLE: 100, 'hole.a': 0 },
      },
      share: {
        hosts: ['share.test'],
        subs: { 'share.a': [{ Port: shareUp.port }] },
        gslb: { GSLB_BLACKHOLE: 50, 'share.a': 50 },
        conf: URI_HASH,
      },
    },
    { server: [`Modules = ${rec.module.name}`] },
  )
  bfe = await startBfe(conf, [rec.module])
  compat = await startBfe({ ...conf, server: ['CompatErrorStatus = true'] })
  client = new Client(bfe.url, { pipelining: 1 })
})
after(async () => {
  await client.close()
  await bfe.close()
  await compat.close()
  for (const up of [wrrA, wrrB, ipA, ipB, uriA, uriB, holeUp, shareUp]) await up.close()
})

/** One GET over the shared keep-alive client. */
async function send(host: string, path = '/'): Promise<{ status: number; body: string }> {
  const r = await client.request({ method: 'GET', path, headers: { host } })
  return { status: r.statusCode, body: await r.body.text() }
}

test('smooth WRR over backends weighted 3:1 gives exactly 300/100 of 400 requests', async () => {
  const order: string[] = []
  for (let i = 0; i < 400; i++) {
    const r = await send('wrr.test', `/w${i}`)
    assert.equal(r.status, 200)
    order.push(r.body === `ok ${wrrA.port}` ? 'a' : 'b')
  }
  assert.equal(wrrA.seen.length, 300)
  assert.equal(wrrB.seen.length, 100)
  // Smooth WRR interleaves: {3,1} gives `a a b a`, never a run of more than three a's.
  assert.deepEqual(order.slice(0, 8), ['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a'])
})

test('GSLB 70:30 with ClientIpOnly hash: every request from 127.0.0.1 lands in one sub-cluster', async () => {
  for (let i = 0; i < 50; i++) {
    const r = await send('ip.test', `/ip${i}`)
    assert.equal(r.status, 200)
  }
  const counts = [ipA.seen.length, ipB.seen.length].sort((x, y) => x - y)
  assert.deepEqual(counts, [0, 50])
})

test('GSLB 70:30 with RequestURI hash: shares follow the weights over distinct URIs', async () => {
  const n = 1000
  for (let i = 0; i < n; i++) {
    const r = await send('uri.test', `/item/${i}?q=${i * 7}`)
    assert.equal(r.status, 200)
  }
  assert.equal(uriA.seen.length + uriB.seen.length, n)
  const shareA = uriA.seen.length / n
  assert.ok(shareA > 0.64 && shareA < 0.76, `uri.a share ${shareA} not near 0.70`)
  // The same URI always goes to the same sub-cluster.
  const first = await send('uri.test', '/item/5?q=35')
  for (let i = 0; i < 10; i++)
    assert.equal((await send('uri.test', '/item/5?q=35')).body, first.body)
})

test('GSLB_BLACKHOLE as the only weighted sub-cluster: 503, upstream sees nothing, kept alive', async () => {
  const r = await send('hole.test', '/x')
  assert.equal(r.status, 503)
  await waitFor(() => rec.seen.at(-1)?.uri === '/x')
  assert.equal(rec.seen.at(-1)?.errCode, 'GSLB_BLACKHOLE')
  // GSLB_BLACKHOLE does not close the client connection.
  const raw = await rawExchange(bfe.port, 'GET /y HTTP/1.1\r\nHost: hole.test\r\n\r\n', 300)
  assert.match(raw.data, /^HTTP\/1\.1 503 /)
  assert.equal(raw.closed, false)
  assert.equal(holeUp.seen.length, 0)
})

test('GSLB_BLACKHOLE sharing with a real sub-cluster: some 503, some 200, consistent per URI', async () => {
  const status = new Map<string, number>()
  for (let i = 0; i < 200; i++) {
    const uri = `/s/${i}`
    status.set(uri, (await send('share.test', uri)).status)
  }
  const values = [...status.values()]
  const ok = values.filter((s) => s === 200).length
  const shed = values.filter((s) => s === 503).length
  assert.equal(ok + shed, 200, 'only 200 and 503 are answered')
  assert.ok(ok > 60 && ok < 140, `200s: ${ok}`)
  assert.equal(shareUp.seen.length, ok, 'the upstream saw exactly the served requests')
  for (const [uri, s] of [...status].slice(0, 40)) {
    assert.equal((await send('share.test', uri)).status, s, `URI ${uri} changed side`)
  }
})

test('[Server] CompatErrorStatus = true turns the blackhole 503 into 500', async () => {
  const c = new Client(compat.url)
  try {
    const r = await c.request({ method: 'GET', path: '/', headers: { host: 'hole.test' } })
    await r.body.text()
    assert.equal(r.statusCode, 500)
  } finally {
    await c.close()
  }
  assert.equal(holeUp.seen.length, 0)
})
