import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { Client } from 'undici'
import { get, rawExchange } from '../helpers/client.js'
import { clustersConf, simpleConf } from '../helpers/conf.js'
import { type RunningBfe, requestRecorder, startBfe, waitFor } from '../helpers/server.js'
import { closedPort, startRawUpstream, startUpstream, type Upstream } from '../helpers/upstream.js'

interface RawUp {
  port: number
  /** Request lines received, one per request. */
  lines: string[]
  close(): Promise<void>
}

/** A raw upstream that waits for a request, records its request line, then runs `act`. */
async function rawUpstream(act: (s: Socket) => void): Promise<RawUp> {
  const lines: string[] = []
  const up = await startRawUpstream((s) => {
    s.once('data', (c: Buffer) => {
      lines.push(c.toString('latin1').split('\r\n', 1)[0] ?? '')
      act(s)
    })
  })
  return { port: up.port, lines, close: up.close }
}

const rec = requestRecorder()
let good: Upstream
let slow: Upstream
let hopUp: Upstream
let hostUp: Upstream
let nobUp: Upstream
let resetter: RawUp
let downUp: RawUp
let badStatus: RawUp
let garbage: RawUp
let bfe: RunningBfe
const closed: number[] = []

before(async () => {
  good = await startUpstream()
  slow = await startUpstream(() => {}) // never answers
  hopUp = await startUpstream()
  hostUp = await startUpstream()
  nobUp = await startUpstream()
  resetter = await rawUpstream((s) => s.resetAndDestroy())
  downUp = await rawUpstream(() => {}) // never answers: header timeouts count against it
  badStatus = await rawUpstream((s) => s.end('HTTP/1.1 abc\r\n\r\n'))
  garbage = await rawUpstream((s) => s.end('garbage\r\n\r\n'))
  for (let i = 0; i < 3; i++) closed.push(await closedPort())
  const conf = clustersConf(
    {
      retry: {
        hosts: ['retry.test'],
        subs: { 'retry.a': [{ Port: closed[0] as number }, { Port: good.port }] },
      },
      refuse: {
        hosts: ['refuse.test'],
        subs: { 'refuse.a': [{ Port: closed[1] as number }, { Port: closed[2] as number }] },
      },
      slow: {
        hosts: ['slow.test'],
        subs: { 'slow.a': [{ Port: slow.port }] },
        conf: { BackendConf: { TimeoutResponseHeader: 300 } },
      },
      down: {
        hosts: ['down.test'],
        subs: { 'down.a': [{ Port: downUp.port }] },
        conf: {
          BackendConf: { TimeoutResponseHeader: 300 },
          CheckConf: { FailNum: 1, CheckInterval: 60000 },
        },
      },
      nob: {
        hosts: ['nob.test'],
        subs: { 'nob.a': [{ Port: nobUp.port }] },
        // nob.b has the traffic but no backends in cluster_table.data.
        gslb: { 'nob.a': 0, 'nob.b': 100 },
      },
      badstatus: { hosts: ['badstatus.test'], subs: { 'badstatus.a': [{ Port: badStatus.port }] } },
      garbage: { hosts: ['garbage.test'], subs: { 'garbage.a': [{ Port: garbage.port }] } },
      r0: {
        hosts: ['r0.test'],
        subs: { 'r0.a': [{ Port: resetter.port }, { Port: good.port }] },
        conf: { BackendConf: { RetryLevel: 0 } },
      },
      r1: {
        hosts: ['r1.test'],
        subs: { 'r1.a': [{ Port: resetter.port }, { Port: good.port }] },
        conf: { BackendConf: { RetryLevel: 1 } },
      },
      hop: { hosts: ['hop.test'], subs: { 'hop.a': [{ Port: hopUp.port }] } },
      nohost: {
        hosts: ['nohost.test'],
        subs: { 'nohost.a': [{ Port: hostUp.port }] },
        conf: { ClusterBasic: { DisableHostHeader: true } },
      },
    },
    { server: [`Modules = ${rec.module.name}`] },
  )
  bfe = await startBfe(conf, [rec.module])
})
after(async () => {
  await bfe.close()
  for (const up of [good, slow, hopUp, hostUp, nobUp, resetter, downUp, badStatus, garbage]) {
    await up.close()
  }
})

/** The recorder's entry for `uri` (waits for HandleRequestFinish). */
async function finished(uri: string): Promise<string | undefined> {
  await waitFor(() => rec.seen.some((r) => r.uri === uri), 1000, `request ${uri} to finish`)
  return rec.seen.find((r) => r.uri === uri)?.errCode
}

