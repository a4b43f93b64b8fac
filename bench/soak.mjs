// Memory over a long run: bfe-ts (bench configuration, mod_bench) on CPU 1 under wrk -c50 on CPU 0
// for --duration seconds, with its RSS read from /proc every --every seconds.
//
//   npm run build && node bench/soak.mjs [--duration 300] [--every 10] [--path /] [--json FILE]
//
// It prints one line per sample and a summary: RSS after the first minute (the warm-up: JIT,
// connection pools, heap growth), at the end, the peak, and the least-squares slope of the samples
// after the first minute. A flat run has a slope near 0 MB/min; a leak shows up as a steady climb.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { rssMb, sleep, startOriginAndBfe } from './lib/harness.mjs'

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '300' },
    every: { type: 'string', default: '10' },
    path: { type: 'string', default: '/' },
    connections: { type: 'string', default: '50' },
    json: { type: 'string' },
  },
})
const duration = Number(opt.duration)
const every = Number(opt.every)

const h = await startOriginAndBfe({ basePort: 19400 })
const samples = []
let wrkOut = ''
try {
  const wrk = spawn(
    'taskset',
    [
      '-c',
      '0',
      'wrk',
      '-t1',
      `-c${opt.connections}`,
      `-d${duration}s`,
      '--latency',
      `${h.url}${opt.path}`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  wrk.stdout.setEncoding('utf8')
  wrk.stdout.on('data', (d) => {
    wrkOut += d
  })
  const done = new Promise((r) => wrk.once('exit', r))
  const t0 = Date.now()
  process.stdout.write(`bfe-ts pid ${h.bfe.pid}, wrk -c${opt.connections} for ${duration} s\n`)
  process.stdout.write('     s   RSS MB\n')
  for (;;) {
    const rss = rssMb(h.bfe.pid)
    const s = Math.round((Date.now() - t0) / 1000)
    if (rss !== undefined) {
      samples.push({ s, rss })
      process.stdout.write(`${String(s).padStart(6)}   ${rss.toFixed(1).padStart(6)}\n`)
    }
    const stop = await Promise.race([done.then(() => true), sleep(every * 1000).then(() => false)])
    if (stop) break
  }
} finally {
  await h.stop()
}

const rps = /Requests\/sec:\s+([\d.]+)/.exec(wrkOut)?.[1]
const p99 = /\s99%\s+(\S+)/.exec(wrkOut)?.[1]
const errors = /Non-2xx[^\n]*|Socket errors[^\n]*/g
const warm = samples.filter((x) => x.s >= 60)
const first = warm[0] ?? samples[0]
const last = samples[samples.length - 1]
// Least-squares slope over the samples after the first minute, in MB per minute.
const fit = warm.length >= 2 ? warm : samples
const mx = fit.reduce((a, x) => a + x.s, 0) / fit.length
const my = fit.reduce((a, x) => a + x.rss, 0) / fit.length
const sxx = fit.reduce((a, x) => a + (x.s - mx) ** 2, 0)
const sxy = fit.reduce((a, x) => a + (x.s - mx) * (x.rss - my), 0)
const slope = sxx > 0 ? (60 * sxy) / sxx : 0
const peak = Math.max(...samples.map((x) => x.rss))
const summary = {
  duration,
  connections: Number(opt.connections),
  reqPerSec: rps === undefined ? undefined : Number(rps),
  p99,
  rssAt60s: first.rss,
  rssEnd: last.rss,
  rssPeak: peak,
  slopeMbPerMin: slope,
  wrkErrors: wrkOut.match(errors) ?? [],
  samples,
}
process.stdout.write(
  `\nreq/s ${rps ?? '?'}, p99 ${p99 ?? '?'}; RSS ${first.rss.toFixed(1)} MB at ${first.s} s, ` +
    `${last.rss.toFixed(1)} MB at ${last.s} s (peak ${peak.toFixed(1)} MB): ` +
    `${slope >= 0 ? '+' : ''}${slope.toFixed(2)} MB/min after the first minute (least squares)\n`,
)
if (summary.wrkErrors.length > 0) process.stdout.write(`wrk: ${summary.wrkErrors.join('; ')}\n`)
if (opt.json !== undefined) writeFileSync(opt.json, `${JSON.stringify(summary, null, 2)}\n`)
