#!/usr/bin/env node
// bench/soak-mixed.mjs — a long run with faults injected (`npm run bench:soak-mixed`, issue 13).
//
//   npm run build && node bench/soak-mixed.mjs [--minutes 30] [--every 10] [--warmup 2]
//
// bfe-ts (one process) routes three clusters:
//   /        → "origin": nginx, always up;              wrk -c20 for the whole run
//   /slow    → "slowc":  a Node backend that answers 64 KB in pieces over ~100 ms; clients that
//              abort at a random moment (before, during or after the response head)
//   /flap    → "flappy": a Node backend whose listener closes and reopens every 15 s (a flapping
//              backend); a client loop keeps asking it
// plus slow clients: raw connections that send their head a byte at a time, some finishing within
// ClientReadTimeout (2 s here), some not.
//
// Every --every seconds it samples the bfe-ts process's RSS and open file descriptors (/proc). At
// the end it prints the least-squares slope of both after the warm-up, per 10 minutes (flat means
// under 1 MB and 0 fds per 10 minutes), and the requests that failed without an injected fault to
// explain them: non-2xx answers and socket errors on "/" (wrk), and slow-client heads that were
// finished in time but not answered 200. Failures on /flap (the backend is down half the time)
// and aborted /slow requests are the injected faults and are only counted.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeBfeConf } from './conf/bfe-conf.mjs'
import { ROOT, rssMb, scratchRun, sleep, startNginxOrigin, waitPort } from './lib/harness.mjs'

const { values: opt } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    every: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    'base-port': { type: 'string', default: '19600' },
  },
})
const minutes = Number(opt.minutes)
const everyS = Number(opt.every)
const warmupMin = Number(opt.warmup)
const base = Number(opt['base-port'])
const originPort = base + 1
const slowPort = base + 2
const flapPort = base + 3
const bfePort = base + 10

const { tmp, track, cleanup } = scratchRun('bfe-soak-mixed-')

// ------------------------------------------------------------------ backends
track(
  startNginxOrigin(tmp, {
    ports: [originPort],
    locations: `location / { return 200 "${'0123456789'.repeat(10)}"; }`,
  }),
)

const piece = Buffer.alloc(8192, 'x')
const slow = http.createServer((req, res) => {
  req.resume()
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 8 * 8192 })
  let n = 0
  const t = setInterval(() => {
    if (res.destroyed) {
      clearInterval(t)
      return
    }
    res.write(piece)
    if (++n === 8) {
      clearInterval(t)
      res.end()
    }
  }, 12)
})
slow.on('clientError', (_e, s) => s.destroy())
slow.listen(slowPort, '127.0.0.1')

let flapServer
let flapUp = false
function flapOpen() {
  flapServer = http.createServer((req, res) => {
    req.resume()
    res.end('flap')
  })
  flapServer.keepAliveTimeout = 1000
  flapServer.on('clientError', (_e, s) => s.destroy())
  flapServer.listen(flapPort, '127.0.0.1')
  flapUp = true
}
function flapClose() {
  flapServer.close()
  flapServer.closeAllConnections()
  flapUp = false
}
flapOpen()
const flapTimer = setInterval(() => (flapUp ? flapClose() : flapOpen()), 15_000)

