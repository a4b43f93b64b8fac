import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { connect as h2connect } from 'node:http2'
import { connect, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { Client } from 'undici'
import { h2Request } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startRawUpstream, startUpstream, type Upstream } from '../helpers/upstream.js'

// The upstream read path of the HTTP/1.1 pool (src/proxy/h1-pool.ts): connections read into a
// buffer that the next read overwrites, so these check that every byte a client gets
// is the byte the backend sent, whatever keeps a chunk after the read (a slow client's socket, an
// HTTP/2 stream, the next response on the same connection) and however the backend's bytes are
// cut into reads. Bodies are random bytes, so an overwritten span cannot go unnoticed.

const KiB = 1024
const MiB = 1024 * KiB

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

/** Bodies served by the node:http backend, by path. */
const bodies = new Map<string, Buffer>()
/** The backend's writes met backpressure (res.write returned false) while serving /big. */
const big = { blocked: false }

let backend: Upstream
let bfe: RunningBfe

before(async () => {
  bodies.set('/big', randomBytes(6 * MiB))
  bodies.set('/mib', randomBytes(MiB))
  backend = await startUpstream((req, res) => {
    req.resume()
    const body = bodies.get(req.url ?? '')
    if (body === undefined) {
      res.writeHead(404, { 'content-length': '0' })
      res.end()
      return
    }
    const chunked = req.headers['x-chunked'] === '1'
    res.writeHead(
      200,
      chunked
        ? { 'content-type': 'application/octet-stream' }
        : { 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
    )
    // Writes of uneven sizes (5 KiB .. 100 KiB), with backpressure.
    let off = 0
    let step = 0
    const pump = (): void => {
      while (off < body.length) {
        const n = Math.min(body.length - off, 5 * KiB + ((step++ * 37 * KiB) % (95 * KiB)))
        const ok = res.write(body.subarray(off, off + n))
        off += n
        if (!ok) {
          if (req.url === '/big') big.blocked = true
          res.once('drain', pump)
          return
        }
      }
      res.end()
    }
    pump()
  })
  bfe = await startBfe(simpleConf([backend.port]))
})

after(async () => {
  await bfe?.close()
  await backend?.close()
})

/**
 * GET `path` over a raw connection that reads slowly: nothing for `stallMs` after connecting,
 * then short pauses every `every` bytes (256 KiB). Resolves with the response head and the body bytes.
 */
function slowGet(
  port: number,
  path: string,
  stallMs: number,
  headers = '',
  every = 256 * KiB,
): Promise<{ head: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(port, '127.0.0.1')
    s.on('error', reject)
    const chunks: Buffer[] = []
    let got = 0
    let nextPause = every
    s.write(`GET ${path} HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n${headers}\r\n`)
    s.pause()
    setTimeout(() => s.resume(), stallMs)
    s.on('data', (c: Buffer) => {
      chunks.push(c)
      got += c.length
      if (got >= nextPause) {
        nextPause += every
        s.pause()
        setTimeout(() => s.resume(), every < 64 * KiB ? 1 : 5)
      }
    })
    s.on('end', () => {
      const all = Buffer.concat(chunks)
      const i = all.indexOf('\r\n\r\n')
      resolve({ head: all.subarray(0, i).toString('latin1'), body: all.subarray(i + 4) })
    })
  })
}

/** Decodes a chunked body (test-side, strict enough for what bfe-ts writes). */
function unchunk(b: Buffer): Buffer {
  const out: Buffer[] = []
  let off = 0
  for (;;) {
    const eol = b.indexOf('\r\n', off)
    const n = Number.parseInt(b.subarray(off, eol).toString('latin1'), 16)
    if (n === 0) break
    out.push(b.subarray(eol + 2, eol + 2 + n))
    off = eol + 2 + n + 2
  }
  return Buffer.concat(out)
}

test('a 6 MiB Content-Length body through a slow client arrives intact (backpressure to the backend)', async () => {
  big.blocked = false
  const r = await slowGet(bfe.port, '/big', 600)
  assert.match(r.head, /^HTTP\/1\.1 200 /)
  assert.equal(r.body.length, 6 * MiB)
  assert.equal(sha(r.body), sha(bodies.get('/big') as Buffer))
  assert.ok(big.blocked, 'the backend met backpressure: the client held the response')
})

test('a 6 MiB body through a client that reads in short bursts arrives intact', async () => {
  // The client's socket takes part of a long chunk and keeps the rest while reads go on.
  const r = await slowGet(bfe.port, '/big', 100, '', 16 * KiB)
  assert.equal(r.body.length, 6 * MiB)
  assert.equal(sha(r.body), sha(bodies.get('/big') as Buffer))
})

