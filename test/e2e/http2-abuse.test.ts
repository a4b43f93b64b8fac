// Hostile input on the HTTPS port: plaintext, garbage and truncated ClientHellos, bad HTTP/2
// prefaces, oversized header blocks, HPACK bombs, rapid reset, CONTINUATION floods, stream limits
// and client resets. After every case a normal HTTP/2 request must still succeed on a new
// connection, the server's counters must show the event, and the memory of this process (which runs
// the server) must stay bounded.
import assert from 'node:assert/strict'
import { type AddressInfo, createServer as createNetServer } from 'node:net'
import { after, before, beforeEach, test } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import { h2Request } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import {
  continuation,
  ErrorCode,
  errorName,
  Flag,
  FrameType,
  headers,
  hpackIndexed,
  hpackLiteral,
  hpackLiteralIndexed,
  ping,
  RawH2,
  requestBlock,
  rstCode,
  rstStream,
} from '../helpers/h2-frames.js'
import { type RunningBfe, requestRecorder, startBfe, waitFor } from '../helpers/server.js'
import { RawClient } from '../helpers/test-module.js'
import { headerBytes, startUpstream, type Upstream } from '../helpers/upstream.js'

const MiB = 1024 * 1024
/** Allowed growth of this process's RSS during one attack. */
const MEM_LIMIT = 64 * MiB

/** What HandleFinish saw of each connection. */
const finished: { remotePort: number; errCode: string | undefined }[] = []
const finishRecorder: BfeModule = {
  name: 'mod_test_finish',
  init({ callbacks: cb }) {
    cb.addFinishFilter(8, (ses) => {
      finished.push({ remotePort: ses.remotePort, errCode: ses.errCode })
      return HandlerResult.GoOn
    })
  },
}

let up: Upstream
let bfe: RunningBfe
const open: { close(): void }[] = []
/** Measured numbers, printed at the end (they go into the report). */
const measured = new Map<string, string | number>()

/**
 * The test upstream: `/slow` answers after 150 ms, `/stream` streams 20 KiB, else `ok <port>`.
 * It accepts header blocks up to 8 MiB, so that anything the server forwards is seen and counted
 * here (Node's default 16 KiB limit would reject oversized requests before they are counted).
 */
function startTestUpstream(): Promise<Upstream> {
  return startUpstream(
    (req, res) => {
      if (req.url === '/slow') {
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain' })
          res.end('slow ok')
        }, 150)
        return
      }
      if (req.url === '/stream') {
        // 20 chunks of 1 KiB, one every 20 ms.
        res.writeHead(200, { 'content-type': 'application/octet-stream' })
        let n = 0
        const t = setInterval(() => {
          if (res.destroyed) {
            clearInterval(t)
            return
          }
          res.write(Buffer.alloc(1024, 0x61 + (n % 26)))
          if (++n === 20) {
            clearInterval(t)
            res.end()
          }
        }, 20)
        res.on('close', () => clearInterval(t))
        return
      }
      const body = `ok ${(req.socket.address() as AddressInfo).port}`
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
      })
      res.end(body)
    },
    { maxHeaderSize: 8 * MiB },
  )
}

/** A server under test and its upstream. */
interface Target {
  bfe: RunningBfe
  up: Upstream
}

async function startTarget(modules: BfeModule[], moduleLines: string[]): Promise<Target> {
  const up = await startTestUpstream()
  const bfe = await startBfe(
    simpleConf([up.port], {
      // ClientReadTimeout = 1: an HTTP/2 connection that never got a request is let go after 1 s
      // (GOAWAY, then 1 s of grace), which case 11 relies on.
      server: [
        'TlsHandshakeTimeout = 1',
        'ClientReadTimeout = 1',
        'MaxHeaderBytes = 16384',
        ...moduleLines,
      ],
      tlsRule: {
        Version: 't',
        DefaultNextProtos: ['h2', 'http/1.1'],
        Config: {
          mcs: { SniConf: ['mcs.test'], CertName: 'default', NextProtos: ['h2;mcs=5', 'http/1.1'] },
        },
      },
    }),
    modules,
  )
  return { bfe, up }
}

const recorder = requestRecorder()
let main: Target
/**
 * A second server for the cases that leave a server in a bad state while its bugs are open
 * (oversized header lists reach the backend, whose failures then mark it down).
 */
