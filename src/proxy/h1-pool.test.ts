import assert from 'node:assert/strict'
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { test } from 'node:test'
import { HeaderRun } from '../basic/header-list.js'
import type { ForwardSink, UpstreamAttempt } from './attempt.js'
import { classifyUpstreamError } from './errors.js'
import { H1Attempt, H1Pool } from './h1-pool.js'

/** A raw backend: every request head (and body) it receives, and a scripted answer per request. */
interface RawBackend {
  port: number
  /** Everything received, per connection. */
  wire: string[]
  conns: number
  close(): Promise<void>
}

type Answer = (s: Socket, head: string, n: number, conn: number) => void

async function rawBackend(answer: Answer): Promise<RawBackend> {
  const open = new Set<Socket>()
  const b: RawBackend = { port: 0, wire: [], conns: 0, close: async () => {} }
  let n = 0
  const server: Server = createServer((s) => {
    s.on('error', () => {})
    const conn = b.conns++
    b.wire[conn] = ''
    open.add(s)
    s.on('close', () => open.delete(s))
    let buf = ''
    s.on('data', (c: Buffer) => {
      b.wire[conn] += c.toString('latin1')
      buf += c.toString('latin1')
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = buf.slice(0, end)
        let rest = buf.slice(end + 4)
        const cl = /\r\ncontent-length: (\d+)/i.exec(head)
        if (cl !== null) {
          if (rest.length < Number(cl[1])) return
          rest = rest.slice(Number(cl[1]))
        } else if (/\r\ntransfer-encoding: chunked/i.test(head)) {
          const z = rest.indexOf('0\r\n\r\n')
          if (z === -1) return
          rest = rest.slice(z + 5)
        }
        buf = rest
        answer(s, head, n++, conn)
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  b.port = (server.address() as AddressInfo).port
  b.close = () =>
    new Promise<void>((r) => {
      for (const s of open) s.destroy()
      server.close(() => r())
    })
  return b
}

/** What an attempt reported, and a promise that settles when it ended. */
interface Outcome {
  status: number
  headers: string[]
  body: string
  trailers: string[]
  error: Error | undefined
  attempt: H1Attempt
}

function send(
  pool: H1Pool,
  req: {
    method?: string
    path?: string
    headers?: string[]
    checked?: number
    run?: HeaderRun
    body?: Readable | null
  },
  hold?: { untilMs: number },
): Promise<Outcome> {
  return new Promise((resolve) => {
    const out = {
      status: 0,
      headers: [] as string[],
      body: '',
      trailers: [] as string[],
      error: undefined as Error | undefined,
    } as Outcome
    const sink: ForwardSink = {
      upstreamHeaders(a: UpstreamAttempt, status: number, headers: string[]) {
        out.status = status
        out.headers = headers
        if (hold === undefined) return true
        setTimeout(() => a.resume(), hold.untilMs)
        return false
      },
      upstreamData(_a, chunk) {
        out.body += chunk.toString('latin1')
        return true
      },
      upstreamEnd(_a, trailers) {
        out.trailers = trailers
        resolve(out)
      },
      upstreamError(_a, err) {
        out.error = err
        resolve(out)
      },
    }
    const a = new H1Attempt(sink, req.method ?? 'GET')
    out.attempt = a
    pool.dispatch(
      {
        method: req.method ?? 'GET',
        path: req.path ?? '/',
        headers: req.headers ?? ['Host', 'b.test'],
        ...(req.checked === undefined ? {} : { checked: req.checked }),
        run: req.run,
        body: req.body ?? null,
      },
      a,
    )
  })
}

const ok = (s: Socket, body = 'ok', extra = ''): void => {
  s.write(`HTTP/1.1 200 OK\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`)
}

test('keep-alive: one connection carries sequential requests; the head is written as undici did', async () => {
  const b = await rawBackend((s) => ok(s))
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    const r1 = await send(pool, { headers: ['X-A', '1', 'Host', 'b.test'] })
    assert.equal(r1.status, 200)
    assert.equal(r1.body, 'ok')
    assert.equal(r1.attempt.reused, false)
    // the connect time of a new connection is measured, a reused one's is 0
    assert.ok(
      r1.attempt.connectMs >= 0 && r1.attempt.connectMs < 1000,
      String(r1.attempt.connectMs),
    )
    const r2 = await send(pool, {})
    assert.equal(r2.attempt.reused, true)
    assert.equal(r2.attempt.connectMs, 0)
    assert.equal(b.conns, 1)
    assert.equal(pool.idleCount, 1)
    assert.ok(
      b.wire[0]!.startsWith(
        'GET / HTTP/1.1\r\nhost: b.test\r\nconnection: keep-alive\r\nX-A: 1\r\n\r\n',
      ),
      JSON.stringify(b.wire[0]),
    )
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('MaxIdleConnsPerHost 0: connection: close and a new connection per request', async () => {
  const b = await rawBackend((s) => ok(s))
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 0 })
  try {
    for (let i = 0; i < 3; i++) assert.equal((await send(pool, {})).status, 200)
    assert.equal(b.conns, 3)
    assert.match(b.wire[0]!, /\r\nconnection: close\r\n/)
    assert.equal(pool.idleCount, 0)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('a body of unknown length is re-framed chunked; a Content-Length body goes as it is', async () => {
  const b = await rawBackend((s) => ok(s))
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    const r = await send(pool, { method: 'POST', body: Readable.from([Buffer.from('abc')]) })
    assert.equal(r.status, 200)
    assert.match(b.wire[0]!, /transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n$/)
    await send(pool, {
      method: 'PUT',
      headers: ['Host', 'b.test', 'Content-Length', '2'],
      body: Readable.from([Buffer.from('xy')]),
    })
    assert.match(b.wire[0]!, /content-length: 2\r\n\r\nxy$/)
    await send(pool, { method: 'POST' })
    assert.match(b.wire[0]!, /POST \/ HTTP\/1\.1\r\n[\s\S]*content-length: 0\r\n\r\n$/)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('interim 1xx answers are skipped; chunked bodies and trailers reach the sink', async () => {
  const b = await rawBackend((s) => {
    s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n')
    s.write(
      'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-R: 1\r\n\r\n2\r\nhi\r\n0\r\nX-T: t\r\n\r\n',
    )
  })
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    const r = await send(pool, {})
    assert.equal(r.status, 201)
    assert.deepEqual(r.headers, ['X-R', '1'])
    assert.equal(r.body, 'hi')
    assert.deepEqual(r.trailers, ['X-T', 't'])
    assert.equal(pool.idleCount, 1)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('a held response keeps its order: body and end come after resume()', async () => {
  const b = await rawBackend((s) => ok(s, 'held body'))
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    const t0 = Date.now()
    const r = await send(pool, {}, { untilMs: 150 })
    assert.ok(Date.now() - t0 >= 140)
    assert.equal(r.body, 'held body')
    // The connection went back to the pool while held, and reads again for the next request.
    assert.equal((await send(pool, {})).body, 'held body')
    assert.equal(b.conns, 1)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('a reused connection closed by the backend before any response byte: the keep-alive race', async () => {
  const b = await rawBackend((s, _head, n) => {
    if (n === 0) ok(s)
    else s.destroy()
  })
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    assert.equal((await send(pool, {})).status, 200)
    const r = await send(pool, {})
    assert.ok(r.error !== undefined)
    assert.equal(r.attempt.reused, true)
    assert.equal(r.attempt.responseStarted, false)
    const f = classifyUpstreamError(r.error, false)
    assert.equal(f.connectionClosed, true)
    assert.equal(pool.idleCount, 0)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test("a backend's Keep-Alive: timeout= hint retires the idle connection 2 s early", async () => {
  const b = await rawBackend((s) => ok(s, 'ok', 'Keep-Alive: timeout=2\r\n'))
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    await send(pool, {})
    // timeout=2 less the 2 s margin: not kept at all.
    assert.equal(pool.idleCount, 0)
    await send(pool, {})
    assert.equal(b.conns, 2)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('bad answers: a status outside 100-599, and garbage, fail the attempt and the connection', async () => {
  const b = await rawBackend((s, _h, n) => {
    s.write(n === 0 ? 'HTTP/1.1 600 Nope\r\nContent-Length: 0\r\n\r\n' : 'SSH-2.0-OpenSSH\r\n\r\n')
  })
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    for (let i = 0; i < 2; i++) {
      const r = await send(pool, {})
      assert.ok(r.error !== undefined)
      assert.equal(classifyUpstreamError(r.error, false).code, 'BK_READ_RESP_HEADER')
    }
    assert.equal(b.conns, 2)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('a header value with CR or LF is refused before anything is sent (after dispatch returns)', async () => {
  const b = await rawBackend((s) => ok(s))
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    const r = await send(pool, { headers: ['Host', 'b.test', 'X-Bad', 'a\r\nX-Injected: 1'] })
    assert.ok(r.error !== undefined)
    assert.equal(b.conns, 0)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('a refused connection is a connect failure; close() waits for a request in flight', async () => {
  const refused = await rawBackend(() => {})
  const port = refused.port
  await refused.close()
  const dead = new H1Pool('127.0.0.1', port, { connectTimeout: 1000, maxIdle: 4 })
  const r = await send(dead, {})
  assert.equal(classifyUpstreamError(r.error, false).code, 'BK_CONNECT_BACKEND')

  const b = await rawBackend((s) => setTimeout(() => ok(s), 100))
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    const inFlight = send(pool, {})
    await new Promise((r) => setTimeout(r, 30))
    let closed = false
    const c = pool.close().then(() => {
      closed = true
    })
    assert.equal(pool.closed, true)
    assert.equal((await inFlight).status, 200)
    await c
    assert.equal(closed, true)
    assert.equal(pool.idleCount, 0)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

/**
 * A request whose sink keeps every chunk it is given as it is (no copy), as an HTTP/2 stream or
 * a held backlog does: the chunks as given, to be put together by the test after later responses
 * have been read, so a chunk that still pointed into a connection's read buffer would show the
 * bytes of a later read.
 */
function sendKeeping(pool: H1Pool, path: string, holdMs = 0): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const kept: Buffer[] = []
    const sink: ForwardSink = {
      upstreamHeaders(a: UpstreamAttempt) {
        if (holdMs === 0) return true
        setTimeout(() => a.resume(), holdMs)
        return false
      },
      upstreamData(_a, chunk) {
        kept.push(chunk)
        return true
      },
      upstreamEnd() {
        resolve(kept)
      },
      upstreamError(_a, err) {
        reject(err)
      },
    }
    const a = new H1Attempt(sink, 'GET')
    pool.dispatch({ method: 'GET', path, headers: ['Host', 'b.test'], body: null }, a)
  })
}

/** A body of `n` bytes that differs everywhere from any other made here (a counter pattern). */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff
  return b
}

test('chunks handed to the sink stay intact after later reads (long and short, Content-Length and chunked)', async () => {
  const sizes = [100, 5000, 16 * 1024, 70_000, 300_000, 200]
  const bodies = sizes.map((n, i) => pattern(n, i + 1))
  const b = await rawBackend(async (s, head, n) => {
    const i = Number(/^GET \/(\d+)/.exec(head)?.[1])
    const body = bodies[i] as Buffer
    s.setNoDelay(true)
    if (n % 2 === 0) {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`)
      // Body in three writes a little apart: reads of their own.
      const third = Math.ceil(body.length / 3)
      for (let off = 0; off < body.length; off += third) {
        await new Promise((r) => setTimeout(r, 2))
        s.write(body.subarray(off, off + third))
      }
    } else {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
      for (let off = 0; off < body.length; off += 40_000) {
        const c = body.subarray(off, off + 40_000)
        s.write(`${c.length.toString(16)}\r\n`)
        s.write(c)
        s.write('\r\n')
      }
      s.write('0\r\n\r\n')
    }
  })
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    const got: Buffer[][] = []
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < sizes.length; i++) got.push(await sendKeeping(pool, `/${i}`))
    // Two long bodies at once, on two connections.
    const [x, y] = await Promise.all([sendKeeping(pool, '/4'), sendKeeping(pool, '/3')])
    for (let k = 0; k < got.length; k++) {
      const i = k % sizes.length
      assert.ok(
        Buffer.concat(got[k] as Buffer[]).equals(bodies[i] as Buffer),
        `response ${k}: body ${i} (${sizes[i]} bytes)`,
      )
    }
    assert.ok(Buffer.concat(x).equals(bodies[4] as Buffer))
    assert.ok(Buffer.concat(y).equals(bodies[3] as Buffer))
    assert.equal(b.conns, 2)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('a held response longer than a read buffer: the backlog is intact, reading stops until resume()', async () => {
  const body = pattern(200_000, 9)
  const b = await rawBackend((s) => {
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`)
    s.write(body)
  })
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    const held = await sendKeeping(pool, '/', 100)
    // Once more on the same connection, now without holding.
    const next = await sendKeeping(pool, '/')
    assert.ok(Buffer.concat(held).equals(body))
    assert.ok(Buffer.concat(next).equals(body))
    assert.equal(b.conns, 1)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('a response delimited by the close of the connection completes, and the connection is not kept', async () => {
  const body = pattern(150_000, 3)
  const b = await rawBackend((s) => {
    s.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n')
    s.end(body)
  })
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    assert.ok(Buffer.concat(await sendKeeping(pool, '/')).equals(body))
    assert.equal(pool.idleCount, 0)
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('header checks: names and values that could split the head are refused, also after valid names were seen', async () => {
  const b = await rawBackend((s) => ok(s))
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    // valid names first, then near-misses of them
    const good = await send(pool, { headers: ['X-A', '1', 'X-Long', 'x'.repeat(100)] })
    assert.equal(good.status, 200)
    for (const [name, value] of [
      ['X-A ', '1'],
      ['X-A:', '1'],
      ['X-A\r\nEvil', '1'],
      ['', '1'],
      ['X-A', 'a\r\nEvil: 1'],
      ['X-A', 'a\nb'],
      ['X-A', 'a\u0000b'],
    ] as const) {
      const r = await send(pool, { headers: [name, value] })
      assert.equal(r.status, 0, JSON.stringify([name, value]))
      assert.equal((r.error as { code?: string } | undefined)?.code, 'UND_ERR_INVALID_ARG')
    }
    // nothing of the refused requests reached the backend
    assert.ok(b.wire.every((w) => !w.includes('Evil')))
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('a run of fields goes out as its text where the headers hold it, field by field once edited', async () => {
  const b = await rawBackend((s) => ok(s))
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    const run = HeaderRun.of(['X-Forwarded-For', '10.0.0.1', 'X-Real-Port', '4000']) as HeaderRun
    const fields = ['Host', 'b.test', 'X-A', '1', ...run.fields, 'X-Z', '2']
    const head =
      'GET / HTTP/1.1\r\nhost: b.test\r\nconnection: keep-alive\r\nX-A: 1\r\n' +
      'X-Forwarded-For: 10.0.0.1\r\nX-Real-Port: 4000\r\nX-Z: 2\r\n\r\n'
    // with the run and without: the same bytes
    await send(pool, { headers: fields, run })
    await send(pool, { headers: fields })
    assert.equal(b.wire.join(''), head + head)
    // a value changed since (another string) is written as it is now
    const edited = ['Host', 'b.test', 'X-Forwarded-For', '10.0.0.1', 'X-Real-Port', '4001']
    await send(pool, { headers: edited, run })
    assert.ok(b.wire.join('').endsWith('X-Forwarded-For: 10.0.0.1\r\nX-Real-Port: 4001\r\n\r\n'))
    // and still checked: a run does not vouch for fields that only begin like it
    const bad = ['Host', 'b.test', 'X-Forwarded-For', '10.0.0.1', 'X-Real-Port', '1\r\nEvil: 1']
    const r = await send(pool, { headers: bad, run })
    assert.equal((r.error as { code?: string } | undefined)?.code, 'UND_ERR_INVALID_ARG')
    assert.ok(b.wire.every((w) => !w.includes('Evil')))
  } finally {
    await pool.destroy()
    await b.close()
  }
})

test('header checks: only fields past the checked prefix are checked', async () => {
  const b = await rawBackend((s) => ok(s))
  const pool = new H1Pool('127.0.0.1', b.port, { connectTimeout: 1000, maxIdle: 4 })
  try {
    // a bad field past the prefix is refused, as without one
    const bad = ['Host', 'b.test', 'X-A', '1', 'X-B', 'a\r\nEvil: 1']
    for (const checked of [0, 2, 4, 5]) {
      const r = await send(pool, { headers: bad, checked })
      assert.equal(
        (r.error as { code?: string } | undefined)?.code,
        'UND_ERR_INVALID_ARG',
        `${checked}`,
      )
    }
    assert.ok(b.wire.every((w) => !w.includes('Evil')))
    // fields inside the prefix are the parser's and go out unchecked (here a marker value that
    // the check would refuse shows that they were not looked at)
    const r = await send(pool, { headers: ['Host', 'b.test', 'X-Raw', 'a\u0001b'], checked: 4 })
    assert.equal(r.status, 200)
    assert.ok(b.wire.some((w) => w.includes('X-Raw: a\u0001b\r\n')))
  } finally {
    await pool.destroy()
    await b.close()
  }
})
