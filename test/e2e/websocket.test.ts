import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { after, before, beforeEach, test } from 'node:test'
import { WebSocket, WebSocketServer } from 'ws'
import { CallbackPoint, CallbackPointName, HandlerResult } from '../../src/module/callback-point.js'
import type { CertPair } from '../helpers/certs.js'
import { type TestConf, testPki } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { RawClient, respond, TestModule, waitFor } from '../helpers/test-module.js'
import { closedPort, startRawUpstream } from '../helpers/upstream.js'

const P = CallbackPoint
const R = HandlerResult
const MB = 1024 * 1024

/** A WebSocket echo backend (the `ws` package) that records every upgrade request it gets. */
interface WsBackend {
  port: number
  /** Upgrade requests seen (url, headers). */
  upgrades: { url: string; headers: IncomingMessage['headers']; remote: string }[]
  /** Sockets the backend holds open. */
  open: Set<WebSocket>
  close(): Promise<void>
}

async function startWsBackend(tls?: CertPair): Promise<WsBackend> {
  const server: Server =
    tls === undefined
      ? createHttpServer()
      : createHttpsServer({ cert: tls.certPem, key: tls.keyPem })
  server.on('request', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' })
    res.end('plain')
  })
  const upgrades: WsBackend['upgrades'] = []
  server.prependListener('upgrade', (req: IncomingMessage) => {
    upgrades.push({
      url: req.url ?? '',
      headers: req.headers,
      remote: req.socket.remoteAddress ?? '',
    })
  })
  const wss = new WebSocketServer({ server })
  const open = new Set<WebSocket>()
  wss.on('connection', (ws) => {
    open.add(ws)
    ws.on('error', () => {})
    ws.on('close', () => open.delete(ws))
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    upgrades,
    open,
    close: () =>
      new Promise<void>((r) => {
        for (const ws of wss.clients) ws.terminate()
        wss.close()
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

/** A backend that answers every upgrade with `403` and a body. */
async function startRejecter(): Promise<{ port: number; close(): Promise<void> }> {
  const server = createHttpServer((_req, res) => res.end())
  server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
    socket.on('error', () => {})
    socket.end(
      'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Backend: rejecter\r\nContent-Length: 9\r\n\r\nforbidden',
    )
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

/**
 * A raw backend: answers the handshake with a 101 and `HELLO` in the same write, then echoes
 * bytes; `bye` from the client makes it send `bye` and half-close.
 */
async function startRawWsBackend(): Promise<{ port: number; close(): Promise<void> }> {
  return startRawUpstream((s) => {
    let head = ''
    let switched = false
    s.on('data', (c: Buffer) => {
      if (switched) {
        if (c.toString('latin1') === 'bye') s.end('bye')
        else s.write(c)
        return
      }
      head += c.toString('latin1')
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) return
      switched = true
      s.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Raw: 1\r\n\r\nHELLO',
      )
      const rest = head.slice(end + 4)
      if (rest !== '') s.write(rest)
    })
  })
}

let echo: WsBackend
let echoA: WsBackend
let echoB: WsBackend
let tlsEcho: WsBackend
let rejecter: { port: number; close(): Promise<void> }
let rawWs: { port: number; close(): Promise<void> }
let dead: number
/** Resets every connection once the handshake arrives; counts them. */
let resetter: { port: number; close(): Promise<void> }
let resets = 0
/** Accepts and never answers. */
let silent: { port: number; close(): Promise<void> }
let bfe: RunningBfe
let fdBaseline = 0
const mod = new TestModule()

function fdCount(): number {
  return readdirSync('/proc/self/fd').length
}

function conf(): TestConf {
  const pki = testPki()
  return {
    server: ['Modules = mod_test', 'ClientReadTimeout = 1'],
    hostRule: HOST_RULE,
    routeRule: {
      Version: 't',
      ProductRule: {
        p: [
          { Cond: 'req_path_prefix_in("/deny", false)', ClusterName: 'deny' },
          { Cond: 'req_path_prefix_in("/dead", false)', ClusterName: 'dead' },
          { Cond: 'req_path_prefix_in("/raw", false)', ClusterName: 'raw' },
          { Cond: 'req_path_prefix_in("/tls", false)', ClusterName: 'tls' },
          { Cond: 'req_path_prefix_in("/hash", false)', ClusterName: 'hash' },
          { Cond: 'req_path_prefix_in("/retry", false)', ClusterName: 'retry' },
          { Cond: 'req_path_prefix_in("/reset", false)', ClusterName: 'reset' },
          { Cond: 'req_path_prefix_in("/silent", false)', ClusterName: 'silent' },
          { Cond: 'default_t()', ClusterName: 'ws' },
        ],
      },
    },
    clusterConf: {
      Version: 't',
      Config: {
        // Short request deadlines, to show that they do not cut an idle tunnel.
        ws: {
          ClusterBasic: {
            TimeoutReadClient: 300,
            TimeoutWriteClient: 300,
            TimeoutReadClientAgain: 300,
          },
        },
        deny: {},
        dead: {},
        raw: {},
        tls: {
          BackendConf: { Protocol: 'https' },
          HTTPSConf: { RSCAList: ['tls_conf/backend-ca.crt'] },
        },
        hash: {},
        retry: {},
        // RetryLevel 1 would try an ordinary GET again after a reset; a handshake it does not.
        reset: { BackendConf: { RetryLevel: 1 } },
        silent: { BackendConf: { TimeoutResponseHeader: 300 } },
      },
    },
    clusterTable: {
      ws: { 'ws.a': [{ Port: echo.port }] },
      deny: { 'deny.a': [{ Port: rejecter.port }] },
      dead: { 'dead.a': [{ Port: dead }] },
      raw: { 'raw.a': [{ Port: rawWs.port }] },
      tls: { 'tls.a': [{ Port: tlsEcho.port }] },
      hash: { 'hash.a': [{ Port: echoA.port }], 'hash.b': [{ Port: echoB.port }] },
      retry: { 'retry.a': [{ Port: dead }, { Port: echo.port }] },
      reset: { 'reset.a': [{ Port: resetter.port }, { Port: echo.port }] },
      silent: { 'silent.a': [{ Port: silent.port }] },
    },
    gslb: {
      ws: { 'ws.a': 100 },
      deny: { 'deny.a': 100 },
      dead: { 'dead.a': 100 },
      raw: { 'raw.a': 100 },
      tls: { 'tls.a': 100 },
      hash: { 'hash.a': 50, 'hash.b': 50 },
      retry: { 'retry.a': 100 },
      reset: { 'reset.a': 100 },
      silent: { 'silent.a': 100 },
    },
    files: { 'tls_conf/backend-ca.crt': pki.ca.certPem },
  }
}

before(async () => {
  const backendCert = testPki().server('ws-backend', { cn: '127.0.0.1', ips: ['127.0.0.1'] })
  echo = await startWsBackend()
  echoA = await startWsBackend()
  echoB = await startWsBackend()
  tlsEcho = await startWsBackend(backendCert)
  rejecter = await startRejecter()
  rawWs = await startRawWsBackend()
  dead = await closedPort()
  resetter = await startRawUpstream((sock) =>
    sock.once('data', () => {
      resets++
      sock.destroy()
    }),
  )
  // Reads (and drops) what comes, so that it sees the close.
  silent = await startRawUpstream((sock) => sock.resume())
  bfe = await startBfe(conf(), [mod])
  fdBaseline = fdCount()
})

after(async () => {
  await bfe.close()
  await Promise.all(
    [echo, echoA, echoB, tlsEcho, rejecter, rawWs, resetter, silent].map((b) => b.close()),
  )
})

beforeEach(() => mod.reset())

/** Opens a WebSocket; rejects with the status of an answer that is not a 101. */
function openWs(url: string, opts: ConstructorParameters<typeof WebSocket>[2] = {}) {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 8 * MB, ...opts })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      let body = ''
      res.setEncoding('latin1')
      res.on('data', (c: string) => {
        body += c
      })
      res.on('end', () =>
        reject(Object.assign(new Error(`status ${res.statusCode}`), { res, body })),
      )
    })
  })
}