test('connect failures are retried onto the second backend of the sub-cluster', async () => {
  const errsBefore = bfe.server.counters.ERR_BK_REQUEST_BACKEND
  const seenBefore = good.seen.length
  for (let i = 0; i < 10; i++) {
    const r = await get(`${bfe.url}/retry${i}`, { headers: { host: 'retry.test' } })
    assert.equal(r.status, 200)
    assert.equal(r.body, `ok ${good.port}`)
  }
  assert.equal(good.seen.length - seenBefore, 10)
  // The refusing backend was really tried (and failed) at least once.
  assert.ok(bfe.server.counters.ERR_BK_REQUEST_BACKEND - errsBefore >= 1)
})

test('every backend refusing connections: 502 (BK_CONNECT_BACKEND) after 3 attempts', async () => {
  const errsBefore = bfe.server.counters.ERR_BK_REQUEST_BACKEND
  const r = await get(`${bfe.url}/refused`, { headers: { host: 'refuse.test' } })
  assert.equal(r.status, 502)
  assert.equal(await finished('/refused'), 'BK_CONNECT_BACKEND')
  // RetryMax 2 (default): the first attempt and two retries.
  assert.equal(bfe.server.counters.ERR_BK_REQUEST_BACKEND - errsBefore, 3)
})

test('no response header within TimeoutResponseHeader (300 ms): 504', async () => {
  const t0 = Date.now()
  const r = await get(`${bfe.url}/slow`, { headers: { host: 'slow.test' } })
  const took = Date.now() - t0
  assert.equal(r.status, 504)
  assert.ok(took >= 250 && took < 2000, `answered after ${took} ms`)
  assert.equal(slow.seen.filter((s) => s.url === '/slow').length, 1, 'RetryLevel 0: not retried')
  assert.equal(await finished('/slow'), 'BK_RESP_HEADER_TIMEOUT')
})

test('the 504 comes when TimeoutResponseHeader (300 ms) expires, not about a second later', async () => {
  const t0 = Date.now()
  const r = await get(`${bfe.url}/slow-precise`, { headers: { host: 'slow.test' } })
  const took = Date.now() - t0
  assert.equal(r.status, 504)
  assert.ok(took >= 280 && took < 600, `answered after ${took} ms`)
})

test('every backend marked down (CheckConf.FailNum 1): 503 without contacting it', async () => {
  const first = await get(`${bfe.url}/first`, { headers: { host: 'down.test' } })
  assert.equal(first.status, 504)
  assert.equal(await finished('/first'), 'BK_RESP_HEADER_TIMEOUT')
  const second = await get(`${bfe.url}/second`, { headers: { host: 'down.test' } })
  assert.equal(second.status, 503)
  assert.equal(await finished('/second'), 'BK_NO_BACKEND')
  assert.ok(downUp.lines.some((l) => l.startsWith('GET /first ')))
  assert.ok(!downUp.lines.some((l) => l.startsWith('GET /second ')), 'the down backend got /second')
})

test('a sub-cluster without backends gets the traffic: 503 (BK_NO_BACKEND)', async () => {
  const r = await get(`${bfe.url}/nob`, { headers: { host: 'nob.test' } })
  assert.equal(r.status, 503)
  assert.equal(await finished('/nob'), 'BK_NO_BACKEND')
  assert.equal(nobUp.seen.length, 0)
})

test('a backend that answers garbage: 502', async () => {
  const a = await get(`${bfe.url}/bad1`, { headers: { host: 'badstatus.test' } })
  assert.equal(a.status, 502)
  assert.equal(badStatus.lines.length, 1)
  const b = await get(`${bfe.url}/bad2`, { headers: { host: 'garbage.test' } })
  assert.equal(b.status, 502)
  assert.equal(garbage.lines.length, 1)
  assert.equal(await finished('/bad1'), 'BK_READ_RESP_HEADER')
  assert.equal(await finished('/bad2'), 'BK_READ_RESP_HEADER')
})

