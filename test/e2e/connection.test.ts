import assert from 'node:assert/strict'
import { after, before, beforeEach, test } from 'node:test'
import { rawExchange } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { RawClient, reqText } from '../helpers/test-module.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

let up: Upstream
let bfe: RunningBfe
let noKa: RunningBfe
const open: RawClient[] = []

before(async () => {
  // Echoes method, URL and body.
  up = await startUpstream((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = `${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
      })
      res.end(body)
    })
  })
  bfe = await startBfe(
    simpleConf([up.port], {
      server: ['MaxHeaderBytes = 1024', 'MaxHeaderUriBytes = 100', 'ClientReadTimeout = 1'],
      clusterConf: {
        Version: 't',
        Config: { c: { ClusterBasic: { TimeoutReadClientAgain: 300 } } },
      },
    }),
  )
  noKa = await startBfe(simpleConf([up.port], { server: ['KeepAliveEnabled = false'] }))
})
after(async () => {
  for (const c of open) c.close()
  await bfe.close()
  await noKa.close()
  await up.close()
})
beforeEach(() => {
  up.seen.length = 0
})

async function client(port = bfe.port): Promise<RawClient> {
  const c = await RawClient.open(port)
  open.push(c)
  return c
}

test('a header block over MaxHeaderBytes gets a raw 413 and the connection is closed', async () => {
  const big = `GET / HTTP/1.1\r\nHost: p.test\r\nX-Big: ${'a'.repeat(10 * 1024)}\r\n\r\n`
  const r = await rawExchange(bfe.port, big, 2000)
  assert.equal(r.data, 'HTTP/1.1 413 Request Entity Too Large\r\n\r\n')
  assert.equal(r.closed, true)
  assert.equal(up.seen.length, 0)
})

test('a header block within MaxHeaderBytes is served', async () => {
  const c = await client()
  c.write(reqText('GET', '/ok', { 'x-mid': 'a'.repeat(900) }))
  const r = await c.response()
  assert.equal(r.status, 200)
  assert.equal(up.seen[0]?.headers['x-mid'], 'a'.repeat(900))
})

test('a request-target over MaxHeaderUriBytes gets a raw 414 and close; 100 bytes pass', async () => {
  const r = await rawExchange(bfe.port, reqText('GET', `/${'a'.repeat(199)}`), 2000)
  assert.equal(r.data, 'HTTP/1.1 414 Request-URI Too Long\r\n\r\n')
  assert.equal(r.closed, true)
  assert.equal(up.seen.length, 0)
  const c = await client()
  c.write(reqText('GET', `/${'b'.repeat(99)}`))
  const ok = await c.response()
  assert.equal(ok.status, 200)
  assert.equal(up.seen[0]?.url, `/${'b'.repeat(99)}`)
})

test('a bad request line gets a raw 400 and close', async () => {
  const r = await rawExchange(bfe.port, 'GARBAGE\r\n\r\n', 2000)
  assert.equal(r.data, 'HTTP/1.1 400 Bad Request\r\n\r\n')
  assert.equal(r.closed, true)
})

test('a bad header line gets a raw 400 and close', async () => {
  const r = await rawExchange(
    bfe.port,
    'GET / HTTP/1.1\r\nHost: p.test\r\nno colon here\r\n\r\n',
    2000,
  )
  assert.equal(r.data, 'HTTP/1.1 400 Bad Request\r\n\r\n')
  assert.equal(r.closed, true)
})

test('a bad percent-escape in the path gets a raw 400 and close', async () => {
  const r = await rawExchange(bfe.port, reqText('GET', '/a%zz'), 2000)
  assert.equal(r.data, 'HTTP/1.1 400 Bad Request\r\n\r\n')
  assert.equal(r.closed, true)
  assert.equal(up.seen.length, 0)
})

test('ClientReadTimeout: a silent connection is closed after ~1 s without a byte', async () => {
  const c = await client()
  const t0 = Date.now()
  assert.ok(await c.waitClose(2500), 'connection not closed')
  const dt = c.closedAt - t0
  assert.ok(dt >= 900 && dt < 1800, `closed after ${dt} ms`)
  assert.equal(c.received, 0)
})

test('ClientReadTimeout: an unfinished request header is cut after ~1 s without a byte', async () => {
  const c = await client()
  const t0 = Date.now()
  c.write('GET /slow HTTP/1.1\r\nHost: p.test\r\n')
  assert.ok(await c.waitClose(2500), 'connection not closed')
  const dt = c.closedAt - t0
  assert.ok(dt >= 900 && dt < 1800, `closed after ${dt} ms`)
  assert.equal(c.received, 0)
  assert.equal(up.seen.length, 0)
})

test('TimeoutReadClientAgain: an idle keep-alive connection closes after ~300 ms, not before', async () => {
  const c = await client()
  c.write(reqText('GET', '/ka'))
  const r = await c.response()
  assert.equal(r.status, 200)
  assert.notEqual(r.headers.get('connection'), 'close')
  const t0 = Date.now()
  await new Promise((res) => setTimeout(res, 180))
  assert.equal(c.closed, false, 'closed before ~200 ms')
  assert.ok(await c.waitClose(1500), 'idle connection not closed')
  const dt = c.closedAt - t0
  assert.ok(dt >= 200 && dt < 800, `closed after ${dt} ms`)
  assert.equal(c.pending(), '')
})

test('a keep-alive connection used within the idle time serves the next request', async () => {
  const c = await client()
  for (const p of ['/k1', '/k2', '/k3']) {
    c.write(reqText('GET', p))
    const r = await c.response()
    assert.equal(r.body, `GET ${p} `)
    await new Promise((res) => setTimeout(res, 150))
  }
  assert.equal(c.closed, false)
  assert.equal(up.seen.length, 3)
})

test('Expect: 100-continue: interim 100, then the proxied answer; the upstream sees no Expect', async () => {
  const c = await client()
  c.write(
    'POST /upload HTTP/1.1\r\nHost: p.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
  )
  const interim = await c.response()
  assert.equal(interim.status, 100)
  assert.match(interim.head, /^HTTP\/1\.1 100 Continue/)
  c.write('hello')
  const r = await c.response()
  assert.equal(r.status, 200)
  assert.equal(r.body, 'POST /upload hello')
  assert.equal(up.seen.length, 1)
  assert.equal(up.seen[0]?.headers.expect, undefined)
  assert.equal(c.closed, false)
})

test('Expect: 100-continue with Content-Length: 0 → 400 and close (D18)', async () => {
  const c = await client()
  c.write('POST /x HTTP/1.1\r\nHost: p.test\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n')
  const r = await c.response()
  assert.equal(r.status, 400)
  assert.equal(r.headers.get('connection'), 'close')
  assert.equal(r.headers.get('server'), 'bfe')
  assert.ok(await c.waitClose(1000), 'connection not closed')
  assert.equal(c.pending(), '', 'a 100 Continue or more was sent')
  assert.equal(up.seen.length, 0)
})

test('another Expect value → 417 and close', async () => {
  const c = await client()
  c.write('POST /x HTTP/1.1\r\nHost: p.test\r\nContent-Length: 2\r\nExpect: something\r\n\r\nhi')
  const r = await c.response()
  assert.equal(r.status, 417)
  assert.equal(r.headers.get('connection'), 'close')
  assert.ok(await c.waitClose(1000), 'connection not closed')
  assert.equal(up.seen.length, 0)
})

test('HTTP/1.0 without keep-alive is closed after the response', async () => {
  const c = await client()
  c.write('GET /old HTTP/1.0\r\nHost: p.test\r\n\r\n')
  const r = await c.response()
  assert.equal(r.status, 200)
  assert.equal(r.body, 'GET /old ')
  assert.ok(await c.waitClose(1000), 'connection not closed')
})

test('HTTP/1.0 with Connection: keep-alive stays open', async () => {
  const c = await client()
  c.write('GET /old HTTP/1.0\r\nHost: p.test\r\nConnection: keep-alive\r\n\r\n')
  const r = await c.response()
  assert.equal(r.status, 200)
  assert.match(r.headers.get('connection') ?? '', /keep-alive/i)
  c.write('GET /old2 HTTP/1.0\r\nHost: p.test\r\nConnection: keep-alive\r\n\r\n')
  const r2 = await c.response()
  assert.equal(r2.body, 'GET /old2 ')
})

test('Connection: close from the client closes after the response', async () => {
  const c = await client()
  c.write(reqText('GET', '/bye', { connection: 'close' }))
  const r = await c.response()
  assert.equal(r.status, 200)
  assert.equal(r.headers.get('connection'), 'close')
  assert.ok(await c.waitClose(1000), 'connection not closed')
})

test('pipelined requests on one connection are answered in order', async () => {
  const c = await client()
  c.write(reqText('GET', '/p1') + reqText('POST', '/p2', {}, 'body2') + reqText('GET', '/p3'))
  const bodies: string[] = []
  for (let i = 0; i < 3; i++) bodies.push((await c.response()).body)
  assert.deepEqual(bodies, ['GET /p1 ', 'POST /p2 body2', 'GET /p3 '])
  assert.equal(c.closed, false)
})

test('KeepAliveEnabled = false: Connection: close on every response', async () => {
  for (const req of [
    reqText('GET', '/n1'),
    reqText('GET', '/n2', { connection: 'keep-alive' }),
    'GET /n3 HTTP/1.0\r\nHost: p.test\r\nConnection: keep-alive\r\n\r\n',
  ]) {
    const c = await client(noKa.port)
    c.write(req)
    const r = await c.response()
    assert.equal(r.status, 200)
    assert.equal(
      r.headers.get('connection'),
      'close',
      `for ${JSON.stringify(req.split('\r\n')[0])}`,
    )
    assert.ok(await c.waitClose(1000), 'connection not closed')
  }
})