/** Sends `data` and resolves with the next message. */
function roundTrip(ws: WebSocket, data: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    ws.once('message', (m) => resolve(m as Buffer))
    ws.once('error', reject)
    ws.send(data)
  })
}

function closeWs(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) {
      resolve()
      return
    }
    ws.once('close', () => resolve())
    ws.close()
  })
}

interface Refusal {
  res: IncomingMessage
  body: string
}

async function refused(p: Promise<WebSocket>): Promise<Refusal> {
  try {
    const ws = await p
    ws.terminate()
  } catch (err) {
    if (typeof err === 'object' && err !== null && 'res' in err) return err as unknown as Refusal
    throw err
  }
  throw new Error('the handshake succeeded')
}

/** A client-to-server WebSocket text frame (masked, payload < 126 bytes). */
function maskedFrame(text: string): Buffer {
  const payload = Buffer.from(text)
  const mask = randomBytes(4)
  const out = Buffer.alloc(6 + payload.length)
  out[0] = 0x81
  out[1] = 0x80 | payload.length
  mask.copy(out, 2)
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i]! ^ mask[i % 4]!
  return out
}

/** One product `p` for every host. */
const HOST_RULE = {
  Version: 't',
  DefaultProduct: 'p',
  Hosts: { pTag: ['p.test'] },
  HostTags: { p: ['pTag'] },
}

