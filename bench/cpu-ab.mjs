// CPU time per request of bfe-ts variants, side by side: an nginx origin and wrk on CPU 0, each
// variant in turn on CPU 1 (bench configuration), interleaved rounds. The balancer's user and
// system CPU time over the requests wrk completed holds up better than req/s on a shared machine,
// and shows where a change moves the cost (user or kernel). Prints each round and the medians.
//
//   npm run build && node bench/cpu-ab.mjs --variants FILE.mjs [--rounds 4] [--duration 6] [--path /]
//                                          [--close]   (wrk sends Connection: close: a connection per request)
//
// FILE.mjs exports `variants`, an array of
//   { name, modules: ['mod_bench', ...], patch?(confDir), dist?: '/other/checkout/dist',
//     flags?: ['--node-flag'], env?: { NAME: 'value' } }
// The first variant is the base of the ratios. `patch` may rewrite files of the written
// configuration (module data, bfe.conf) before the variant starts; `dist` runs another build.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { writeBfeConf } from './conf/bfe-conf.mjs'
import { ROOT, startNginxOrigin, waitPort } from './lib/harness.mjs'

const { values: opt } = parseArgs({
  options: {
    variants: { type: 'string' },
    rounds: { type: 'string', default: '4' },
    duration: { type: 'string', default: '6' },
    path: { type: 'string', default: '/' },
    close: { type: 'boolean', default: false },
  },
})
if (opt.variants === undefined) {
  process.stderr.write('usage: node bench/cpu-ab.mjs --variants FILE.mjs [--rounds N]\n')
  process.exit(2)
}
const { variants } = await import(pathToFileURL(resolve(opt.variants)).href)
const rounds = Number(opt.rounds)
const duration = Number(opt.duration)

/** utime and stime of a process, in clock ticks (1/100 s). */
function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return [Number(f[11]), Number(f[12])]
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
const tmp = mkdtempSync(join(tmpdir(), 'cpu-ab-'))
const originPorts = [19601, 19602, 19603, 19604]
const port = 19610
writeFileSync(join(tmp, '64k'), Buffer.alloc(65536, 'x'))
const origin = startNginxOrigin(tmp, {
  ports: originPorts,
  http: 'sendfile on;',
  locations: `location = /64k { root ${tmp}; } location / { return 200 "${'0123456789'.repeat(10)}"; }`,
  start: (cmd, args) =>
    spawn('taskset', ['-c', '0', cmd, ...args], { stdio: ['ignore', 'ignore', 'inherit'] }),
})
const results = new Map()
try {
  for (const p of originPorts) await waitPort(p)
  for (let r = 0; r < rounds; r++)
    for (const v of variants) {
      const conf = writeBfeConf(join(tmp, `bfe-${v.name}`), {
        httpPort: port,
        httpsPort: port + 1000,
        monitorPort: port + 2000,
        modules: v.modules,
        originPorts,
      })
      if (v.patch !== undefined) v.patch(conf)
      const script = join(v.dist ?? join(ROOT, 'dist'), 'bench/bfe-bench.js')
      const bfe = spawn(
        'taskset',
        [
          '-c',
          '1',
          process.execPath,
          ...(v.flags ?? []),
          script,
          '-c',
          conf,
          '-l',
          join(conf, 'log'),
        ],
        { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...(v.env ?? {}) } },
      )
      await waitPort(port)
      const url = `http://127.0.0.1:${port}${opt.path}`
      execFileSync('taskset', ['-c', '0', 'wrk', '-t1', '-c50', '-d2s', url], { stdio: 'ignore' })
      const a = cpuTicks(bfe.pid)
      const out = execFileSync(
        'taskset',
        [
          '-c',
          '0',
          'wrk',
          '-t1',
          '-c50',
          ...(opt.close ? ['-H', 'Connection: close'] : []),
          `-d${duration}s`,
          '--latency',
          url,
        ],
        { encoding: 'utf8' },
      )
      const b = cpuTicks(bfe.pid)
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
      const n = rps * duration
      // ticks are 10 ms: µs per request = ticks * 10_000 / requests
      const user = ((b[0] - a[0]) * 1e4) / n
      const total = ((b[0] - a[0] + b[1] - a[1]) * 1e4) / n
      const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '?'
      const row = { rps, user, total }
      results.set(v.name, [...(results.get(v.name) ?? []), row])
      process.stdout.write(
        `r${r + 1} ${v.name.padEnd(20)} ${rps.toFixed(0).padStart(7)} req/s  ${total.toFixed(2)} µs/req (user ${user.toFixed(2)})  p99 ${p99}\n`,
      )
      const exited = new Promise((r2) => bfe.once('exit', r2))
      bfe.kill('SIGTERM')
      await exited
    }
} finally {
  origin.kill('SIGKILL')
  rmSync(tmp, { recursive: true, force: true })
}
const baseRps = median(results.get(variants[0].name).map((x) => x.rps))
process.stdout.write('\nmedians\n')
for (const v of variants) {
  const rows = results.get(v.name)
  const rps = median(rows.map((x) => x.rps))
  process.stdout.write(
    `${v.name.padEnd(20)} ${rps.toFixed(0).padStart(7)} req/s  ${median(rows.map((x) => x.total)).toFixed(2)} µs/req (user ${median(rows.map((x) => x.user)).toFixed(2)})  ratio ${(rps / baseRps).toFixed(3)}\n`,
  )
}
