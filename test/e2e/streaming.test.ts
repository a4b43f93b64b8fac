import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Client } from 'undici'
import { type ConfDir, clustersConf, writeConf } from '../helpers/conf.js'
import { waitFor } from '../helpers/server.js'
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js'

const MB = 1024 * 1024
const BODY = 50 * MB
const CHUNK = 64 * 1024
/** Allowed RSS growth of the balancer while 50 MB go through it. */
const MAX_GROWTH = 40 * MB

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url))

/** The balancer in a child process (`node dist/src/main.js -c <dir>`), so its RSS is its own. */
interface BfeProcess {
  port: number
  url: string
  child: ChildProcess
  /** Current resident set size in bytes, from /proc/<pid>/status. */
  rss(): number
  close(): Promise<void>
}

async function spawnBfe(dir: ConfDir): Promise<BfeProcess> {
  const port = await closedPort()
  const tlsPort = await closedPort()
  const confFile = join(dir.root, 'bfe.conf')
  writeFileSync(
    confFile,
    readFileSync(confFile, 'utf8').replace(
      'HttpPort = 8080',
      `HttpPort = ${port}\nHttpsPort = ${tlsPort}`,
    ),
  )
  const logDir = mkdtempSync(join(tmpdir(), 'bfe-log-'))
  const child = spawn(process.execPath, [MAIN, '-c', dir.root, '-l', logDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString()
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  try {
    await waitFor(
      () => out.includes('listening on port') || child.exitCode !== null,
      5000,
      'the balancer to listen',
    )
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  if (child.exitCode !== null) throw new Error(`bfe exited: ${out}`)
  const pid = child.pid as number
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    rss() {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m === null) throw new Error('no VmRSS')
      return Number(m[1]) * 1024
    },
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
      rmSync(logDir, { recursive: true, force: true })
      dir.cleanup()
    },
  }
}

/** Samples `rss()` every 20 ms until stopped; `peak` is the highest value seen. */
function rssSampler(rss: () => number): { stop(): number } {
  let peak = rss()
  const t = setInterval(() => {
    peak = Math.max(peak, rss())
  }, 20)
  return {
    stop() {
      clearInterval(t)
      return Math.max(peak, rss())
    },
  }
}

/** Request body bytes the upstream has received so far (upload tests). */
let uploaded = 0

/**
 * `total` bytes in 64 KiB chunks, made on the fly. `flight.max` records the largest gap between
 * bytes handed to the client and bytes the upstream has received: what sits in the balancer and
 * the socket buffers.
 */
function generate(total: number, flight: { max: number }): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    const buf = Buffer.alloc(CHUNK, 0x61)
    for (let sent = 0; sent < total; sent += CHUNK) {
      flight.max = Math.max(flight.max, sent - uploaded)
      yield total - sent >= CHUNK ? buf : buf.subarray(0, total - sent)
    }
  }
  return Readable.from(chunks(), { objectMode: false })
}

/** Upstream write stats for the download tests. */
const down = { written: 0, blocked: false, done: false }
let up: Upstream
let bfe: BfeProcess

before(async () => {
  up = await startUpstream((req, res) => {
    if (req.url === '/upload') {
      uploaded = 0
      req.on('data', (c: Buffer) => {
        uploaded += c.length
      })
      req.on('end', () => res.end(String(uploaded)))
      return
    }
    req.resume()
    const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size') ?? '0')
    down.written = 0
    down.blocked = false
    down.done = false
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size })
    const buf = Buffer.alloc(CHUNK, 0x62)
    const pump = (): void => {
      while (down.written < size) {
        const n = Math.min(CHUNK, size - down.written)
        down.written += n
        if (!res.write(n === CHUNK ? buf : buf.subarray(0, n))) {
          down.blocked = true
          res.once('drain', pump)
          return
        }
      }
      down.done = true
      res.end()
    }
    pump()
  })
  bfe = await spawnBfe(
    writeConf(clustersConf({ c: { hosts: ['p.test'], subs: { 'c.a': [{ Port: up.port }] } } })),
  )
  // Warm up both directions, so that what is measured is the transfer, not first-use costs.
  const c = new Client(bfe.url)
  for (let i = 0; i < 4; i++) {
    const d = await c.request({
      method: 'GET',
      path: `/dl?size=${8 * MB}`,
      headers: { host: 'p.test' },
    })
    await d.body.dump({ limit: 16 * MB })
    const u = await c.request({
      method: 'POST',
      path: '/upload',
      headers: { host: 'p.test', 'content-length': String(8 * MB) },
      body: generate(8 * MB, { max: 0 }),
    })
    assert.equal(await u.body.text(), String(8 * MB))
  }
  await c.close()
})
after(async () => {
  await bfe.close()
  await up.close()
})

