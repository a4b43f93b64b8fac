import assert from 'node:assert/strict'
import { existsSync, readFileSync, renameSync } from 'node:fs'
import { connect as h2connect } from 'node:http2'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { get } from '../helpers/client.js'
import { type ConfDir, simpleConf, writeConf } from '../helpers/conf.js'
import {
  type BfeProcess,
  exitWithin,
  killAllBfe,
  logLines,
  pidsWith,
  spawnBfe,
} from '../helpers/process.js'
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js'

/*
 * The process lifecycle of the real `bfe` command (spec/protocols.md §9, decisions.md D4):
 * graceful SIGQUIT, SIGTERM, SIGUSR1 log reopening, ignored signals, and the multi-worker
 * primary (readiness, worker replacement, port in use). Every test starts its own process on
 * its own ports and configuration copy.
 */

const dirs: ConfDir[] = []
const upstreams: Upstream[] = []
after(async () => {
  killAllBfe()
  for (const u of upstreams) await u.close()
  for (const d of dirs) d.cleanup()
})

interface Started {
  bfe: BfeProcess
  port: number
  httpsPort: number
  root: string
  logDir: string
}

/** Starts `bfe -c <conf> -l <conf>/log` with one cluster on `upstream` and waits for it. */
async function startBfe(
  upstream: Upstream,
  opts: { workers?: number; grace?: number; extra?: string[] } = {},
): Promise<Started> {
  const port = await closedPort()
  const httpsPort = await closedPort()
  const dir = writeConf(
    simpleConf([upstream.port], {
      server: [
        `HttpPort = ${port}`,
        `HttpsPort = ${httpsPort}`,
        'HttpAddr = 127.0.0.1',
        'HttpsAddr = 127.0.0.1',
        `MaxCpus = ${opts.workers ?? 1}`,
        `GracefulShutdownTimeout = ${opts.grace ?? 5}`,
      ],
    }),
  )
  dirs.push(dir)
  const logDir = join(dir.root, 'log')
  const bfe = spawnBfe(['-c', dir.root, '-l', logDir, ...(opts.extra ?? [])])
  await bfe.waitForOutput(`listening on port ${port}`, 20_000)
  return { bfe, port, httpsPort, root: dir.root, logDir }
}

async function upstream(delayMs = 0): Promise<Upstream> {
  const u = await startUpstream((req, res) => {
    req.resume()
    const body = `ok ${u.port}`
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
      res.end(body)
    }, delayMs)
  })
  upstreams.push(u)
  return u
}

/** A keep-alive connection that has been answered once and now sits idle. */
async function idleKeepAlive(port: number): Promise<{ socket: Socket; closed: Promise<number> }> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  let data = ''
  const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now())))
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      data += c.toString('latin1')
      if (/\r\n\r\nok \d+$/.test(data)) resolve()
    })
    socket.on('close', () => reject(new Error(`closed before the answer: ${data}`)))
    socket.write('GET / HTTP/1.1\r\nHost: p.test\r\n\r\n')
  })
  assert.match(data, /^HTTP\/1\.1 200/)
  assert.match(data, /connection: keep-alive/i)
  return { socket, closed }
}

/** A raw HTTP/1.1 request; resolves with the whole answer once the body has arrived. */
function rawGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    let data = ''
    s.on('error', reject)
    s.on('data', (c: Buffer) => {
      data += c.toString('latin1')
      if (/\r\n\r\nok \d+$/.test(data)) resolve(data)
    })
    s.on('close', () => resolve(data))
    s.write('GET / HTTP/1.1\r\nHost: p.test\r\n\r\n')
  })
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string) {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** True when something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.on('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.on('error', () => resolve(false))
  })
}

/** Pids of the workers that logged `worker ready`. */
function workerPids(logDir: string): number[] {
  return logLines(join(logDir, 'bfe.log'))
    .filter((l) => l['msg'] === 'worker ready')
    .map((l) => Number(l['pid']))
}

