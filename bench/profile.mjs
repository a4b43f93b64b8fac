// Profiles bfe-ts under load: an nginx origin on CPU 0, bfe-ts (bench configuration, mod_bench)
// under `node --cpu-prof` on CPU 1, wrk on CPU 0. Prints where the balancer's CPU time goes.
//
//   npm run build && node bench/profile.mjs [--duration 10] [--path /] [--top 40] [--keep DIR]
//   node bench/profile.mjs --summarize FILE.cpuprofile     (only the summary of an existing profile)
//
// The summary groups self time by where the code lives (bfe-ts, undici, node:http, node:net and
// streams, GC, idle ...) and lists the functions with the most self and inclusive time.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startOriginAndBfe } from './lib/harness.mjs'

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

const profDir = join(tmpdir(), `bfe-prof-${process.pid}`)
const h = await startOriginAndBfe({
  basePort: 19200,
  modules: opt.modules === '' ? [] : opt.modules.split(','),
  nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profDir],
})
try {
  const url = `${h.url}${opt.path}`
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
  // SIGTERM ends bfe-ts with process.exit(), which writes the profile.
  const exited = new Promise((r) => h.bfe.once('exit', r))
  h.bfe.kill('SIGTERM')
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
  await h.stop()
  rmSync(profDir, { recursive: true, force: true })
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
  // Each sample charged to the innermost frame that belongs to a library we can name, so the time
  // of a native call (a socket write, a Buffer conversion) goes to the code that made it.
  const owner = (u) =>
    u.includes('/undici/')
      ? 'undici'
      : u.includes('/dist/')
        ? 'bfe-ts'
        : /node:_http_server|node:_http_incoming|node:_http_common/.test(u)
          ? 'node:http server side (parser, IncomingMessage)'
          : /node:_http_outgoing/.test(u)
            ? 'node:http ServerResponse'
            : undefined
  const byOwner = new Map()
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0
    const leaf = nodes.get(prof.samples[i]).callFrame.functionName
    let o = ['(idle)', '(garbage collector)', '(program)'].includes(leaf) ? leaf : undefined
    for (let id = prof.samples[i]; id !== undefined && o === undefined; id = parent.get(id))
      o = owner(nodes.get(id).callFrame.url)
    o ??= 'other (events, timers, streams outside the above)'
    if (leaf === 'writev' || leaf === 'writeLatin1String' || leaf === 'writeUtf8String')
      o += ', in the socket write'
    byOwner.set(o, (byOwner.get(o) ?? 0) + dt)
  }
  const pct = (t) => `${((100 * t) / total).toFixed(1).padStart(5)} %`
  process.stdout.write(`\ntime by owner (innermost named caller)\n`)
  for (const [g, t] of [...byOwner].sort((a, b) => b[1] - a[1]))
    process.stdout.write(`  ${pct(t)}  ${g}\n`)
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