const HANDSHAKE =
  'GET /echo HTTP/1.1\r\nHost: p.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'

test('ws:// echo through bfe-ts, 1 MB messages both ways', async () => {
  const ws = await openWs(`ws://127.0.0.1:${bfe.port}/echo`)
  const small = await roundTrip(ws, 'hello')
  assert.equal(small.toString(), 'hello')
  for (let i = 0; i < 2; i++) {
    const big = randomBytes(MB)
    const back = await roundTrip(ws, big)
    assert.equal(back.length, MB)
    assert.ok(back.equals(big), '1 MB came back unchanged')
  }
  assert.equal(bfe.server.counters.WS_CLIENT_CONN_ACTIVE, 1)
  await closeWs(ws)
  await waitFor(() => bfe.server.counters.WS_CLIENT_CONN_ACTIVE === 0, 3000, 'tunnel end')
  const st = bfe.server.stateCounters.websocket
  assert.ok(st.WEB_SOCKET_BYTES_RECV > 2 * MB, `recv ${st.WEB_SOCKET_BYTES_RECV}`)
  assert.ok(st.WEB_SOCKET_BYTES_SENT > 2 * MB, `sent ${st.WEB_SOCKET_BYTES_SENT}`)
  assert.ok(bfe.server.counters.WS_CLIENT_CONN_SERVED >= 1)
})

test('wss:// echo through the HTTPS listener, 1 MB messages both ways', async () => {
  const served = bfe.server.counters.WSS_CLIENT_CONN_SERVED
  const ws = await openWs(`wss://127.0.0.1:${bfe.tlsPort}/echo`, { ca: testPki().ca.certPem })
  const big = randomBytes(MB)
  const back = await roundTrip(ws, big)
  assert.ok(back.equals(big))
  assert.equal(bfe.server.counters.WSS_CLIENT_CONN_SERVED, served + 1)
  assert.equal(bfe.server.counters.WSS_CLIENT_CONN_ACTIVE, 1)
  await closeWs(ws)
  await waitFor(() => bfe.server.counters.WSS_CLIENT_CONN_ACTIVE === 0, 3000, 'tunnel end')
})

test('a Protocol: https cluster gets the handshake over TLS (verified against RSCAList)', async () => {
  const ws = await openWs(`wss://127.0.0.1:${bfe.tlsPort}/tls`, { ca: testPki().ca.certPem })
  const big = randomBytes(MB)
  assert.ok((await roundTrip(ws, big)).equals(big))
  assert.equal(tlsEcho.upgrades.at(-1)?.url, '/tls')
  await closeWs(ws)
})