describe('process lifecycle: one process (MaxCpus = 1)', { concurrency: 3 }, () => {
  test('SIGQUIT with an idle keep-alive connection: the connection is closed, exit 0 at once', async () => {
    const up = await upstream()
    // A long grace period, so that "at once" (well under it) holds on a loaded machine too.
    const s = await startBfe(up, { grace: 20 })
    const idle = await idleKeepAlive(s.port)
    const t0 = Date.now()
    s.bfe.signal('SIGQUIT')
    const code = await exitWithin(s.bfe, 20_000 + 3000)
    assert.equal(code, 0)
    const closedAt = await idle.closed
    assert.ok(closedAt - t0 < 8000, `idle connection closed after ${closedAt - t0} ms`)
    assert.ok(Date.now() - t0 < 8000, `exit took ${Date.now() - t0} ms`)
    const msgs = logLines(join(s.logDir, 'bfe.log')).map((l) => l['msg'])
    assert.ok(msgs.includes('SIGQUIT: graceful shutdown'), msgs.join('\n'))
  })

  test('SIGQUIT: a keep-alive client that sends its next request at once is answered with Connection: close', async () => {
    const up = await upstream()
    const s = await startBfe(up, { grace: 5 })
    const { socket, closed } = await idleKeepAlive(s.port)
    s.bfe.signal('SIGQUIT')
    await new Promise((r) => setTimeout(r, 200))
    let data = ''
    socket.on('data', (c: Buffer) => {
      data += c.toString('latin1')
    })
    socket.write('GET /again HTTP/1.1\r\nHost: p.test\r\n\r\n')
    await closed
    assert.match(data, /^HTTP\/1\.1 200/)
    assert.match(data, /\r\nconnection: close\r\n/i)
    assert.equal(await exitWithin(s.bfe, 5000 + 3000), 0)
  })

  test('SIGQUIT: a connection that never sent a request is closed at GracefulShutdownTimeout', async () => {
    const up = await upstream()
    const s = await startBfe(up, { grace: 2 })
    const bare = connect(s.port, '127.0.0.1')
    bare.on('error', () => {})
    await new Promise<void>((r) => bare.on('connect', () => r()))
    const closed = new Promise<number>((r) => bare.on('close', () => r(Date.now())))
    const t0 = Date.now()
    s.bfe.signal('SIGQUIT')
    assert.equal(await exitWithin(s.bfe, 2000 + 3000), 0)
    const at = await closed
    assert.ok(at - t0 < 2000 + 1500, `closed after ${at - t0} ms`)
  })

  test('SIGQUIT during a slow request: it completes with 200 and Connection: close', async () => {
    const up = await upstream(1000)
    const s = await startBfe(up, { grace: 5 })
    const answer = rawGet(s.port)
    await until(() => up.seen.length === 1, 3000, 'the upstream to get the request')
    s.bfe.signal('SIGQUIT')
    const text = await answer
    assert.match(text, /^HTTP\/1\.1 200/)
    assert.match(text, /\r\nconnection: close\r\n/i)
    assert.match(text, /ok \d+$/)
    assert.equal(await exitWithin(s.bfe, 5000 + 3000), 0)
  })

  test('SIGQUIT: an HTTP/2 connection gets GOAWAY and the process exits 0', async () => {
    const up = await upstream()
    const s = await startBfe(up, { grace: 5 })
    const session = h2connect(`https://localhost:${s.httpsPort}`, { rejectUnauthorized: false })
    session.on('error', () => {})
    const status = await new Promise<number>((resolve, reject) => {
      const r = session.request({ ':path': '/', host: 'p.test' })
      r.on('response', (h) => resolve(Number(h[':status'])))
      r.on('error', reject)
      r.resume()
      r.end()
    })
    assert.equal(status, 200)
    const goaway = new Promise<boolean>((r) => session.on('goaway', () => r(true)))
    s.bfe.signal('SIGQUIT')
    assert.equal(await goaway, true)
    assert.equal(await exitWithin(s.bfe, 5000 + 3000), 0)
    session.destroy()
  })

  test('SIGTERM exits 0 at once and says so in the log', async () => {
    const up = await upstream()
    const s = await startBfe(up, { grace: 30 })
    await idleKeepAlive(s.port)
    const t0 = Date.now()
    s.bfe.signal('SIGTERM')
    // "at once": far below the 30 s grace period, with room for a loaded machine
    assert.equal(await exitWithin(s.bfe, 10_000), 0)
    assert.ok(Date.now() - t0 < 10_000, `exit took ${Date.now() - t0} ms`)
    const msgs = logLines(join(s.logDir, 'bfe.log')).map((l) => l['msg'])
    assert.ok(msgs.includes('SIGTERM: exiting now'), msgs.join('\n'))
  })

  test('SIGUSR1 reopens the log after a rename and opens no inspector', async () => {
    const up = await upstream()
    const inspectorBefore = await listening(9229)
    const s = await startBfe(up)
    const log = join(s.logDir, 'bfe.log')
    await until(
      () => existsSync(log) && readFileSync(log, 'utf8').includes('bfe started'),
      3000,
      'bfe.log',
    )
    renameSync(log, `${log}.1`)
    s.bfe.signal('SIGUSR1')
    await until(
      () => existsSync(log) && readFileSync(log, 'utf8').includes('log files reopened'),
      3000,
      'a new bfe.log',
    )
    // the request after the signal is logged in the new file, nothing more in the old one
    const r = await get(`http://127.0.0.1:${s.port}/`, { headers: { host: 'nowhere.example' } })
    assert.equal(r.status, 200, 'the default product answers')
    assert.ok(readFileSync(`${log}.1`, 'utf8').includes('bfe started'))
    assert.ok(!readFileSync(`${log}.1`, 'utf8').includes('reopened'))
    assert.doesNotMatch(s.bfe.stderr, /Debugger listening/)
    if (!inspectorBefore) assert.equal(await listening(9229), false, 'port 9229 was opened')
    // still serving, still the same process
    assert.equal(s.bfe.child.exitCode, null)
    s.bfe.signal('SIGTERM')
    assert.equal(await exitWithin(s.bfe, 3000), 0)
  })

  test('SIGHUP, SIGTRAP and SIGABRT are ignored and logged', async () => {
    const up = await upstream()
    const s = await startBfe(up)
    for (const sig of ['SIGHUP', 'SIGTRAP', 'SIGABRT'] as const) s.bfe.signal(sig)
    const log = join(s.logDir, 'bfe.log')
    await until(
      () =>
        existsSync(log) &&
        ['SIGHUP', 'SIGTRAP', 'SIGABRT'].every((g) =>
          readFileSync(log, 'utf8').includes(`${g} ignored`),
        ),
      3000,
      'the ignored-signal lines',
    )
    const r = await get(`http://127.0.0.1:${s.port}/`, { headers: { host: 'p.test' } })
    assert.equal(r.status, 200)
    s.bfe.signal('SIGTERM')
    assert.equal(await exitWithin(s.bfe, 3000), 0)
  })

  test('a failed request is logged once with its error code; -d logs the routing decision', async () => {
    const up = await upstream()
    const s = await startBfe(up, { extra: ['-d'] })
    const ok = await get(`http://127.0.0.1:${s.port}/ok`, { headers: { host: 'p.test' } })
    assert.equal(ok.status, 200)
    await up.close()
    const bad = await get(`http://127.0.0.1:${s.port}/down`, { headers: { host: 'p.test' } })
    assert.equal(bad.status, 502)
    const log = join(s.logDir, 'bfe.log')
    await until(
      () => existsSync(log) && readFileSync(log, 'utf8').includes('request failed'),
      3000,
      'the failure line',
    )
    const lines = logLines(log)
    const failures = lines.filter((l) => String(l['msg']).startsWith('request failed'))
    assert.equal(failures.length, 1, JSON.stringify(failures))
    assert.equal(failures[0]?.['errCode'], 'BK_CONNECT_BACKEND')
    assert.equal(failures[0]?.['uri'], '/down')
    assert.equal(failures[0]?.['status'], 502)
    const routes = lines.filter((l) => l['msg'] === 'route: request matched product and cluster')
    assert.equal(routes.length, 2)
    assert.equal(routes[0]?.['cluster'], 'c')
    // the warning file has the failure, not the info lines
    const wf = logLines(`${log}.wf`)
    assert.ok(wf.some((l) => String(l['msg']).startsWith('request failed')))
    assert.ok(wf.every((l) => Number(l['level']) >= 40))
    s.bfe.signal('SIGTERM')
    assert.equal(await exitWithin(s.bfe, 3000), 0)
  })

  test('without -d no debug line is written', async () => {
    const up = await upstream()
    const s = await startBfe(up)
    const ok = await get(`http://127.0.0.1:${s.port}/`, { headers: { host: 'p.test' } })
    assert.equal(ok.status, 200)
    s.bfe.signal('SIGTERM')
    assert.equal(await exitWithin(s.bfe, 3000), 0)
    const lines = logLines(join(s.logDir, 'bfe.log'))
    assert.ok(lines.length > 0)
    assert.ok(lines.every((l) => Number(l['level']) >= 30))
  })
})