test('a 6 MiB chunked body through a slow client arrives intact', async () => {
  const r = await slowGet(bfe.port, '/big', 400, 'X-Chunked: 1\r\n')
  assert.match(r.head, /^HTTP\/1\.1 200 /)
  assert.match(r.head, /transfer-encoding: chunked/i)
  const body = unchunk(r.body)
  assert.equal(body.length, 6 * MiB)
  assert.equal(sha(body), sha(bodies.get('/big') as Buffer))
})

test('HTTP/2 client, HTTP/1 backend: a 1 MiB body arrives intact (Content-Length and chunked)', async () => {
  const want = sha(bodies.get('/mib') as Buffer)
  const [a, b] = await Promise.all([
    h2Request(bfe.tlsPort, '/mib', { timeoutMs: 20_000 }),
    h2Request(bfe.tlsPort, '/mib', { headers: { 'x-chunked': '1' }, timeoutMs: 20_000 }),
  ])
  assert.equal(a.alpn, 'h2')
  assert.equal(a.status, 200)
  assert.equal(a.body.length, MiB)
  assert.equal(sha(a.body), want)
  assert.equal(b.status, 200)
  assert.equal(sha(b.body), want)
})

/**
 * A raw backend answering the requests of each connection in order with `answer(n)` (n counts
 * the requests of that connection), written by `send`. Requests are recognised by their blank
 * line (none of these carry a body).
 */
async function rawBackend(
  answer: (n: number, path: string) => Buffer,
  send: (s: Socket, bytes: Buffer) => Promise<void>,
): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  let connections = 0
  const up = await startRawUpstream((s) => {
    connections++
    let pending = ''
    let n = 0
    let busy = Promise.resolve()
    s.on('data', (c: Buffer) => {
      pending += c.toString('latin1')
      for (;;) {
        const end = pending.indexOf('\r\n\r\n')
        if (end === -1) break
        const path = pending.slice(pending.indexOf(' ') + 1, pending.indexOf(' HTTP/'))
        pending = pending.slice(end + 4)
        const bytes = answer(n++, path)
        busy = busy.then(() => send(s, bytes))
      }
    })
  })
  return { port: up.port, connections: () => connections, close: () => up.close() }
}

/** Writes `bytes` in pieces of `size`, one per macrotask (each a read of its own, mostly). */
function trickle(size: number): (s: Socket, bytes: Buffer) => Promise<void> {
  return async (s, bytes) => {
    s.setNoDelay(true)
    for (let off = 0; off < bytes.length; off += size) {
      if (s.destroyed) return
      s.write(bytes.subarray(off, off + size))
      await new Promise((r) => setTimeout(r, 1))
    }
  }
}

const whole = async (s: Socket, bytes: Buffer): Promise<void> => {
  if (!s.destroyed) s.write(bytes)
}

function lengthResponse(body: Buffer, extra = ''): Buffer {
  return Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n`, 'latin1'),
    body,
  ])
}

function chunkedResponse(body: Buffer, piece: number): Buffer {
  const parts: Buffer[] = [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')]
  for (let off = 0; off < body.length; off += piece) {
    const c = body.subarray(off, off + piece)
    parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from('0\r\n\r\n'))
  return Buffer.concat(parts)
}

/** Sends `paths` one after another on one keep-alive client connection; the bodies in order. */
async function sequential(port: number, paths: string[]): Promise<Buffer[]> {
  const client = new Client(`http://127.0.0.1:${port}`, { pipelining: 1 })
  try {
    const out: Buffer[] = []
    for (const path of paths) {
      const r = await client.request({ method: 'GET', path, headers: { host: 'p.test' } })
      assert.equal(r.statusCode, 200, path)
      out.push(Buffer.from(await r.body.arrayBuffer()))
    }
    return out
  } finally {
    await client.close()
  }
}

test('responses cut into many small reads (head and body) arrive intact', async () => {
  const small = randomBytes(3000)
  const chunkedBody = randomBytes(5000)
  const up = await rawBackend(
    (_n, path) =>
      path === '/chunked'
        ? chunkedResponse(chunkedBody, 700)
        : lengthResponse(small, 'X-Long: '.concat('v'.repeat(300), '\r\n')),
    trickle(7),
  )
  const b = await startBfe(simpleConf([up.port]))
  try {
    const [x, y, z] = await sequential(b.port, ['/len', '/chunked', '/len'])
    assert.equal(sha(x as Buffer), sha(small))
    assert.equal(sha(y as Buffer), sha(chunkedBody))
    assert.equal(sha(z as Buffer), sha(small))
    assert.equal(up.connections(), 1, 'the backend connection was reused')
  } finally {
    await b.close()
    await up.close()
  }
})