test('the upgrade passes the request callback points and HandleForward; header changes reach the backend', async () => {
  let forwardSaw: string | undefined
  mod.set(P.BeforeLocation, { act: ({ req }) => req?.headers.set('X-Mod-Test', 'before') })
  mod.set(P.Forward, {
    act: ({ req }) => {
      forwardSaw = `${req?.headers.get('upgrade')} ${req?.backend.backendPort}`
    },
  })
  const ws = await openWs(`ws://127.0.0.1:${bfe.port}/echo?x=1`, {
    headers: { 'X-Client': 'c1' },
  })
  assert.equal((await roundTrip(ws, 'x')).toString(), 'x')
  await closeWs(ws)
  // Calls of this connection only (an earlier test's tunnel may still be closing).
  const ses = mod.callsAt(P.BeforeLocation)[0]?.session
  const mine = () => mod.calls.filter((c) => c.session === ses)
  await waitFor(() => mine().some((c) => c.point === P.Finish), 3000, 'HandleFinish')
  assert.deepEqual(
    mine().map((c) => CallbackPointName[c.point]),
    [
      'HandleAccept',
      'HandleBeforeLocation',
      'HandleFoundProduct',
      'HandleAfterLocation',
      'HandleForward',
      'HandleRequestFinish',
      'HandleFinish',
    ],
  )
  assert.equal(mod.callsAt(P.RequestFinish)[0]?.status, 101)
  assert.equal(forwardSaw, `websocket ${echo.port}`)
  const seen = echo.upgrades.at(-1)
  assert.equal(seen?.url, '/echo?x=1')
  assert.equal(seen?.headers['x-mod-test'], 'before')
  assert.equal(seen?.headers['x-client'], 'c1')
  assert.equal(seen?.headers.upgrade, 'websocket')
  assert.equal(seen?.headers.connection, 'Upgrade')
  assert.ok(seen?.headers['sec-websocket-key'])
})

test('a blocking module answers the handshake with its status; the backend never sees it', async () => {
  const before = echo.upgrades.length
  mod.set(P.BeforeLocation, { code: R.Response, act: respond(401, 'denied') })
  const r = await refused(openWs(`ws://127.0.0.1:${bfe.port}/echo`))
  assert.equal(r.res.statusCode, 401)
  assert.equal(r.body, 'denied')
  mod.reset()
  // Finish at HandleAfterLocation: D7's 403, asynchronously this time.
  mod.set(P.AfterLocation, { code: R.Finish, async: true })
  const r2 = await refused(openWs(`ws://127.0.0.1:${bfe.port}/echo`))
  assert.equal(r2.res.statusCode, 403)
  assert.equal(echo.upgrades.length, before, 'no upgrade reached the backend')
  assert.equal(mod.count(P.Forward), 0)
})

test('a backend refusing the upgrade (403) is relayed to the client', async () => {
  const st = bfe.server.stateCounters.websocket
  const rejects = st.WEB_SOCKET_ERR_BACKEND_REJECT
  const r = await refused(openWs(`ws://127.0.0.1:${bfe.port}/deny`))
  assert.equal(r.res.statusCode, 403)
  assert.equal(r.body, 'forbidden')
  assert.equal(r.res.headers['x-backend'], 'rejecter')
  assert.equal(st.WEB_SOCKET_ERR_BACKEND_REJECT, rejects + 1)
})

test('an unreachable backend: 502 after the connect attempts, counted', async () => {
  const st = bfe.server.stateCounters.websocket
  const connects = st.WEB_SOCKET_ERR_CONNECT
  const proxy = st.WEB_SOCKET_ERR_PROXY
  const r = await refused(openWs(`ws://127.0.0.1:${bfe.port}/dead`))
  assert.equal(r.res.statusCode, 502)
  assert.ok(st.WEB_SOCKET_ERR_CONNECT > connects)
  assert.equal(st.WEB_SOCKET_ERR_PROXY, proxy + 1)
})

test('a refused connect is tried on the next backend', async () => {
  const before = echo.upgrades.length
  for (let i = 0; i < 4; i++) {
    const ws = await openWs(`ws://127.0.0.1:${bfe.port}/retry`)
    assert.equal((await roundTrip(ws, `r${i}`)).toString(), `r${i}`)
    await closeWs(ws)
  }
  assert.equal(echo.upgrades.length, before + 4)
})

test('a handshake is not retried once it has reached a backend', async () => {
  const st = bfe.server.stateCounters.websocket
  const handshakeErrs = st.WEB_SOCKET_ERR_HANDSHAKE
  const resets0 = resets
  const echo0 = echo.upgrades.length
  let failed = 0
  for (let i = 0; i < 4; i++) {
    try {
      const ws = await openWs(`ws://127.0.0.1:${bfe.port}/reset`)
      await closeWs(ws)
    } catch (err) {
      assert.equal((err as Partial<Refusal>).res?.statusCode, 502)
      failed++
    }
  }
  assert.ok(failed > 0, 'some handshakes went to the resetting backend')
  assert.equal(resets - resets0, failed, 'each failure was one attempt')
  assert.equal(echo.upgrades.length - echo0, 4 - failed, 'no failed handshake was sent again')
  assert.equal(st.WEB_SOCKET_ERR_HANDSHAKE, handshakeErrs + failed)
})