describe('process lifecycle: two workers (MaxCpus = 2)', { concurrency: 2 }, () => {
  test('start-up: load warnings once (from the primary), two ready workers; SIGQUIT with requests in flight loses none', async () => {
    const up = await upstream(700)
    const s = await startBfe(up, { workers: 2, grace: 5 })
    assert.match(s.bfe.stdout, /with 2 workers/)
    await until(() => workerPids(s.logDir).length === 2, 3000, 'two worker lines')
    const inFlight = Array.from({ length: 8 }, () =>
      get(`http://127.0.0.1:${s.port}/`, { headers: { host: 'p.test' } }).then(
        (r) => r.status,
        () => 0,
      ),
    )
    await until(() => up.seen.length === 8, 5000, 'all requests at the upstream')
    s.bfe.signal('SIGQUIT')
    const statuses = await Promise.all(inFlight)
    assert.deepEqual(statuses, Array(8).fill(200))
    assert.equal(await exitWithin(s.bfe, 5000 + 6000), 0)
    assert.deepEqual(await pidsWith(s.root), [])
    const lines = logLines(join(s.logDir, 'bfe.log'))
    const stopped = lines.filter((l) => l['msg'] === 'graceful shutdown done, exiting')
    assert.equal(stopped.length, 2)
    // the load warnings (the default CipherSuites name RC4 suites) come once, from the primary
    const warnings = lines.filter((l) => String(l['msg']).includes('cannot be offered by Node'))
    assert.equal(warnings.length, 1, JSON.stringify(warnings))
    assert.equal(warnings[0]?.['pid'], s.bfe.pid)
  })

  test('a worker killed with SIGKILL is replaced, counted, and requests keep being served', async () => {
    const up = await upstream()
    const s = await startBfe(up, { workers: 2 })
    await until(() => workerPids(s.logDir).length === 2, 3000, 'two worker lines')
    const [victim] = workerPids(s.logDir)
    assert.ok(victim !== undefined && alive(victim))
    process.kill(victim, 'SIGKILL')
    // while the replacement starts, the other worker serves
    for (let i = 0; i < 5; i++) {
      const r = await get(`http://127.0.0.1:${s.port}/`, { headers: { host: 'p.test' } })
      assert.equal(r.status, 200)
    }
    await until(() => workerPids(s.logDir).length === 3, 5000, 'a replacement worker')
    const lines = logLines(join(s.logDir, 'bfe.log'))
    const died = lines.find((l) => l['msg'] === 'worker died; starting another')
    assert.equal(died?.['worker'], victim)
    assert.equal(died?.['signal'], 'SIGKILL')
    assert.equal(died?.['restarts'], 1)
    const fresh = workerPids(s.logDir).at(-1) as number
    assert.ok(alive(fresh))
    for (let i = 0; i < 10; i++) {
      const r = await get(`http://127.0.0.1:${s.port}/`, { headers: { host: 'p.test' } })
      assert.equal(r.status, 200)
    }
    s.bfe.signal('SIGTERM')
    assert.equal(await exitWithin(s.bfe, 5000), 0)
    await until(async () => (await pidsWith(s.root)).length === 0, 3000, 'no process left')
  })

  test('port in use: exit 1 with the reason on stderr and no process left behind', async () => {
    const up = await upstream()
    const busy = await startBfe(up, { workers: 1 })
    const dir = writeConf(
      simpleConf([up.port], {
        server: [
          `HttpPort = ${busy.port}`,
          `HttpsPort = ${await closedPort()}`,
          'HttpAddr = 127.0.0.1',
          'HttpsAddr = 127.0.0.1',
          'MaxCpus = 2',
        ],
      }),
    )
    dirs.push(dir)
    const second = spawnBfe(['-c', dir.root, '-l', join(dir.root, 'log')])
    assert.equal(await exitWithin(second, 15_000), 1)
    assert.match(second.stderr, /address already in use/)
    assert.match(second.stderr, /start failed/)
    assert.doesNotMatch(second.stderr, /Error:|\n\s+at /)
    assert.deepEqual(await pidsWith(dir.root), [])
    busy.bfe.signal('SIGTERM')
    assert.equal(await exitWithin(busy.bfe, 3000), 0)
  })

  test('a broken configuration exits 1 before any worker starts', async () => {
    const dir = writeConf(
      simpleConf([1], { server: ['MaxCpus = 2', 'GracefulShutdownTimeout = 301'] }),
    )
    dirs.push(dir)
    const p = spawnBfe(['-c', dir.root, '-l', join(dir.root, 'log')])
    assert.equal(await exitWithin(p, 10_000), 1)
    assert.match(p.stderr, /GracefulShutdownTimeout/)
    assert.match(p.stderr, /start failed/)
    assert.ok(!logLines(join(dir.root, 'log/bfe.log')).some((l) => l['msg'] === 'starting workers'))
  })
})