test('backend resets after reading a GET: RetryLevel 0 gives 502, RetryLevel 1 retries', async () => {
  const goodBefore = good.seen.length
  // Smooth WRR starts with the first backend of the list: the resetting one.
  const r0 = await get(`${bfe.url}/level0`, { headers: { host: 'r0.test' } })
  assert.equal(r0.status, 502)
  assert.equal(good.seen.length, goodBefore)
  assert.ok(resetter.lines.some((l) => l.startsWith('GET /level0 ')))

  const r1 = await get(`${bfe.url}/level1`, { headers: { host: 'r1.test' } })
  assert.equal(r1.status, 200)
  assert.equal(r1.body, `ok ${good.port}`)
  assert.ok(
    resetter.lines.some((l) => l.startsWith('GET /level1 ')),
    'first attempt hit the resetter',
  )
  assert.equal(good.seen.at(-1)?.url, '/level1')
})

test('hop-by-hop request headers are removed, TE: trailers is kept', async () => {
  const req = [
    'GET /hop1 HTTP/1.1',
    'Host: hop.test',
    'Connection: close',
    'Keep-Alive: timeout=99',
    'Upgrade: h2c',
    'Proxy-Authorization: Basic dTpw',
    'Proxy-Connection: keep-alive',
    'TE: gzip',
    'X-Keep: 1',
    '',
    '',
  ].join('\r\n')
  const r = await rawExchange(bfe.port, req, 1500)
  assert.match(r.data, /^HTTP\/1\.1 200 /)
  const seen = hopUp.seen.at(-1)
  assert.equal(seen?.url, '/hop1')
  const h = seen?.headers ?? {}
  assert.notEqual(h.connection, 'close', 'the client Connection header was forwarded')
  assert.equal(h['keep-alive'], undefined)
  assert.equal(h.upgrade, undefined)
  assert.equal(h['proxy-authorization'], undefined)
  assert.equal(h['proxy-connection'], undefined)
  assert.equal(h['te'], undefined)
  assert.equal(h['x-keep'], '1')
  assert.equal(h.host, 'hop.test')

  const r2 = await rawExchange(
    bfe.port,
    'GET /hop2 HTTP/1.1\r\nHost: hop.test\r\nTE: trailers\r\nConnection: close\r\n\r\n',
    1500,
  )
  assert.match(r2.data, /^HTTP\/1\.1 200 /)
  assert.equal(hopUp.seen.at(-1)?.url, '/hop2')
  assert.equal(hopUp.seen.at(-1)?.headers['te'], 'trailers')
})

test('ClusterBasic.DisableHostHeader sends the backend address as Host', async () => {
  const r = await get(`${bfe.url}/h`, { headers: { host: 'nohost.test' } })
  assert.equal(r.status, 200)
  assert.equal(hostUp.seen.at(-1)?.headers.host, `127.0.0.1:${hostUp.port}`)
  const hosts = hostUp.seen
    .at(-1)
    ?.rawHeaders.filter((_, i, a) => i % 2 === 0 && a[i]?.toLowerCase() === 'host')
  assert.equal(hosts?.length, 1, 'exactly one Host header')
})

test('keep-alive: one client connection and reused upstream connections for 20 requests', async () => {
  const up = await startUpstream()
  const ka = await startBfe(simpleConf([up.port]))
  const client = new Client(ka.url, { pipelining: 1 })
  try {
    for (let i = 0; i < 20; i++) {
      const r = await client.request({
        method: 'GET',
        path: `/ka${i}`,
        headers: { host: 'p.test' },
      })
      assert.equal(r.statusCode, 200)
      assert.equal(await r.body.text(), `ok ${up.port}`)
      assert.equal(ka.server.connectionCount, 1)
    }
    assert.equal(up.seen.length, 20)
    assert.ok(up.sockets.size <= 2, `upstream saw ${up.sockets.size} connections`)
    assert.equal(ka.server.counters.CLIENT_CONN_SERVED, 1)
  } finally {
    await client.close()
    await ka.close()
    await up.close()
  }
})

test('MaxIdleConnsPerHost 0: a new upstream connection per request', async () => {
  const up = await startUpstream()
  const noIdle = await startBfe(
    simpleConf([up.port], {
      clusterConf: { Version: 't', Config: { c: { BackendConf: { MaxIdleConnsPerHost: 0 } } } },
    }),
  )
  const client = new Client(noIdle.url, { pipelining: 1 })
  try {
    for (let i = 0; i < 20; i++) {
      const r = await client.request({ method: 'GET', path: `/n${i}`, headers: { host: 'p.test' } })
      assert.equal(r.statusCode, 200)
      await r.body.text()
    }
    assert.equal(up.seen.length, 20)
    assert.equal(up.sockets.size, 20)
    assert.equal(noIdle.server.connectionCount, 1, 'the client connection is still kept alive')
  } finally {
    await client.close()
    await noIdle.close()
    await up.close()
  }
})
