// Profiles bfe-ts under load: an nginx origin on CPU 0, bfe-ts (bench configuration, mod_bench)
// under `node --cpu-prof` on CPU 1, wrk on CPU 0. Prints where the balancer's CPU time goes.
//
//   npm run build && node bench/profile.mjs [--duration 10] [--path /] [--top 40] [--keep DIR]
//   node bench/profile.mjs --summarize FILE.cpuprofile     (only the summary of an existing profile)
//
// The summary groups self time by where the code lives (bfe-ts, undici, node:http, node:net and
// streams, GC, idle ...) and lists the functions with the most self and inclusive time.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { writeBfeConf } from './conf/bfe-conf.mjs'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))
const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    path: { type: 'string', default: '/' },
    top: { type: 'string', default: '40' },
    keep: { type: 'string' },
    summarize: { type: 'string' },
    modules: { type: 'string', default: 'mod_bench' },
  },
})

if (opt.summarize !== undefined) {
  summarize(JSON.parse(readFileSync(opt.summarize, 'utf8')), Number(opt.top))
  process.exit(0)
}

const ORIGIN_PORTS = [19201, 19202, 19203, 19204]
const BFE_PORT = 19210
const tmp = mkdtempSync(join(tmpdir(), 'bfe-prof-'))
const children = []
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function start(cpu, cmd, args) {
  const child = spawn('taskset', ['-c', cpu, cmd, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  children.push(child)
  return child
}

async function waitPort(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((res) => {
      const s = connect(port, '127.0.0.1')
      s.on('connect', () => {
        s.destroy()
        res(true)
      })
      s.on('error', () => res(false))
    })
    if (ok) return
    await sleep(100)
  }
  throw new Error(`port ${port} never opened`)
}

try {
  mkdirSync(join(tmp, 'tmp'), { recursive: true })
  writeFileSync(join(tmp, '64k'), Buffer.alloc(65536, 'x'))
  writeFileSync(
    join(tmp, 'origin.conf'),
    `daemon off; master_process off; pid ${tmp}/origin.pid; error_log ${tmp}/origin-error.log warn;
events { worker_connections 8192; }
http { access_log off; client_body_temp_path ${tmp}/tmp/b; proxy_temp_path ${tmp}/tmp/p;
  fastcgi_temp_path ${tmp}/tmp/f; uwsgi_temp_path ${tmp}/tmp/u; scgi_temp_path ${tmp}/tmp/s;
  keepalive_requests 100000000; sendfile on;
  server { ${ORIGIN_PORTS.map((p) => `listen 127.0.0.1:${p};`).join(' ')}
    location = /64k { root ${tmp}; } location / { return 200 "${'0123456789'.repeat(10)}"; } } }
`,
  )
  start('0', 'nginx', ['-e', `${tmp}/origin-error.log`, '-p', tmp, '-c', `${tmp}/origin.conf`])
  for (const p of ORIGIN_PORTS) await waitPort(p)

  const conf = writeBfeConf(join(tmp, 'bfe'), {
    httpPort: BFE_PORT,
    httpsPort: BFE_PORT + 1000,
    monitorPort: BFE_PORT + 2000,
    modules: opt.modules === '' ? [] : opt.modules.split(','),
    originPorts: ORIGIN_PORTS,
  })
  const profDir = join(tmp, 'prof')
  const bfe = start('1', process.execPath, [
    '--cpu-prof',
    '--cpu-prof-dir',
    profDir,
    join(root, 'dist/bench/bfe-bench.js'),
    '-c',
    conf,
    '-l',
    join(conf, 'log'),
  ])
  await waitPort(BFE_PORT)
  const url = `http://127.0.0.1:${BFE_PORT}${opt.path}`
  execFileSync('taskset', ['-c', '0', 'wrk', '-t1', '-c50', '-d3s', url], { stdio: 'ignore' })
  const out = execFileSync(
    'taskset',
    ['-c', '0', 'wrk', '-t1', '-c50', `-d${opt.duration}s`, '--latency', url],
    { encoding: 'utf8' },
  )
  process.stdout.write(
    out
      .split('\n')
      .filter((l) => /Requests\/sec|99%|50%/.test(l))
      .join('\n'),
  )
  process.stdout.write('\n')
  const exited = new Promise((r) => bfe.once('exit', r))
  bfe.kill('SIGTERM')
  await exited
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error('no profile written')
  const path = join(profDir, file)
  if (opt.keep !== undefined) {
    mkdirSync(opt.keep, { recursive: true })
    writeFileSync(join(opt.keep, file), readFileSync(path))
    process.stdout.write(`profile: ${join(opt.keep, file)}\n`)
  }
  summarize(JSON.parse(readFileSync(path, 'utf8')), Number(opt.top))
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  rmSync(tmp, { recursive: true, force: true })
}

/** Self-time summary of a V8 .cpuprofile. */
function summarize(prof, top) {
  const nodes = new Map()
  for (const n of prof.nodes) nodes.set(n.id, n)
  const parent = new Map()
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map()
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]
    const dt = prof.timeDeltas[i] ?? 0
    self.set(id, (self.get(id) ?? 0) + dt)
  }
  let total = 0
  for (const v of self.values()) total += v
  const group = (n) => {
    const f = n.callFrame
    const u = f.url
    if (f.functionName === '(idle)') return 'idle (epoll wait)'
    if (f.functionName === '(garbage collector)') return 'GC'
    if (f.functionName === '(program)') return 'V8/native (program)'
    if (u.includes('/undici/')) return 'undici'
    if (u.includes('/dist/src/') || u.includes('/dist/bench/')) return 'bfe-ts'
    if (/node:_http|node:http/.test(u)) return 'node:http'
    if (/node:net|node:internal\/stream_base|node:stream|node:internal\/streams/.test(u))
      return 'node:net + streams'
    if (u === '' && f.functionName !== '') return `native: ${f.functionName}`
    if (u.startsWith('node:')) return 'node: other'
    return 'other'
  }
  const byGroup = new Map()
  const byFn = new Map()
  for (const [id, t] of self) {
    const n = nodes.get(id)
    const g = group(n)
    byGroup.set(g, (byGroup.get(g) ?? 0) + t)
    const f = n.callFrame
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist)\//, '')}:${f.lineNumber + 1}`
    byFn.set(key, (byFn.get(key) ?? 0) + t)
  }
  // inclusive time per function key (counted once per sample stack)
  const incl = new Map()
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0
    const seen = new Set()
    for (let id = prof.samples[i]; id !== undefined; id = parent.get(id)) {
      const f = nodes.get(id).callFrame
      const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist)\//, '')}:${f.lineNumber + 1}`
      if (seen.has(key)) continue
      seen.add(key)
      incl.set(key, (incl.get(key) ?? 0) + dt)
    }
  }
  const pct = (t) => `${((100 * t) / total).toFixed(1).padStart(5)} %`
  process.stdout.write(`\nself time by group (total ${(total / 1e6).toFixed(1)} s sampled)\n`)
  for (const [g, t] of [...byGroup].sort((a, b) => b[1] - a[1])) {
    if (t / total < 0.002) continue
    process.stdout.write(`  ${pct(t)}  ${g}\n`)
  }
  process.stdout.write(`\ntop ${top} functions by self time\n`)
  for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`  ${pct(t)}  ${k}\n`)
  process.stdout.write(`\ntop ${top} bfe-ts functions by inclusive time\n`)
  for (const [k, t] of [...incl]
    .filter(([k]) => k.includes(' src/') || k.includes(' bench/'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top))
    process.stdout.write(`  ${pct(t)}  ${k}\n`)
}