test('a 50 MB request body is streamed to the upstream with flat balancer memory', async () => {
  const base = bfe.rss()
  const sampler = rssSampler(() => bfe.rss())
  const c = new Client(bfe.url)
  const flight = { max: 0 }
  try {
    const r = await c.request({
      method: 'POST',
      path: '/upload',
      headers: { host: 'p.test', 'content-length': String(BODY) },
      body: generate(BODY, flight),
    })
    assert.equal(r.statusCode, 200)
    assert.equal(await r.body.text(), String(BODY))
  } finally {
    await c.close()
  }
  const growth = sampler.stop() - base
  assert.ok(flight.max < 32 * MB, `${(flight.max / MB).toFixed(1)} MB were in flight at once`)
  assert.ok(growth < MAX_GROWTH, `balancer RSS grew by ${(growth / MB).toFixed(1)} MB`)
})

test('a 50 MB response body is streamed to the client with flat balancer memory', async () => {
  const base = bfe.rss()
  const sampler = rssSampler(() => bfe.rss())
  const c = new Client(bfe.url)
  let received = 0
  let maxFlight = 0
  try {
    const r = await c.request({
      method: 'GET',
      path: `/dl?size=${BODY}`,
      headers: { host: 'p.test' },
    })
    assert.equal(r.statusCode, 200)
    for await (const chunk of r.body) {
      received += (chunk as Buffer).length
      maxFlight = Math.max(maxFlight, down.written - received)
    }
  } finally {
    await c.close()
  }
  const growth = sampler.stop() - base
  assert.equal(received, BODY)
  assert.ok(down.blocked, 'the upstream never saw backpressure')
  assert.ok(maxFlight < 32 * MB, `${(maxFlight / MB).toFixed(1)} MB were in flight at once`)
  assert.ok(growth < MAX_GROWTH, `balancer RSS grew by ${(growth / MB).toFixed(1)} MB`)
})

test('a client that stops reading makes the upstream block (backpressure, no buffering)', async () => {
  const base = bfe.rss()
  const size = 64 * MB
  const s = connect(bfe.port, '127.0.0.1')
  s.on('error', () => {})
  try {
    // No 'data' listener: the socket stays paused after its small internal buffer fills.
    s.write(`GET /dl?size=${size} HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n`)
    await waitFor(() => down.blocked, 2000, 'upstream backpressure')
    // Wait until the upstream makes no more progress.
    let last = -1
    while (down.written !== last) {
      last = down.written
      await new Promise((r) => setTimeout(r, 150))
    }
    assert.ok(!down.done, 'the upstream wrote everything although the client reads nothing')
    assert.ok(down.written < 32 * MB, `${(down.written / MB).toFixed(1)} MB left the upstream`)
    const growth = bfe.rss() - base
    assert.ok(growth < MAX_GROWTH, `balancer RSS grew by ${(growth / MB).toFixed(1)} MB`)

    // Reading again lets the whole response through.
    let received = 0
    const ended = new Promise<void>((r) => s.once('end', () => r()))
    s.on('data', (c: Buffer) => {
      received += c.length
    })
    await ended
    assert.ok(down.done)
    assert.ok(received > size && received < size + 1024, `received ${received} bytes`)
  } finally {
    s.destroy()
  }
})