test('a backend that does not answer the handshake: 504 after TimeoutResponseHeader', async () => {
  const t0 = Date.now()
  const r = await refused(openWs(`ws://127.0.0.1:${bfe.port}/silent`))
  assert.equal(r.res.statusCode, 504)
  assert.ok(Date.now() - t0 >= 250, `answered after ${Date.now() - t0} ms`)
})

test('client bytes sent right after the handshake are not lost', async () => {
  const c = await RawClient.open(bfe.port)
  try {
    // Handshake and a first frame in one write: bfe-ts reads both before the backend answers.
    c.write(Buffer.concat([Buffer.from(HANDSHAKE), maskedFrame('early bird')]))
    await waitFor(() => c.pending().includes('early bird'), 3000, 'the echo of the early frame')
    assert.match(c.pending(), /^HTTP\/1\.1 101 /)
  } finally {
    c.close()
  }
})

test('a handshake on a kept-alive connection, after an ordinary request', async () => {
  const c = await RawClient.open(bfe.port)
  try {
    c.write('GET /plain HTTP/1.1\r\nHost: p.test\r\n\r\n')
    const r = await c.response({ timeoutMs: 3000 })
    assert.equal(r.status, 200)
    assert.equal(r.body, 'plain')
    c.write(Buffer.concat([Buffer.from(HANDSHAKE), maskedFrame('second request')]))
    await waitFor(() => c.pending().includes('second request'), 3000, 'the echo')
    assert.match(c.pending(), /^HTTP\/1\.1 101 /)
  } finally {
    c.close()
  }
})

test('backend bytes in the same packet as its 101 are relayed; half-close closes the client', async () => {
  const c = await RawClient.open(bfe.port)
  try {
    c.write(HANDSHAKE.replace('/echo', '/raw'))
    await waitFor(() => c.pending().includes('\r\n\r\nHELLO'), 3000, '101 + HELLO')
    assert.match(c.pending(), /^HTTP\/1\.1 101 Switching Protocols\r\n/)
    assert.match(c.pending(), /X-Raw: 1/)
    c.write('ping')
    await waitFor(() => c.pending().endsWith('HELLOping'), 3000, 'echo of ping')
    // The backend half-closes after `bye`: the client connection ends too.
    c.write('bye')
    assert.ok(await c.waitClose(3000), 'client connection closed after the backend ended')
    assert.ok(c.pending().endsWith('pingbye'))
  } finally {
    c.close()
  }
})

test('the client closing ends the backend connection', async () => {
  const ws = await openWs(`ws://127.0.0.1:${bfe.port}/echo`)
  await waitFor(() => echo.open.size === 1, 3000, 'backend socket')
  ws.terminate() // no close frame: a plain TCP close
  await waitFor(() => echo.open.size === 0, 3000, 'backend socket closed')
})

test('an idle tunnel is not cut by request deadlines', async () => {
  const ws = await openWs(`ws://127.0.0.1:${bfe.port}/echo`)
  // ClientReadTimeout 1 s, the cluster's read/write/keep-alive timeouts 300 ms: wait past all.
  await new Promise((r) => setTimeout(r, 1300))
  assert.equal(ws.readyState, WebSocket.OPEN)
  assert.equal((await roundTrip(ws, 'still here')).toString(), 'still here')
  await closeWs(ws)
})

test('other upgrades (h2c) are ordinary requests, and the connection closes after them', async () => {
  const c = await RawClient.open(bfe.port)
  try {
    c.write(
      'GET /plain HTTP/1.1\r\nHost: p.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
    )
    const r = await c.response({ timeoutMs: 3000 })
    assert.equal(r.status, 200)
    assert.equal(r.body, 'plain')
    assert.ok(await c.waitClose(3000))
  } finally {
    c.close()
  }
})

test('balancing hashes on the client address (one address, one sub-cluster)', async () => {
  const before = echoA.upgrades.length + echoB.upgrades.length
  const picks = new Map<string, Set<number>>()
  for (const ip of ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']) {
    for (let i = 0; i < 3; i++) {
      const a = echoA.upgrades.length
      const ws = await openWs(`ws://127.0.0.1:${bfe.port}/hash`, { localAddress: ip })
      await closeWs(ws)
      const set = picks.get(ip) ?? new Set<number>()
      set.add(echoA.upgrades.length > a ? 0 : 1)
      picks.set(ip, set)
    }
  }
  assert.equal(echoA.upgrades.length + echoB.upgrades.length, before + 18)
  for (const [ip, set] of picks) assert.equal(set.size, 1, `${ip} always went to one sub-cluster`)
  const used = new Set([...picks.values()].flatMap((s) => [...s]))
  assert.equal(used.size, 2, 'different addresses spread over both sub-clusters')
})

