#!/usr/bin/env node
// bench/ops-load.mjs — reloads and graceful shutdown under load (`npm run bench:ops`).
//
// Starts an nginx origin (4 ports) and bfe-ts with MaxCpus = 2 and the monitor on, then:
//   1. reload: wrk -c50 for --duration seconds while --reloads reloads alternate two routing
//      configurations (server_data_conf: default route to cluster "origin" or "admin") and two
//      balancing configurations (gslb_data_conf: different backends); every reload must answer
//      {"error":null}; prints wrk's non-2xx count and socket errors.
//   2. shutdown: 50 keep-alive HTTP clients in a loop, an idle keep-alive connection opened
//      first, SIGQUIT to the primary after 5 s; prints the exit code, how long the exit took
//      (GracefulShutdownTimeout is 5 s here), when the idle connection was closed, and the
//      requests that failed in flight (sent, then reset or cut). Connections refused after the
//      listeners closed are expected and printed apart.
// Exit status 0 when both phases meet the issue's bar (0 non-2xx, 0 in-flight errors).
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeBfeConf } from './conf/bfe-conf.mjs'
import { ROOT, scratchRun, sleep, startNginxOrigin, waitPort } from './lib/harness.mjs'

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    reloads: { type: 'string', default: '50' },
    'base-port': { type: 'string', default: '19400' },
  },
})
const duration = Number(opt.duration)
const reloads = Number(opt.reloads)
const base = Number(opt['base-port'])
const originPorts = [base + 1, base + 2, base + 3, base + 4]
const bfePort = base + 10
const monitorPort = base + 20

const { tmp, track, cleanup } = scratchRun('bfe-ops-')

function startOrigin() {
  track(
    startNginxOrigin(tmp, {
      ports: originPorts,
      locations: 'location / { return 200 "port $server_port\\n"; }',
    }),
  )
}

/** The bench configuration with 2 workers, the monitor on, and the two alternative data sets. */
function writeConf() {
  const conf = writeBfeConf(join(tmp, 'bfe'), {
    httpPort: bfePort,
    httpsPort: bfePort + 1,
    monitorPort,
    maxCpus: 2,
    modules: [],
    originPorts,
  })
  const bfeConf = join(conf, 'bfe.conf')
  writeFileSync(
    bfeConf,
    readFileSync(bfeConf, 'utf8')
      .replace('MonitorEnabled = false', 'MonitorEnabled = true')
      .replace('[Server]\n', '[Server]\nGracefulShutdownTimeout = 5\n'),
  )
  const json = (rel, v) => {
    mkdirSync(join(conf, rel, '..'), { recursive: true })
    writeFileSync(join(conf, rel), `${JSON.stringify(v, null, 2)}\n`)
  }
  // Routing alternatives: the same four files, the default route differs.
  for (const [name, target] of [
    ['route-a', 'origin'],
    ['route-b', 'admin'],
  ]) {
    mkdirSync(join(conf, name), { recursive: true })
    for (const f of ['host_rule.data', 'vip_rule.data', 'cluster_conf.data']) {
      writeFileSync(join(conf, name, f), readFileSync(join(conf, 'server_data_conf', f), 'utf8'))
    }
    const rules = JSON.parse(readFileSync(join(conf, 'server_data_conf/route_rule.data'), 'utf8'))
    rules.Version = name
    rules.ProductRule.bench.at(-1).ClusterName = target
    json(`${name}/route_rule.data`, rules)
  }
  // Balancing alternatives: different backends in each sub-cluster.
  for (const [name, ports] of [
    ['gslb-a', originPorts.slice(0, 2)],
    ['gslb-b', originPorts.slice(2, 4)],
  ]) {
    const backends = ports.map((Port, i) => ({
      Name: `o-${Port}-${i}`,
      Addr: '127.0.0.1',
      Port,
      Weight: 1,
    }))
    json(`${name}/cluster_table.data`, {
      Version: name,
      Config: { origin: { 'origin.all': backends }, admin: { 'admin.all': backends.slice(0, 1) } },
    })
    json(`${name}/gslb.data`, {
      Hostname: '',
      Ts: name,
      Clusters: { origin: { 'origin.all': 100 }, admin: { 'admin.all': 100 } },
    })
  }
  return conf
}

function startBfe(conf) {
  const c = spawn(
    process.execPath,
    [join(ROOT, 'dist/src/main.js'), '-c', conf, '-l', join(tmp, 'log')],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let err = ''
  c.stderr.on('data', (d) => {
    err += d
  })
  c.stdout.resume()
  track(c)
  c.errText = () => err
  return c
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => {
        body += d
      })
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('error', reject)
  })
}

