// The TLS stream proxy (protocols.md §5): ALPN `stream` or a rule whose only protocol is
// `stream;level=2`, product from the VIP or DefaultProduct, cluster by session-only route rules,
// backend by the balancer (three attempts), an optional PROXY header to the backend (`pp=1|2`),
// then bytes both ways with backpressure and half-close. No socket is left behind.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import type { StreamStateCounters } from '../../src/monitor/state-counters.js'
import { run } from '../helpers/exec.js'
import { type RunningBfe, startBfe, waitFor } from '../helpers/server.js'
import { closedPort, startRawUpstream } from '../helpers/upstream.js'

type Raw = { port: number; close(): Promise<void> }
let bfe: RunningBfe
let echo: Raw // c_echo: every byte back, half-close passed on
let once: Raw // c_once: reads the PROXY header (if any) and one line, answers, closes
let fdsBefore = 0
let shutDown = false

const SIG_V2 = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

/** What a backend read of a PROXY header, written by hand here (not with the code under test). */
function describeHeader(buf: Buffer): { desc: string; rest: Buffer } | undefined {
  if (buf.subarray(0, 6).toString() === 'PROXY ') {
    const lf = buf.indexOf('\r\n')
    if (lf === -1) return undefined
    const [, proto, src, dst, sp, dp] = buf.toString('latin1', 0, lf).split(' ')
    return { desc: `v1 ${proto} ${src}:${sp} -> ${dst}:${dp}`, rest: buf.subarray(lf + 2) }
  }
  if (buf.length >= 12 && buf.subarray(0, 12).equals(SIG_V2)) {
    if (buf.length < 28) return undefined
    const len = buf.readUInt16BE(14)
    if (buf[12] !== 0x21 || buf[13] !== 0x11 || len !== 12)
      return { desc: 'v2 unexpected', rest: Buffer.alloc(0) }
    const ip = (o: number) => `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`
    return {
      desc: `v2 ${ip(16)}:${buf.readUInt16BE(24)} -> ${ip(20)}:${buf.readUInt16BE(26)}`,
      rest: buf.subarray(28),
    }
  }
  return { desc: 'none', rest: buf }
}

function fdCount(): number {
  return readdirSync('/proc/self/fd').length
}

before(async () => {
  echo = await startRawUpstream((s) => {
    s.pipe(s)
  })
  once = await startRawUpstream((s) => {
    let buf = Buffer.alloc(0)
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      const h = describeHeader(buf)
      if (h === undefined) return
      const lf = h.rest.indexOf('\n')
      if (lf === -1) return
      s.end(`hdr=${h.desc};echo=${h.rest.toString('latin1', 0, lf)}\n`)
    })
  })
  const down = await closedPort()
  const cluster = (port: number) => ({ [`s${port}`]: [{ Port: port }] })
  bfe = await startBfe({
    server: ['Layer4LoadBalancer = PROXY', 'ClientReadTimeout = 1'],
    hostRule: { Version: 't', DefaultProduct: 'p', Hosts: {}, HostTags: { p: [] } },
    routeRule: {
      Version: 't',
      ProductRule: {
        p: [
          { Cond: 'ses_tls_sni_in("echo.test")', ClusterName: 'c_echo' },
          { Cond: 'ses_tls_sni_in("down.test")', ClusterName: 'c_down' },
          { Cond: '!ses_tls_sni_in("nobal.test")', ClusterName: 'c_once' },
        ],
      },
    },
    clusterConf: { Version: 't', Config: { c_echo: {}, c_once: {}, c_down: {} } },
    clusterTable: { c_echo: cluster(echo.port), c_once: cluster(once.port), c_down: cluster(down) },
    gslb: {
      c_echo: { [`s${echo.port}`]: 1 },
      c_once: { [`s${once.port}`]: 1 },
      c_down: { [`s${down}`]: 1 },
    },
    tlsRule: {
      Version: 't',
      DefaultNextProtos: ['h2', 'http/1.1'],
      Config: {
        byAlpn: {
          SniConf: ['alpn.test', 'echo.test', 'down.test', 'nobal.test'],
          CertName: 'default',
          NextProtos: ['stream', 'http/1.1'],
        },
        ppV2: { SniConf: ['only.test'], CertName: 'default', NextProtos: ['stream;level=2;pp=2'] },
        ppV1: { SniConf: ['pp1.test'], CertName: 'default', NextProtos: ['stream;level=2;pp=1'] },
      },
    },
  })
  fdsBefore = fdCount()
})

after(async () => {
  if (!shutDown) await bfe?.close()
  await Promise.all([echo?.close(), once?.close()])
})

/** Waits until every earlier tunnel has closed (and so has been counted). */
function settle(): Promise<void> {
  return waitFor(() => bfe.server.connectionCount === 0, 3000, 'connections to close')
}

function counters(): StreamStateCounters {
  const c = bfe.server.stream?.counters
  assert.ok(c !== undefined)
  return { ...c }
}

/** openssl s_client -alpn stream: one line through the tunnel, the backend's answer back. */
async function sClientLine(servername: string, alpn = true): Promise<string> {
  const r = await run(
    'openssl',
    [
      's_client',
      '-connect',
      `127.0.0.1:${bfe.tlsPort}`,
      '-servername',
      servername,
      ...(alpn ? ['-alpn', 'stream'] : []),
      '-ign_eof',
    ],
    { input: 'hello stream\n', timeoutMs: 8000 },
  )
  return r.stdout
}