// ------------------------------------------------------------------ bfe-ts
const conf = writeBfeConf(join(tmp, 'bfe'), {
  httpPort: bfePort,
  httpsPort: bfePort + 1,
  monitorPort: bfePort + 2,
  maxCpus: 1,
  modules: [],
  originPorts: [originPort],
})
const json = (rel, v) => writeFileSync(join(conf, rel), `${JSON.stringify(v, null, 2)}\n`)
writeFileSync(
  join(conf, 'bfe.conf'),
  readFileSync(join(conf, 'bfe.conf'), 'utf8').replace(
    '[Server]\n',
    '[Server]\nClientReadTimeout = 2\n',
  ),
)
json('server_data_conf/route_rule.data', {
  Version: 'soak',
  ProductRule: {
    bench: [
      { Cond: 'req_path_prefix_in("/slow", false)', ClusterName: 'slowc' },
      { Cond: 'req_path_prefix_in("/flap", false)', ClusterName: 'flappy' },
      { Cond: 'default_t()', ClusterName: 'origin' },
    ],
  },
})
json('server_data_conf/cluster_conf.data', {
  Version: 'soak',
  Config: {
    origin: { BackendConf: { MaxIdleConnsPerHost: 100 } },
    slowc: { BackendConf: { MaxIdleConnsPerHost: 100 } },
    flappy: {
      BackendConf: { MaxIdleConnsPerHost: 100, TimeoutConnSrv: 500 },
      CheckConf: { CheckInterval: 1000, FailNum: 3 },
    },
  },
})
const one = (Name, Port) => [{ Name, Addr: '127.0.0.1', Port, Weight: 1 }]
json('cluster_conf/cluster_table.data', {
  Version: 'soak',
  Config: {
    origin: { 'origin.all': one('origin', originPort) },
    slowc: { 'slowc.all': one('slow', slowPort) },
    flappy: { 'flappy.all': one('flap', flapPort) },
  },
})
json('cluster_conf/gslb.data', {
  Hostname: '',
  Ts: 'soak',
  Clusters: {
    origin: { 'origin.all': 100 },
    slowc: { 'slowc.all': 100 },
    flappy: { 'flappy.all': 100 },
  },
})
await waitPort(originPort)
const bfe = spawn(
  process.execPath,
  [join(ROOT, 'dist/src/main.js'), '-c', conf, '-l', join(tmp, 'log')],
  {
    stdio: ['ignore', 'ignore', 'inherit'],
  },
)
track(bfe)
await waitPort(bfePort)

// ------------------------------------------------------------------ load
const endAt = Date.now() + minutes * 60_000
const stats = {
  slowAborted: 0,
  slowDone: 0,
  slowOther: 0,
  flapOk: 0,
  flapFailed: 0,
  slowClientsInTime: 0,
  slowClientsInTimeFailed: 0,
  slowClientsLate: 0,
}

const wrk = spawn('wrk', ['-t1', '-c20', `-d${minutes * 60}s`, `http://127.0.0.1:${bfePort}/`], {
  stdio: ['ignore', 'pipe', 'inherit'],
})
track(wrk)
let wrkOut = ''
wrk.stdout.on('data', (d) => {
  wrkOut += d
})
const wrkDone = new Promise((r) => wrk.on('exit', r))

/** /slow, cut at a random moment between 0 and 150 ms. */
async function abortLoop() {
  while (Date.now() < endAt) {
    await new Promise((resolve) => {
      const req = http.get(
        { host: '127.0.0.1', port: bfePort, path: '/slow', agent: false },
        (res) => {
          res.resume()
          res.on('end', () => {
            stats.slowDone++
            resolve()
          })
          res.on('error', () => resolve())
        },
      )
      req.on('error', () => {
        stats.slowAborted++
        resolve()
      })
      setTimeout(() => req.destroy(), Math.random() * 150)
    })
  }
}

/** /flap with a keep-alive agent: fails while the backend is down (an injected fault). */
async function flapLoop() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 })
  while (Date.now() < endAt) {
    await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: bfePort, path: '/flap', agent }, (res) => {
        res.resume()
        res.on('end', () => {
          if (res.statusCode === 200) stats.flapOk++
          else stats.flapFailed++
          resolve()
        })
      })
      req.on('error', () => {
        stats.flapFailed++
        resolve()
      })
    })
    await sleep(20)
  }
  agent.destroy()
}