function wrk(seconds) {
  return new Promise((resolve, reject) => {
    const c = spawn('wrk', ['-t2', '-c50', `-d${seconds}s`, `http://127.0.0.1:${bfePort}/`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    c.stdout.on('data', (d) => {
      out += d
    })
    c.on('error', reject)
    c.on('exit', () => resolve(parseWrk(out)))
  })
}

function parseWrk(out) {
  const num = (re) => {
    const m = re.exec(out)
    return m === null ? 0 : Number(m[1])
  }
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    requests: num(/(\d+) requests in/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    connect: sock ? Number(sock[1]) : 0,
    read: sock ? Number(sock[2]) : 0,
    write: sock ? Number(sock[3]) : 0,
    timeout: sock ? Number(sock[4]) : 0,
  }
}

startOrigin()
for (const p of originPorts) await waitPort(p)
const conf = writeConf()

// ------------------------------------------------------------------ phase 1: reloads
let bfe = startBfe(conf)
await waitPort(bfePort)
await waitPort(monitorPort)
const load = wrk(duration)
const gap = ((duration - 4) * 1000) / reloads
let reloadFailures = 0
const reloadMs = []
await sleep(2000)
for (let i = 0; i < reloads; i++) {
  const which = i % 2 === 0 ? 'b' : 'a'
  const [kind, dir] =
    i % 4 < 2
      ? ['server_data_conf', join(conf, `route-${which}`)]
      : ['gslb_data_conf', join(conf, `gslb-${which}`)]
  const t0 = performance.now()
  const r = await get(monitorPort, `/reload/${kind}?path=${encodeURIComponent(dir)}`)
  reloadMs.push(performance.now() - t0)
  if (!/"error":null/.test(r.body)) {
    reloadFailures++
    console.error(`reload ${i} (${kind} ${dir}): ${r.body}`)
  }
  await sleep(gap)
}
const r1 = await load
reloadMs.sort((a, b) => a - b)
console.log(
  `reload phase: wrk -t2 -c50 -d${duration}s, ${reloads} reloads (${reloadFailures} refused), ` +
    `reload answer median ${reloadMs[reloadMs.length >> 1].toFixed(1)} ms, max ${reloadMs.at(-1).toFixed(1)} ms`,
)
console.log(
  `  ${r1.requests} requests (${r1.rps} req/s), non-2xx ${r1.non2xx}, socket errors: connect ${r1.connect}, read ${r1.read}, write ${r1.write}, timeout ${r1.timeout}`,
)
bfe.kill('SIGTERM')
await new Promise((r) => bfe.once('exit', r))

// ------------------------------------------------------------------ phase 2: SIGQUIT
/**
 * 50 keep-alive clients in a loop (wrk cannot tell a request cut in flight from a connection
 * refused after the listeners closed). A client stops at its first refused connection: the
 * server is gone. An error on a request that was sent (reset, hang-up) is an in-flight failure.
 */
function clients(n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: n })
  const r = { ok: 0, non2xx: 0, inFlight: 0, refused: 0, errors: new Map() }
  let stop = false
  const one = () =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: bfePort, path: '/', agent }, (res) => {
        res.resume()
        res.on('end', () => {
          if (res.statusCode >= 200 && res.statusCode < 300) r.ok++
          else r.non2xx++
          resolve(true)
        })
        res.on('error', () => {
          r.inFlight++
          resolve(true)
        })
      })
      req.on('error', (err) => {
        if (err.code === 'ECONNREFUSED') {
          r.refused++
          resolve(false)
          return
        }
        r.inFlight++
        r.errors.set(err.code ?? err.message, (r.errors.get(err.code ?? err.message) ?? 0) + 1)
        resolve(true)
      })
    })
  const loops = Array.from({ length: n }, async () => {
    while (!stop && (await one()));
  })
  return {
    r,
    done: Promise.all(loops).then(() => {
      agent.destroy()
      return r
    }),
    stop: () => {
      stop = true
    },
  }
}

await sleep(500)
bfe = startBfe(conf)
await waitPort(bfePort)
// An idle keep-alive connection: one request, then silence.
const idle = connect(bfePort, '127.0.0.1')
idle.on('error', () => {})
idle.resume()
let idleClosedAt = 0
// The server's FIN ('end') is what matters; 'close' follows once our side has ended too.
const closed = () => {
  if (idleClosedAt === 0) idleClosedAt = performance.now()
}
idle.on('end', closed)
idle.on('close', closed)
idle.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
await sleep(300)
const load2 = clients(50)
await sleep(5000)
const quitAt = performance.now()
bfe.kill('SIGQUIT')
const code = await new Promise((r) => bfe.once('exit', (c, s) => r(c ?? s)))
const exitMs = performance.now() - quitAt
load2.stop()
const r2 = await load2.done
await sleep(200)
console.log(
  `shutdown phase: SIGQUIT under 50 keep-alive clients with 2 workers: exit code ${code} after ${(exitMs / 1000).toFixed(2)} s ` +
    `(GracefulShutdownTimeout 5 s); idle keep-alive connection closed after ${idleClosedAt === 0 ? 'never' : `${((idleClosedAt - quitAt) / 1000).toFixed(2)} s`}`,
)
console.log(
  `  ${r2.ok} requests answered 2xx, non-2xx ${r2.non2xx}, failed in flight ${r2.inFlight}${r2.errors.size > 0 ? ` (${[...r2.errors].map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}; connections refused after the listeners closed: ${r2.refused}`,
)
if (bfe.errText() !== '') console.log(`bfe stderr:\n${bfe.errText()}`)
const ok =
  reloadFailures === 0 &&
  r1.non2xx === 0 &&
  r1.connect + r1.read + r1.write + r1.timeout === 0 &&
  code === 0 &&
  exitMs < 5000 + 2000 &&
  idleClosedAt !== 0 &&
  r2.non2xx === 0 &&
  r2.inFlight === 0
console.log(ok ? 'ops-load: PASS' : 'ops-load: FAIL')
cleanup()
process.exit(ok ? 0 : 1)