let iso: Target

before(async () => {
  main = await startTarget(
    [finishRecorder, recorder.module],
    ['Modules = mod_test_finish', 'Modules = mod_test_recorder'],
  )
  up = main.up
  bfe = main.bfe
  iso = await startTarget([], [])
})

after(async () => {
  for (const c of open) c.close()
  console.log(`measured: ${JSON.stringify(Object.fromEntries(measured))}`)
  for (const t of [main, iso]) {
    await t.bfe.close()
    await t.up.close()
  }
})

beforeEach(() => {
  main.up.seen.length = 0
  iso.up.seen.length = 0
  recorder.seen.length = 0
})

function tlsCounters() {
  const c = bfe.server.tls?.counters
  assert.ok(c !== undefined, 'the server has a TLS stage')
  return c
}

function h2Counters() {
  const c = bfe.server.http2?.counters
  assert.ok(c !== undefined, 'the server has an HTTP/2 engine')
  return c
}

async function rawH2(
  servername = 'localhost',
  opts: { autoAck?: boolean; target?: Target } = {},
): Promise<RawH2> {
  const port = (opts.target ?? main).bfe.tlsPort
  const c = await RawH2.open({ port, servername, autoAck: opts.autoAck ?? true })
  open.push(c)
  return c
}

async function rawTcp(): Promise<RawClient> {
  const c = await RawClient.open(bfe.tlsPort)
  open.push(c)
  return c
}

/** A normal request on a new connection succeeds (the server survived the previous case). */
async function assertHealthy(target: Target = main): Promise<void> {
  const r = await h2Request(target.bfe.tlsPort, '/', { timeoutMs: 3000 })
  assert.equal(r.alpn, 'h2')
  assert.equal(r.status, 200)
  assert.equal(r.body.toString(), `ok ${target.up.port}`)
}

/**
 * Waits until the server has processed the client's SETTINGS ACK (RawH2 sends it on receipt): a
 * PING sent after it comes back. From then on the server's advertised limits are in force.
 */