test('openssl s_client -alpn stream: bytes reach the backend and come back', async () => {
  const out = await sClientLine('alpn.test')
  assert.match(out, /ALPN protocol: stream/)
  assert.match(out, /hdr=none;echo=hello stream/)
})

test('pp=2: the backend reads a PROXY v2 header (client address, local address without VIP)', async () => {
  const out = await sClientLine('only.test')
  const m = /hdr=v2 127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:(\d+);echo=hello stream/.exec(out)
  assert.ok(m, out)
  assert.equal(Number(m[2]), bfe.tlsPort)
  // level=2 forces the protocol without ALPN too
  assert.match(await sClientLine('only.test', false), /hdr=v2 .*;echo=hello stream/)
})

/** TLS with ALPN stream over a TCP connection that may start with a PROXY header. */
function streamClient(servername: string, pp?: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const raw: Socket = connect(bfe.tlsPort, '127.0.0.1')
    raw.on('error', reject)
    raw.on('connect', () => {
      if (pp !== undefined) raw.write(pp)
      const t = tlsConnect({
        socket: raw,
        servername,
        ALPNProtocols: ['stream'],
        rejectUnauthorized: false,
      })
      t.on('error', reject)
      t.on('secureConnect', () => resolve(t))
    })
  })
}

function readAll(t: TLSSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    t.on('data', (d: Buffer) => chunks.push(d))
    t.on('end', () => resolve(Buffer.concat(chunks)))
    t.on('error', reject)
  })
}

test('a PROXY header in, pp=1 out: the backend sees the client and the VIP of the header', async () => {
  const t = await streamClient('pp1.test', 'PROXY TCP4 203.0.113.5 192.0.2.30 7000 443\r\n')
  const got = readAll(t)
  t.write('line\n')
  assert.equal((await got).toString(), 'hdr=v1 TCP4 203.0.113.5:7000 -> 192.0.2.30:443;echo=line\n')
  t.destroy()
})

test('1 MB each way with backpressure, then a half-close from the client', async () => {
  await settle()
  const c0 = counters()
  const t = await streamClient('echo.test')
  const data = randomBytes(1 << 20)
  const got = readAll(t)
  t.end(data) // close_notify after the data: the client stops sending, keeps reading
  const back = await got
  assert.equal(back.length, data.length)
  assert.ok(back.equals(data))
  t.destroy()
  await settle()
  const c = counters()
  assert.equal(c.STREAM_BYTES_RECV - c0.STREAM_BYTES_RECV, data.length)
  assert.equal(c.STREAM_BYTES_SENT - c0.STREAM_BYTES_SENT, data.length)
  assert.equal(c.STREAM_ERR_TRANSFER, c0.STREAM_ERR_TRANSFER)
})

test('an idle tunnel outlives ClientReadTimeout (no request deadline applies)', async () => {
  const t = await streamClient('echo.test')
  await new Promise((r) => setTimeout(r, 1300))
  const got = readAll(t)
  t.end('still here')
  assert.equal((await got).toString(), 'still here')
  t.destroy()
})

test('a backend that refuses: three attempts, then the client is closed and it is counted', async () => {
  await settle()
  const c0 = counters()
  const t = await streamClient('down.test')
  const got = await readAll(t).catch(() => Buffer.alloc(0))
  assert.equal(got.length, 0)
  t.destroy()
  const c = counters()
  assert.equal(c.STREAM_ERR_CONNECT - c0.STREAM_ERR_CONNECT, 3)
  assert.equal(c.STREAM_ERR_PROXY - c0.STREAM_ERR_PROXY, 1)
})

test('no route for the connection: three balance failures, then closed', async () => {
  await settle()
  const c0 = counters()
  const t = await streamClient('nobal.test')
  const got = await readAll(t).catch(() => Buffer.alloc(0))
  assert.equal(got.length, 0)
  t.destroy()
  const c = counters()
  assert.equal(c.STREAM_ERR_BALANCE - c0.STREAM_ERR_BALANCE, 3)
  assert.equal(c.STREAM_ERR_PROXY - c0.STREAM_ERR_PROXY, 1)
  assert.equal(c.STREAM_ERR_CONNECT, c0.STREAM_ERR_CONNECT)
})

test('no socket leaks: the process holds as many file descriptors as before the stream tests', async () => {
  await settle()
  await waitFor(() => fdCount() <= fdsBefore, 3000, `fds back to ${fdsBefore} (now ${fdCount()})`)
})

test('graceful shutdown keeps a tunnel until GracefulShutdownTimeout, then closes it', async () => {
  const t = await streamClient('echo.test')
  const chunks: Buffer[] = []
  t.on('data', (d: Buffer) => chunks.push(d))
  const closed = new Promise<number>((r) => t.on('close', () => r(Date.now())))
  const start = Date.now()
  shutDown = true
  const done = bfe.server.shutdown(800)
  await new Promise((r) => setTimeout(r, 300))
  t.write('during shutdown')
  await waitFor(() => Buffer.concat(chunks).toString() === 'during shutdown', 1000)
  const at = await closed
  await done
  assert.ok(at - start >= 700, `closed after ${at - start} ms`)
  await bfe.close().catch(() => {})
})