test('responses larger than a read buffer (64 KiB), written at once, arrive intact', async () => {
  const len = randomBytes(300 * KiB)
  const chunkedBody = randomBytes(200 * KiB)
  const up = await rawBackend(
    (_n, path) =>
      path === '/chunked' ? chunkedResponse(chunkedBody, 90 * KiB) : lengthResponse(len),
    whole,
  )
  const b = await startBfe(simpleConf([up.port]))
  try {
    const got = await sequential(b.port, ['/len', '/chunked', '/len', '/chunked'])
    assert.equal(sha(got[0] as Buffer), sha(len))
    assert.equal(sha(got[1] as Buffer), sha(chunkedBody))
    assert.equal(sha(got[2] as Buffer), sha(len))
    assert.equal(sha(got[3] as Buffer), sha(chunkedBody))
    assert.equal(up.connections(), 1)
  } finally {
    await b.close()
    await up.close()
  }
})

test('keep-alive responses of mixed sizes on one backend connection each arrive intact', async () => {
  // Sizes around the writer's join limit (16 KiB) and the read buffer (64 KiB): whatever is kept
  // of one response must not be overwritten by the reads of the next.
  const sizes = [1, 100, 16 * KiB - 1, 16 * KiB, 16 * KiB + 1, 64 * KiB - 200, 64 * KiB, 70 * KiB]
  const plan = [...sizes, ...[...sizes].reverse(), 100, 100]
  const want = plan.map((n) => randomBytes(n))
  const up = await rawBackend(
    (n) =>
      n % 3 === 2 ? chunkedResponse(want[n] as Buffer, 10_000) : lengthResponse(want[n] as Buffer),
    whole,
  )
  const b = await startBfe(simpleConf([up.port]))
  try {
    const got = await sequential(
      b.port,
      plan.map((_n, i) => `/${i}`),
    )
    for (let i = 0; i < plan.length; i++)
      assert.equal(sha(got[i] as Buffer), sha(want[i] as Buffer), `response ${i}`)
    assert.equal(up.connections(), 1)
  } finally {
    await b.close()
    await up.close()
  }
})

test('HTTP/2 client: long and short bodies from one backend connection, read after the fact', async () => {
  // The h2 stream queues what it is given: views handed on must stay intact while later reads
  // of the same backend connection arrive.
  const want = [randomBytes(200 * KiB), randomBytes(900), randomBytes(80 * KiB), randomBytes(10)]
  const up = await rawBackend((n) => lengthResponse(want[n % 4] as Buffer), whole)
  const b = await startBfe(simpleConf([up.port]))
  try {
    for (let i = 0; i < 4; i++) {
      const r = await h2Request(b.tlsPort, `/${i}`, { timeoutMs: 20_000 })
      assert.equal(r.status, 200)
      assert.equal(sha(r.body), sha(want[i] as Buffer), `response ${i}`)
    }
    assert.equal(up.connections(), 1)
  } finally {
    await b.close()
    await up.close()
  }
})

/**
 * One HTTP/2 request with a small stream window (`window` bytes): bfe-ts's stream has to queue
 * what it is given until the client's WINDOW_UPDATEs, so chunks stay queued while the backend's
 * next reads arrive.
 */
function h2SmallWindow(port: number, path: string, window: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const client = h2connect(`https://127.0.0.1:${port}`, {
      servername: 'localhost',
      rejectUnauthorized: false,
      settings: { initialWindowSize: window },
    })
    const timer = setTimeout(() => {
      client.destroy()
      reject(new Error('h2 request timed out'))
    }, 20_000)
    client.on('error', reject)
    const req = client.request({ ':method': 'GET', ':path': path, ':authority': 'localhost' })
    req.on('error', reject)
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      clearTimeout(timer)
      client.close()
      resolve(Buffer.concat(chunks))
    })
    req.end()
  })
}

test('HTTP/2 client with a small window: a body read in many short pieces arrives intact', async () => {
  // Short reads (3 KiB) while the h2 stream still holds earlier ones.
  const body = randomBytes(150 * KiB)
  const up = await rawBackend(() => lengthResponse(body), trickle(3 * KiB))
  const b = await startBfe(simpleConf([up.port]))
  try {
    const got = await h2SmallWindow(b.tlsPort, '/', 2048)
    assert.equal(got.length, body.length)
    assert.equal(sha(got), sha(body))
  } finally {
    await b.close()
    await up.close()
  }
})