/** The soft limit on open files (Node raises it to the hard limit at start-up). */
function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
  return m === null || m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1])
}

test('1,000 concurrent WebSocket connections, each echoing a message', async (t) => {
  // Each tunnel costs 4 descriptors in this process (client, bfe-ts both sides, backend).
  const limit = openFileLimit()
  const N = Math.min(1000, Math.floor((limit - fdCount() - 100) / 4))
  if (N < 1000) t.diagnostic(`open-file limit ${limit}: ${N} sockets instead of 1000`)
  const rss0 = process.memoryUsage().rss
  const started = Date.now()
  const sockets: WebSocket[] = []
  // Opened in batches (the listen backlog is finite); all stay open until every echo is back.
  for (let i = 0; i < N; i += 100) {
    const batch = []
    for (let j = i; j < Math.min(N, i + 100); j++)
      batch.push(openWs(`ws://127.0.0.1:${bfe.port}/echo/${j}`))
    sockets.push(...(await Promise.all(batch)))
  }
  assert.equal(bfe.server.counters.WS_CLIENT_CONN_ACTIVE, N)
  const opened = Date.now()
  const rssOpen = process.memoryUsage().rss
  const replies = await Promise.all(sockets.map((ws, i) => roundTrip(ws, `message ${i}`)))
  for (const [i, r] of replies.entries()) assert.equal(r.toString(), `message ${i}`)
  await Promise.all(sockets.map(closeWs))
  await waitFor(() => bfe.server.counters.WS_CLIENT_CONN_ACTIVE === 0, 10_000, 'all tunnels end')
  const rss1 = process.memoryUsage().rss
  const mb = (n: number) => `${(n / MB).toFixed(1)} MB`
  t.diagnostic(
    `${N} sockets: opened in ${opened - started} ms, echoed and closed in ${Date.now() - opened} ms`,
  )
  t.diagnostic(
    `RSS of the test process (clients, bfe-ts and backends): before ${mb(rss0)}, ` +
      `with ${N} tunnels open ${mb(rssOpen)}, after ${mb(rss1)}`,
  )
})

test('graceful shutdown closes an idle tunnel after GracefulShutdownTimeout', async () => {
  const own = await startBfe({
    hostRule: HOST_RULE,
    routeRule: { Version: 't', ProductRule: { p: [{ Cond: 'default_t()', ClusterName: 'ws' }] } },
    clusterConf: { Version: 't', Config: { ws: {} } },
    clusterTable: { ws: { 'ws.a': [{ Port: echo.port }] } },
    gslb: { ws: { 'ws.a': 100 } },
  })
  try {
    const ws = await openWs(`ws://127.0.0.1:${own.port}/echo`)
    const closed = new Promise<number>((r) => ws.once('close', () => r(Date.now())))
    const t0 = Date.now()
    const done = own.server.shutdown(600)
    // Still usable while the shutdown waits.
    await new Promise((r) => setTimeout(r, 100))
    assert.equal((await roundTrip(ws, 'during shutdown')).toString(), 'during shutdown')
    const at = await closed
    assert.ok(at - t0 >= 550, `closed after ${at - t0} ms, not before the timeout`)
    assert.ok(at - t0 < 5000, `closed after ${at - t0} ms`)
    await done
  } finally {
    await own.close().catch(() => {})
  }
})

test('no socket leaks: as many file descriptors as before the WebSocket tests', async (t) => {
  await waitFor(() => echo.open.size === 0, 5000, 'backend sockets closed')
  let now = fdCount()
  const end = Date.now() + 5000
  while (now > fdBaseline && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100))
    now = fdCount()
  }
  t.diagnostic(`file descriptors: ${fdBaseline} before the WebSocket tests, ${now} after`)
  assert.ok(now <= fdBaseline, `file descriptors: ${now} now, ${fdBaseline} before`)
  assert.equal(bfe.server.connectionCount, 0)
})