/** A head one byte at a time: in time (done in ~1 s) or too slow (would take ~6 s). */
async function slowClientLoop() {
  const head = Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1\r\n\r\n')
  while (Date.now() < endAt) {
    const late = Math.random() < 0.5
    const gap = late ? 120 : 15
    await new Promise((resolve) => {
      const s = connect(bfePort, '127.0.0.1')
      let got = ''
      s.on('data', (d) => {
        got += d
      })
      s.on('error', () => {})
      s.on('close', () => {
        if (late) stats.slowClientsLate++
        else {
          stats.slowClientsInTime++
          if (!got.startsWith('HTTP/1.1 200')) stats.slowClientsInTimeFailed++
        }
        resolve()
      })
      let i = 0
      const t = setInterval(() => {
        if (s.destroyed) {
          clearInterval(t)
          return
        }
        if (i < head.length) s.write(head.subarray(i, i + 1))
        i++
        if (i === head.length) {
          clearInterval(t)
          // answered or cut: close our side a little later
          setTimeout(() => s.end(), 500)
        }
      }, gap)
    })
  }
}

// ------------------------------------------------------------------ sampling
const samples = []
function fds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return undefined
  }
}
const t0 = Date.now()
const sampler = setInterval(() => {
  const s = { min: (Date.now() - t0) / 60_000, rss: rssMb(bfe.pid), fds: fds(bfe.pid) }
  samples.push(s)
  process.stdout.write(
    `${s.min.toFixed(1)} min  rss ${s.rss?.toFixed(1)} MB  fds ${s.fds}  flap ok/failed ${stats.flapOk}/${stats.flapFailed}  slow done/aborted ${stats.slowDone}/${stats.slowAborted}  slow clients ${stats.slowClientsInTime}(${stats.slowClientsInTimeFailed} failed)/${stats.slowClientsLate}\n`,
  )
}, everyS * 1000)

await Promise.all([
  ...Array.from({ length: 4 }, abortLoop),
  ...Array.from({ length: 2 }, flapLoop),
  ...Array.from({ length: 10 }, slowClientLoop),
  wrkDone,
])
clearInterval(sampler)
clearInterval(flapTimer)

function slope(points, key) {
  const pts = points.filter((p) => p.min >= warmupMin && p[key] !== undefined)
  const n = pts.length
  if (n < 2) return Number.NaN
  const mx = pts.reduce((a, p) => a + p.min, 0) / n
  const my = pts.reduce((a, p) => a + p[key], 0) / n
  let num = 0
  let den = 0
  for (const p of pts) {
    num += (p.min - mx) * (p[key] - my)
    den += (p.min - mx) ** 2
  }
  return (num / den) * 10
}
const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(wrkOut)
const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(wrkOut)?.[1] ?? 0)
const wrkReqs = Number(/(\d+) requests in/.exec(wrkOut)?.[1] ?? 0)
const sockErr = sock === null ? 0 : sock.slice(1).reduce((a, b) => a + Number(b), 0)
const rssSlope = slope(samples, 'rss')
const fdSlope = slope(samples, 'fds')
const unexplained = non2xx + sockErr + stats.slowClientsInTimeFailed
const after = samples.filter((p) => p.min >= warmupMin)
const summary = {
  minutes,
  warmupMinutes: warmupMin,
  samples: samples.length,
  rssAfterWarmupMb: after[0]?.rss,
  rssEndMb: samples.at(-1)?.rss,
  rssPeakMb: Math.max(...samples.map((s) => s.rss ?? 0)),
  rssSlopeMbPer10Min: Number(rssSlope.toFixed(2)),
  fdsAfterWarmup: after[0]?.fds,
  fdsEnd: samples.at(-1)?.fds,
  fdSlopePer10Min: Number(fdSlope.toFixed(2)),
  stableRequests: wrkReqs,
  stableNon2xx: non2xx,
  stableSocketErrors: sock === null ? 'none' : sock[0],
  injected: stats,
  failedWithoutInjectedFault: unexplained,
}
console.log(JSON.stringify(summary, null, 2))
const flat = Math.abs(rssSlope) < 1 && Math.abs(fdSlope) < 1
console.log(flat && unexplained === 0 ? 'soak-mixed: PASS' : 'soak-mixed: FAIL')
cleanup()
process.exit(flat && unexplained === 0 ? 0 : 1)