async function settle(c: RawH2): Promise<void> {
  const s = await c.waitFrame((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0)
  assert.ok(s !== undefined, 'the server sent its SETTINGS')
  const opaque = Buffer.from('settle!!')
  c.send(ping(opaque))
  const pong = await c.waitFrame(
    (f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.equals(opaque),
  )
  assert.ok(pong !== undefined, 'PING answered')
}

/** Samples this process's RSS every 20 ms; `stop()` gives the peak growth over the start. */
function memWatch(): { stop(): number } {
  const start = process.memoryUsage().rss
  let peak = start
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 20)
  return {
    stop() {
      clearInterval(t)
      peak = Math.max(peak, process.memoryUsage().rss)
      return peak - start
    },
  }
}

function mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`
}

/** The first bytes a real TLS client sends (its ClientHello), caught on a plain TCP server. */
async function realClientHello(): Promise<Buffer> {
  const srv = createNetServer()
  const got = new Promise<Buffer>((resolve) => {
    srv.on('connection', (s) => {
      s.on('error', () => {})
      s.once('data', (c: Buffer) => {
        resolve(c)
        s.destroy()
      })
    })
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const c = tlsConnect({
    port: (srv.address() as AddressInfo).port,
    host: '127.0.0.1',
    servername: 'localhost',
    ALPNProtocols: ['h2'],
    rejectUnauthorized: false,
  })
  c.on('error', () => {})
  const hello = await got
  c.destroy()
  await new Promise<void>((r) => srv.close(() => r()))
  return hello
}

test('1. plaintext HTTP/1.1 on the TLS port: closed at once, no answer, TLS_HANDSHAKE_NOT_TLS', async () => {
  const before = tlsCounters().TLS_HANDSHAKE_NOT_TLS
  const c = await rawTcp()
  const t0 = Date.now()
  c.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
  assert.equal(await c.waitClose(2000), true, 'connection closed')
  const ms = c.closedAt - t0
  measured.set('plaintextCloseMs', ms)
  assert.ok(ms < 500, `closed after ${ms} ms`)
  assert.equal(c.received, 0, 'no bytes answered')
  assert.equal(tlsCounters().TLS_HANDSHAKE_NOT_TLS, before + 1)
  assert.equal(up.seen.length, 0)
  await assertHealthy()
})

test('2a. a TLS record header around a non-ClientHello message: closed, READ_CLIENT_HELLO_ERR', async () => {
  const before = tlsCounters().TLS_HANDSHAKE_READ_CLIENT_HELLO_ERR
  const c = await rawTcp()
  // Record: handshake, TLS 1.0, 16 bytes; handshake message type 2 (ServerHello), length 12.
  const msg = Buffer.concat([
    Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10, 0x02, 0x00, 0x00, 0x0c]),
    Buffer.alloc(12, 0x42),
  ])
  c.write(msg)
  assert.equal(await c.waitClose(2000), true, 'connection closed')
  assert.equal(c.received, 0)
  assert.equal(tlsCounters().TLS_HANDSHAKE_READ_CLIENT_HELLO_ERR, before + 1)
  await assertHealthy()
})

test('2b. random bytes on the TLS port: closed', async () => {
  const t = tlsCounters()
  // Every connection on the TLS port counts in TLS_HANDSHAKE_ALL; a failed one never in _SUCC.
  const failures = () => t.TLS_HANDSHAKE_ALL - t.TLS_HANDSHAKE_SUCC
  for (let i = 0; i < 5; i++) {
    const before = failures()
    const c = await rawTcp()
    const bytes = Buffer.alloc(1024)
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(Math.random() * 256)
    c.write(bytes)
    // Whatever the first byte claims, the handshake deadline (1 s) ends it at the latest.
    assert.equal(await c.waitClose(2500), true, `connection ${i} closed (first byte ${bytes[0]})`)
    assert.equal(failures(), before + 1, `failure counted (first byte ${bytes[0]})`)
  }
  await assertHealthy()
})

test('3. truncated ClientHello then silence: closed by TlsHandshakeTimeout = 1 s', async () => {
  const hello = await realClientHello()
  assert.equal(hello[0], 0x16, 'a TLS handshake record')
  const timeouts = bfe.server.counters.ERR_CLIENT_TIMEOUT
  const c = await rawTcp()
  const port = c.socket.localPort
  const t0 = Date.now()
  c.write(hello.subarray(0, 20))
  assert.equal(await c.waitClose(3000), true, 'connection closed')
  const ms = c.closedAt - t0
  measured.set('truncatedHelloCloseMs', ms)
  assert.ok(ms >= 800 && ms <= 2500, `closed after ${ms} ms`)
  assert.equal(c.received, 0)
  assert.equal(bfe.server.counters.ERR_CLIENT_TIMEOUT, timeouts + 1)
  // HandleFinish runs on the server's own 'close' event, which may come a moment later.
  await waitFor(() => finished.some((x) => x.remotePort === port), 1000, 'HandleFinish')
  const f = finished.find((x) => x.remotePort === port)
  assert.ok(f !== undefined, 'HandleFinish ran for the connection')
  assert.equal(f.errCode, 'CLIENT_TLS_HANDSHAKE')
  await assertHealthy()
})

test('4a. HTTP/2 with a bad connection preface: closed', async () => {
  const c = await RawH2.open({ port: bfe.tlsPort, preface: false })
  open.push(c)
  assert.equal(c.alpn, 'h2')
  c.send(Buffer.from('PRI * HTTP/1.1\r\n\r\nXX\r\n\r\n'))
  assert.equal(await c.waitClose(2000), true, 'connection closed')
  const g = c.goaway()
  measured.set('badPrefaceGoaway', g === undefined ? 'none' : errorName(g.code))
  assert.ok(!c.head.toString('latin1').includes('HTTP/1'), 'no HTTP/1 answer')
  await assertHealthy()
})

test('4b. HTTP/1.1 text after ALPN h2: closed, no HTTP/1 answer, backend not reached', async () => {
  const c = await RawH2.open({ port: bfe.tlsPort, preface: false })
  open.push(c)
  assert.equal(c.alpn, 'h2')
  c.send(Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'))
  assert.equal(await c.waitClose(2000), true, 'connection closed')
  assert.ok(!c.head.toString('latin1').includes('HTTP/1'), 'no HTTP/1 answer')
  assert.equal(up.seen.length, 0)
  await assertHealthy()
})

/** The request stream was refused/reset, or the whole connection ended. */
async function refusedOrClosed(c: RawH2, id: number, timeoutMs = 3000): Promise<string> {
  await c.until(
    () =>
      c.streamFrames(id).some((f) => f.type === FrameType.RST_STREAM) ||
      c.goaway() !== undefined ||
      c.streamDone(id),
    timeoutMs,
  )
  const rst = c.streamFrames(id).find((f) => f.type === FrameType.RST_STREAM)
  if (rst !== undefined) return `RST_STREAM ${errorName(rstCode(rst))}`
  const g = c.goaway()
  if (g !== undefined) return `GOAWAY ${errorName(g.code)}`
  if (c.closed) return 'closed'
  if (c.streamDone(id)) return `answered (${c.body(id).length} body bytes)`
  return 'no reaction'
}

/** Outcomes of refusedOrClosed that mean the server refused the stream or ended the connection. */
function isRefusal(outcome: string): boolean {
  return /^(RST_STREAM|GOAWAY|closed)/.test(outcome)
}

test('5a. one 2 MiB header value over CONTINUATION frames: refused or closed, memory bounded', async () => {
  const mem = memWatch()
  const c = await rawH2()
  const value = Buffer.alloc(2 * MiB, 0x61)
  const block = Buffer.concat([requestBlock('/big'), hpackLiteral('x-big', value)])
  const CHUNK = 16384
  c.send(headers(1, block.subarray(0, CHUNK), { endHeaders: false }))
  for (let off = CHUNK; off < block.length && !c.closed; off += CHUNK) {
    const end = Math.min(off + CHUNK, block.length)
    if (!c.send(continuation(1, block.subarray(off, end), end === block.length))) await c.drained()
  }
  const outcome = await refusedOrClosed(c, 1)
  measured.set('bigValue', outcome)
  assert.ok(isRefusal(outcome), outcome)
  measured.set('bigValueMem', mib(mem.stop()))
  assert.ok(!c.streamFrames(1).some((f) => f.type === FrameType.DATA), 'no response body')
  assert.equal(up.seen.filter((s) => s.url === '/big').length, 0, 'backend not reached')
  assert.ok(mem.stop() < MEM_LIMIT, `rss grew ${mib(mem.stop())}`)
  await assertHealthy()
})

test('5b. 1000 headers beyond MaxHeaderBytes (16384): stream refused or closed', async () => {
  const mem = memWatch()
  const c = await rawH2()
  const fields: Buffer[] = [requestBlock('/many')]
  for (let i = 0; i < 1000; i++) fields.push(hpackLiteral(`x-h${i}`, 'v'.repeat(64)))
  const block = Buffer.concat(fields)
  const CHUNK = 16384
  c.send(headers(1, block.subarray(0, CHUNK), { endHeaders: block.length <= CHUNK }))
  for (let off = CHUNK; off < block.length && !c.closed; off += CHUNK) {
    const end = Math.min(off + CHUNK, block.length)
    c.send(continuation(1, block.subarray(off, end), end === block.length))
  }
  const outcome = await refusedOrClosed(c, 1)
  measured.set('manyHeaders', outcome)
  assert.ok(isRefusal(outcome), outcome)
  assert.equal(up.seen.filter((s) => s.url === '/many').length, 0, 'backend not reached')
  assert.ok(mem.stop() < MEM_LIMIT, `rss grew ${mib(mem.stop())}`)
  await assertHealthy()
})

/** A header list of `n` fields of `size`-byte values after a GET of `path`. */
function bigList(path: string, n: number, size: number): Buffer {
  const fields: Buffer[] = [requestBlock(path)]
  for (let i = 0; i < n; i++) fields.push(hpackLiteral(`x-h${i}`, 'v'.repeat(size)))
  return Buffer.concat(fields)
}

/** Sends `block` on stream `id` as HEADERS + CONTINUATION frames of at most 16 KiB. */
function sendBlock(c: RawH2, id: number, block: Buffer): void {
  const CHUNK = 16384
  c.send(headers(id, block.subarray(0, CHUNK), { endHeaders: block.length <= CHUNK }))
  for (let off = CHUNK; off < block.length && !c.closed; off += CHUNK) {
    const end = Math.min(off + CHUNK, block.length)
    c.send(continuation(id, block.subarray(off, end), end === block.length))
  }
}

test('5c. 40 KiB of headers (40 fields, over MaxHeaderBytes) after SETTINGS ACK: refused', async () => {
  const c = await rawH2()
  await settle(c)
  sendBlock(c, 1, bigList('/size', 40, 1000))
  const outcome = await refusedOrClosed(c, 1)
  measured.set('sizeAfterAck', outcome)
  assert.ok(isRefusal(outcome), outcome)
  assert.equal(up.seen.filter((s) => s.url === '/size').length, 0, 'backend not reached')
  await assertHealthy()
})

test('5d. 40 KiB of headers sent before the client ACKs the SETTINGS: refused too', async () => {
  const c = await rawH2('localhost', { autoAck: false, target: iso })
  sendBlock(c, 1, bigList('/size', 40, 1000))
  const outcome = await refusedOrClosed(c, 1)
  const fwd = iso.up.seen.filter((s) => s.url === '/size')
  measured.set(
    'sizeBeforeAck',
    `${outcome}; forwarded ${fwd.length} with ${fwd[0] === undefined ? 0 : headerBytes(fwd[0])} header bytes`,
  )
  assert.equal(fwd.length, 0, 'backend not reached')
  assert.ok(isRefusal(outcome), outcome)
  await assertHealthy(iso)
})

/** Seeds entry 62 of the dynamic table on stream 1, then sends `count` bomb requests. */
async function hpackBomb(c: RawH2, count: number): Promise<number> {
  // 32 + 6 + 4000 bytes fits the default 4096-byte dynamic table: it becomes entry 62.
  const seed = Buffer.concat([
    requestBlock('/seed'),
    hpackLiteralIndexed('x-bomb', 'b'.repeat(4000)),
  ])
  c.send(headers(1, seed))
  const refs = Buffer.concat(Array.from({ length: 300 }, () => hpackIndexed(62)))
  const bomb = Buffer.concat([requestBlock('/bomb'), refs])
  let sent = 0
  for (let id = 3; sent < count && !c.closed; id += 2) {
    if (!c.send(headers(id, bomb))) await c.drained()
    sent++
  }
  await c.until(() => c.closed || c.goaway() !== undefined || c.streamDone(1 + 2 * sent), 3000)
  return sent
}

test('6. HPACK bomb after SETTINGS ACK: a 4 KiB table entry referenced 300 times per request', async () => {
  const mem = memWatch()
  const c = await rawH2()
  await settle(c)
  const sent = await hpackBomb(c, 500)
  const resets = c.frames.filter((f) => f.type === FrameType.RST_STREAM && f.streamId >= 3).length
  const g = c.goaway()
  const bombs = up.seen.filter((s) => s.url === '/bomb').length
  const grew = mem.stop()
  measured.set(
    'hpackBombAfterAck',
    `sent ${sent}, RST ${resets}, GOAWAY ${g === undefined ? 'none' : errorName(g.code)}, closed ${c.closed}, upstream ${bombs}, rss +${mib(grew)}`,
  )
  assert.equal(c.body(1), `ok ${up.port}`, 'the seeding request itself is served')
  assert.equal(bombs, 0, 'no bomb request reached the backend')
  assert.ok(resets === sent || g !== undefined || c.closed, 'every bomb stream refused')
  assert.ok(grew < MEM_LIMIT, `rss grew ${mib(grew)}`)
  await assertHealthy()
})

test('6b. HPACK bomb sent before the client ACKs the SETTINGS: bounded, nothing forwarded', async () => {
  const mem = memWatch()
  const c = await rawH2('localhost', { autoAck: false, target: iso })
  const sent = await hpackBomb(c, 500)
  const resets = c.frames.filter((f) => f.type === FrameType.RST_STREAM && f.streamId >= 3).length
  const g = c.goaway()
  const fwd = iso.up.seen.filter((s) => s.url === '/bomb')
  const bombs = fwd.length
  const grew = mem.stop()
  measured.set(
    'hpackBombBeforeAck',
    `sent ${sent}, RST ${resets}, GOAWAY ${g === undefined ? 'none' : errorName(g.code)}, closed ${c.closed}, upstream ${bombs} (${fwd[0] === undefined ? 0 : headerBytes(fwd[0])} header bytes each), rss +${mib(grew)}`,
  )
  assert.ok(grew < MEM_LIMIT, `rss grew ${mib(grew)}`)
  assert.equal(bombs, 0, 'no bomb request reached the backend')
  await assertHealthy(iso)
})

/** Writes `pairs` HEADERS+RST_STREAM(CANCEL) pairs of `/rr` as fast as the socket takes them. */
async function rapidReset(c: RawH2, pairs: number): Promise<number> {
  const block = requestBlock('/rr')
  let written = 0
  const batch: Buffer[] = []
  for (let i = 0; i < pairs && !c.closed; i++) {
    const id = 1 + 2 * i
    batch.push(headers(id, block), rstStream(id, ErrorCode.CANCEL))
    written++
    if (batch.length === 200) {
      if (!c.send(Buffer.concat(batch))) await c.drained()
      batch.length = 0
    }
  }
  if (batch.length > 0) c.send(Buffer.concat(batch))
  await c.drained()
  return written
}

test('7. rapid reset (CVE-2023-44487): 10 000 HEADERS+RST_STREAM pairs', async () => {
  const mem = memWatch()
  const c = await rawH2()
  const t0 = Date.now()
  const pairs = await rapidReset(c, 10000)
  const ms = Date.now() - t0
  // Let any backend request that did start arrive.
  await c.until(() => c.goaway() !== undefined, 1000)
  await new Promise((r) => setTimeout(r, 200))
  const g = c.goaway()
  const reached = up.seen.filter((s) => s.url === '/rr').length
  const grew = mem.stop()
  measured.set(
    'rapidReset',
    `pairs written ${pairs} in ${ms} ms, GOAWAY ${g === undefined ? 'none' : `${errorName(g.code)} last=${g.lastStreamId}`}, closed ${c.closed}, upstream ${reached}, H2_ERR_GOT_RESET ${h2Counters().H2_ERR_GOT_RESET}, rss +${mib(grew)}`,
  )
  assert.ok(g !== undefined || c.closed, 'the server ended the connection')
  assert.ok(reached < 1000, `${reached} of ${pairs} reset requests reached the backend`)
  assert.ok(grew < MEM_LIMIT, `rss grew ${mib(grew)}`)
  await assertHealthy()
})

test('7b. a reset flood ends the TCP connection, not only the HTTP/2 session', async () => {
  const overload = h2Counters().H2_CONN_OVERLOAD
  const c = await rawH2()
  const t0 = Date.now()
  await rapidReset(c, 10000)
  assert.equal(await c.waitClose(2000), true, `still open ${Date.now() - t0} ms after the flood`)
  assert.ok(h2Counters().H2_CONN_OVERLOAD > overload, 'H2_CONN_OVERLOAD counted')
})

test('8. CONTINUATION flood: HEADERS without END_HEADERS, then endless CONTINUATION', async () => {
  const mem = memWatch()
  const c = await rawH2()
  c.send(headers(1, requestBlock('/cont'), { endHeaders: false }))
  const one = continuation(1, hpackLiteral('x-c', 'c'.repeat(20)))
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => one))
  const t0 = Date.now()
  let frames = 0
  while (!c.closed && frames < 100000 && Date.now() - t0 < 5000) {
    if (!c.send(batch)) await c.drained()
    frames += 1000
    if (frames % 10000 === 0) await new Promise((r) => setImmediate(r))
  }
  const closed = await c.waitClose(2000)
  const g = c.goaway()
  const grew = mem.stop()
  measured.set(
    'continuationFlood',
    `frames written ${frames}, closed ${closed} after ${c.closedAt - t0} ms, GOAWAY ${g === undefined ? 'none' : errorName(g.code)}, rss +${mib(grew)}`,
  )
  assert.ok(closed, 'connection closed')
  assert.equal(up.seen.filter((s) => s.url === '/cont').length, 0)
  assert.ok(grew < MEM_LIMIT, `rss grew ${mib(grew)}`)
  await assertHealthy()
})

/** Opens streams `ids` of `/slow` on `mcs.test` (mcs=5) before the SETTINGS are ACKed. */
async function overMcs(ids: number[]): Promise<RawH2> {
  const c = await rawH2('mcs.test')
  c.send(Buffer.concat(ids.map((id) => headers(id, requestBlock('/slow', 'mcs.test')))))
  assert.ok(await c.until(() => ids.every((id) => c.streamDone(id)), 3000), 'every stream ended')
  return c
}

test('9. more streams than mcs=5: 5 answered, 5 REFUSED_STREAM, the connection stays usable', async () => {
  const ids = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]
  const c = await overMcs(ids)
  const answered = ids.filter((id) => c.body(id) === 'slow ok')
  const refused = ids.filter((id) =>
    c
      .streamFrames(id)
      .some((f) => f.type === FrameType.RST_STREAM && rstCode(f) === ErrorCode.REFUSED_STREAM),
  )
  measured.set('mcs', `answered ${answered.join(',')}; refused ${refused.join(',')}`)
  assert.equal(answered.length, 5)
  assert.equal(refused.length, 5)
  assert.equal(up.seen.filter((s) => s.url === '/slow').length, 5)
  assert.equal(c.goaway(), undefined)
  // The same connection still serves a request.
  c.send(headers(21, requestBlock('/', 'mcs.test')))
  assert.ok(await c.until(() => c.streamDone(21), 2000), 'stream 21 ended')
  assert.equal(c.body(21), `ok ${up.port}`)
  await assertHealthy()
})

/** The body `/stream` sends: 20 chunks of 1 KiB, 'a'..'t'. */
function streamBody(): string {
  let s = ''
  for (let n = 0; n < 20; n++) s += String.fromCharCode(0x61 + (n % 26)).repeat(1024)
  return s
}

/** Streams 1 and 3 to `/stream`; stream 1 is reset after its first DATA frame. */
async function resetOneOfTwo(): Promise<RawH2> {
  const c = await rawH2()
  c.send(Buffer.concat([headers(1, requestBlock('/stream')), headers(3, requestBlock('/stream'))]))
  const first = await c.waitFrame((f) => f.streamId === 1 && f.type === FrameType.DATA, 2000)
  assert.ok(first !== undefined, 'stream 1 started streaming')
  c.send(rstStream(1, ErrorCode.CANCEL))
  assert.ok(await c.until(() => c.streamDone(3), 3000), 'stream 3 ended')
  return c
}

test('10. a stream reset while its response streams: the other stream gets its full body', async () => {
  const resets = h2Counters().H2_ERR_GOT_RESET
  const c = await resetOneOfTwo()
  assert.equal(c.body(3), streamBody())
  assert.ok(!c.streamFrames(3).some((f) => f.type === FrameType.RST_STREAM), 'stream 3 not reset')
  assert.ok(c.body(1).length < 20 * 1024, 'stream 1 did not get its whole body')
  await waitFor(() => h2Counters().H2_ERR_GOT_RESET > resets, 1000, 'H2_ERR_GOT_RESET')
  assert.equal(h2Counters().H2_ERR_GOT_RESET, resets + 1)
  await assertHealthy()
})

test('10b. a client reset of one stream neither ends the connection nor counts as a backend fault', async () => {
  const c = await resetOneOfTwo()
  await waitFor(() => recorder.seen.length >= 2, 1000, 'both requests finished')
  const reset = recorder.seen.find((r) => r.errCode !== undefined)
  measured.set('resetErrCode', reset?.errCode ?? 'none')
  assert.ok(reset?.errCode?.startsWith('CLIENT_') === true, `errCode ${reset?.errCode}`)
  const g = c.goaway()
  assert.equal(g, undefined, `GOAWAY ${g === undefined ? '' : errorName(g.code)}`)
  c.send(headers(5, requestBlock('/')))
  assert.ok(await c.until(() => c.streamDone(5), 2000), 'stream 5 ended')
  assert.equal(c.body(5), `ok ${up.port}`)
})

// A session that nghttp2 itself ended with GOAWAY (COMPRESSION_ERROR, flood limits) is no longer
// read, so the server does not see its client go; the HTTP/2 idle deadline (here 1 s, then 1 s of
// grace after GOAWAY) ends it.
test('11. once every client has gone, the server holds no connection', async () => {
  for (const c of open) c.close()
  for (const t of [main, iso]) {
    const srv = t.bfe.server
    await waitFor(() => srv.connectionCount === 0, 3500, 'connections to close').catch(() => {})
    const left = srv.conns
      .toArray()
      .map(
        (c) =>
          `${c.session.protocol} served ${c.served} ${c.session.errCode ?? '-'} ${c.session.errMsg}`,
      )
    assert.equal(srv.connectionCount, 0, `connections left: ${left.join('; ')}`)
  }
})
