#!/usr/bin/env node
// bench/run.mjs — end-to-end proxy benchmark (`npm run bench`).
//
// Starts an nginx origin (100-byte and 64 KB bodies, keep-alive, 4 ports) and, in front of it,
// bfe-ts, nginx, node-http-proxy and bare undici proxies; drives each with wrk (HTTP/1.1, plain
// and over TLS) or h2load (HTTP/2 over TLS) in interleaved rounds (A B C D, A B C D, ...) and
// prints one markdown table per scenario: median req/s, spread, p50/p99, ratio to nginx, proxy
// CPU and RSS. Raw data goes to bench/results/<timestamp>.json.
// Method: docs/performance.md. Everything started here is stopped at the end, also on Ctrl-C.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { BENCH_MODULES, writeBfeConf, writeTlsConf } from './conf/bfe-conf.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = dirname(HERE)

const USAGE = `usage: node bench/run.mjs [options]        (npm run bench -- [options])
  --rounds N            interleaved rounds per scenario                 (default 3)
  --duration S          seconds per wrk run                             (default 10)
  --warmup S            wrk warm-up per target and scenario             (default 3)
  --connections C       wrk connections                                 (default 50)
  --threads T           wrk threads                                     (default 1)
  --only a,b            targets: bfe-ts,nginx,tcp-relay,http-proxy,undici,undici-dispatch,
                        node-h2
                        (+ direct = origin, no proxy)
  --scenario a,b        scenarios: small,64k,close,https,h2,browser (+ workers)
                        (default all but workers)
  --h2-streams N        h2load streams per connection in scenario h2    (default 10)
  --workers             also run "workers": bfe-ts MaxCpus=2 vs nginx 2 workers, unpinned
  --bfe-modules a,b     write "Modules = a" lines into the bench bfe.conf (default mod_bench;
                        "" for none)
  --bfe-node-flags=F    extra node flags for bfe-ts, e.g. --bfe-node-flags=--max-semi-space-size=32
  --bfe-mods a,b        adds target bfe-mods: this build with these modules enabled as well (their
                        one-rule confs from bench/conf/bfe-conf.mjs; "bench" = the issue-11 set)
  --bfe-before DIR      adds target bfe-before: the same bench with DIR/dist (another checkout,
                        built), for a before/after comparison inside one run
  --base-port N         proxies on N+1.., origin on N-99..N-96          (default 19100)
  --quiet-pct P         before a run, wait (max 30 s) until other processes use < P % of a core
                        (default 25); a run during which they used more than 2P % is redone once
  --no-pin              do not use taskset
  --no-install          do not apt-get install nginx/wrk when missing
  --out FILE            JSON output (default bench/results/<timestamp>.json)
  -h, --help`

// ------------------------------------------------------------------ options
let opts
try {
  opts = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      threads: { type: 'string', default: '1' },
      'h2-streams': { type: 'string', default: '10' },
      only: { type: 'string', default: '' },
      scenario: { type: 'string', default: '' },
      workers: { type: 'boolean', default: false },
      'bfe-modules': { type: 'string', default: 'mod_bench' },
      'bfe-node-flags': { type: 'string', default: '' },
      'bfe-before': { type: 'string', default: '' },
      'bfe-mods': { type: 'string', default: '' },
      'base-port': { type: 'string', default: '19100' },
      'quiet-pct': { type: 'string', default: '25' },
      'no-pin': { type: 'boolean', default: false },
      'no-install': { type: 'boolean', default: false },
      out: { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values
} catch (err) {
  console.error(`${err instanceof Error ? err.message : err}\n${USAGE}`)
  process.exit(2)
}
if (opts.help) {
  console.log(USAGE)
  process.exit(0)
}
const int = (name, min) => {
  const v = Number(opts[name])
  if (!Number.isInteger(v) || v < min) {
    console.error(`--${name} must be an integer >= ${min}`)
    process.exit(2)
  }
  return v
}
const ROUNDS = int('rounds', 1)
const DURATION = int('duration', 1)
const WARMUP = int('warmup', 0)
const CONNS = int('connections', 1)
const THREADS = int('threads', 1)
const H2_STREAMS = int('h2-streams', 1)
const BASE = int('base-port', 1200)
const QUIET_PCT = int('quiet-pct', 0)
const list = (s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)

const ALL_TARGETS = [
  'bfe-ts',
  'bfe-mods',
  'bfe-before',
  'nginx',
  'http-proxy',
  'undici',
  'undici-dispatch',
  'node-h2',
  'tcp-relay',
  'direct',
]
const DEFAULT_TARGETS = [
  'bfe-ts',
  'nginx',
  'tcp-relay',
  'http-proxy',
  'undici',
  'undici-dispatch',
  'node-h2',
]
const TARGETS = opts.only ? list(opts.only) : DEFAULT_TARGETS
if (opts['bfe-before'] !== '' && !TARGETS.includes('bfe-before')) TARGETS.splice(1, 0, 'bfe-before')
if (opts['bfe-mods'] !== '' && !TARGETS.includes('bfe-mods')) TARGETS.splice(1, 0, 'bfe-mods')
for (const t of TARGETS) {
  if (!ALL_TARGETS.includes(t)) {
    console.error(`unknown target ${t} (known: ${ALL_TARGETS.join(', ')})`)
    process.exit(2)
  }
}
const SCENARIOS = {
  small: { path: '/', headers: [], bytes: 100, title: '100-byte response, keep-alive' },
  '64k': { path: '/64k', headers: [], bytes: 65536, title: '64 KB response, keep-alive' },
  browser: {
    path: '/',
    // what a browser sends for a page (12 fields with Host), none matching the advanced rules
    headers: [
      'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
      'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
      'Accept-Language: en-US,en;q=0.5',
      'Accept-Encoding: gzip, deflate, br',
      'Referer: http://127.0.0.1/start',
      'Cookie: uid=1234567; session=abcdef0123456789; theme=dark',
      'Upgrade-Insecure-Requests: 1',
      'Sec-Fetch-Dest: document',
      'Sec-Fetch-Mode: navigate',
      'Sec-Fetch-Site: same-origin',
      'Priority: u=0, i',
    ],
    bytes: 100,
    title: '100-byte response, keep-alive, a browser-like request head (12 fields)',
  },
  close: {
    path: '/',
    headers: ['Connection: close'],
    bytes: 100,
    title: '100-byte response, new connection per request (Connection: close)',
  },
  https: {
    path: '/',
    headers: [],
    bytes: 100,
    tls: true,
    title: 'HTTPS (TLS 1.3, ECDSA P-256), HTTP/1.1 keep-alive, 100-byte response (wrk)',
  },
  h2: {
    path: '/',
    headers: [],
    bytes: 100,
    tls: true,
    tool: 'h2load',
    title: `HTTP/2 over TLS, ${H2_STREAMS} streams per connection, 100-byte response (h2load; the p50 column is h2load's mean)`,
  },
  workers: {
    path: '/',
    headers: [],
    bytes: 100,
    title:
      '100-byte response, keep-alive, 2 proxy workers (bfe-ts MaxCpus = 2, nginx 2 workers), unpinned proxy',
  },
}
const scenarioNames = opts.scenario ? list(opts.scenario) : ['small', '64k', 'close', 'https', 'h2']
if (opts.workers && !scenarioNames.includes('workers')) scenarioNames.push('workers')
for (const s of scenarioNames) {
  if (!(s in SCENARIOS)) {
    console.error(`unknown scenario ${s} (known: ${Object.keys(SCENARIOS).join(', ')})`)
    process.exit(2)
  }
}
const BFE_MODULES = list(opts['bfe-modules'])
/** Target bfe-mods: the modules enabled on top of BFE_MODULES. */
const BFE_MODS = opts['bfe-mods'] === 'bench' ? BENCH_MODULES : list(opts['bfe-mods'])

const NCPU = cpus().length
const PIN = !opts['no-pin'] && NCPU >= 2
const LOAD_CPU = '0'
const ORIGIN_CPU = '0'
const PROXY_CPU = '1'
const PROXY_CPUS_WORKERS = `0-${NCPU - 1}`
const CLK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

const ORIGIN_PORTS = [BASE - 99, BASE - 98, BASE - 97, BASE - 96]
const PORTS = {
  nginx: BASE + 1,
  'http-proxy': BASE + 2,
  undici: BASE + 3,
  'bfe-ts': BASE + 4,
  'bfe-before': BASE + 5,
  'undici-dispatch': BASE + 6,
  'node-h2': BASE + 7,
  'tcp-relay': BASE + 8,
  'bfe-mods': BASE + 9,
}
/** The TLS port of a target (HTTPS and HTTP/2 scenarios), for those that have one. */
const TLS_OFFSET = 1000
const TLS_TARGETS = new Set(['bfe-ts', 'bfe-mods', 'bfe-before', 'nginx', 'node-h2'])
const PORTS_W2 = { nginx: BASE + 11, 'bfe-ts': BASE + 14 }
// bfe-ts with the bench's five-filter module available (bench/bfe-bench.ts); enabled by default.
const BFE_MAIN = join(ROOT, 'dist/bench/bfe-bench.js')
const BFE_NODE_FLAGS = list(opts['bfe-node-flags'].replaceAll(' ', ','))

const log = (msg) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ------------------------------------------------------------------ process bookkeeping
/** @type {Map<number, string>} pid (= process group id) -> name */
const started = new Map()
let tmp = ''
/** Set on SIGINT/SIGTERM: no more runs, no more output. */
let stopping = false

function killGroup(pid, sig) {
  try {
    process.kill(-pid, sig)
  } catch {
    // already gone
  }
}
function groupAlive(pid) {
  try {
    process.kill(-pid, 0)
    return true
  } catch {
    return false
  }
}
async function stop(pid) {
  killGroup(pid, 'SIGTERM')
  for (let i = 0; i < 30 && groupAlive(pid); i++) await sleep(100)
  if (groupAlive(pid)) killGroup(pid, 'SIGKILL')
  started.delete(pid)
}
function cleanupSync() {
  for (const pid of started.keys()) killGroup(pid, 'SIGKILL')
  started.clear()
  if (tmp) rmSync(tmp, { recursive: true, force: true })
  tmp = ''
}
async function cleanup() {
  await Promise.all([...started.keys()].map((pid) => stop(pid)))
  cleanupSync()
}
process.on('exit', cleanupSync)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (stopping) return
    stopping = true
    log(`${sig}: stopping everything`)
    cleanup().finally(() => process.exit(130))
  })
}

/** Spawns a command in its own process group (so it and its children can be killed together). */
function launch(name, cpu, cmd, args, { env = {}, logFile } = {}) {
  const argv = PIN && cpu ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args]
  const out = logFile ? openSync(logFile, 'w') : 'ignore'
  const child = spawn(argv[0], argv[1], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, ...env },
    cwd: ROOT,
  })
  if (typeof out === 'number') closeSync(out)
  child.on('error', (err) => log(`${name}: ${err.message}`))
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`)
  started.set(child.pid, name)
  return child
}

// ------------------------------------------------------------------ /proc sampling
function readStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ') // f[0] = field 3 (state)
    return {
      ppid: Number(f[1]),
      pgrp: Number(f[2]),
      utime: Number(f[11]),
      stime: Number(f[12]),
      cutime: Number(f[13]),
      cstime: Number(f[14]),
    }
  } catch {
    return undefined
  }
}
/** All live pids whose process group is `pgid`. */
function groupPids(pgid) {
  const out = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    const st = readStat(Number(e))
    if (st && st.pgrp === pgid) out.push(Number(e))
  }
  return out
}
function cpuTicks(pids) {
  let t = 0
  for (const p of pids) {
    const st = readStat(p)
    if (st) t += st.utime + st.stime
  }
  return t
}
function rssMb(pids) {
  let kb = 0
  for (const p of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))
      if (m) kb += Number(m[1])
    } catch {
      // exited
    }
  }
  return kb / 1024
}
/** user+nice+system ticks of all CPUs. */
function systemTicks() {
  let t = 0
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    if (!/^cpu\d/.test(line)) continue
    const f = line.split(/\s+/)
    t += Number(f[1]) + Number(f[2]) + Number(f[3])
  }
  return t
}
/** CPU ticks used by us: this process, its reaped children (wrk) and everything we started. */
function ourTicks() {
  let t = 0
  const self = readStat(process.pid)
  if (self) t += self.utime + self.stime + self.cutime + self.cstime
  for (const pgid of started.keys()) {
    for (const p of groupPids(pgid)) {
      const st = readStat(p)
      if (st) t += st.utime + st.stime + st.cutime + st.cstime
    }
  }
  return t
}
async function foreignPct(ms) {
  const f0 = systemTicks()
  const o0 = ourTicks()
  await sleep(ms)
  return Math.max(0, (100 * (systemTicks() - f0 - (ourTicks() - o0))) / CLK / (ms / 1000))
}
async function waitQuiet() {
  if (QUIET_PCT <= 0) return
  for (let waited = 0; waited < 30; waited++) {
    const pct = await foreignPct(1000)
    if (pct < QUIET_PCT) return
    if (waited === 0)
      log(`  waiting for other processes to calm down (${pct.toFixed(0)}% of a core)`)
  }
  log('  machine still busy after 30 s; running anyway')
}

// ------------------------------------------------------------------ tools
function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0
}
function ensureTools() {
  const missing = ['nginx', 'wrk', 'h2load'].filter((b) => !have(b))
  if (missing.length === 0) return
  if (opts['no-install']) throw new Error(`missing ${missing.join(', ')} (--no-install given)`)
  const pkgs = []
  if (missing.includes('nginx')) {
    const light = spawnSync('apt-cache', ['show', 'nginx-light'], { stdio: 'ignore' }).status === 0
    pkgs.push(light ? 'nginx-light' : 'nginx')
  }
  if (missing.includes('wrk')) pkgs.push('wrk')
  if (missing.includes('h2load')) pkgs.push('nghttp2-client')
  log(`installing ${pkgs.join(' ')} (apt-get)`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const run = (args) => {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env })
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${r.status})`)
  }
  run(['update', '-qq'])
  run(['install', '-y', '-qq', '--no-install-recommends', ...pkgs])
  const still = ['nginx', 'wrk', 'h2load'].filter((b) => !have(b))
  if (still.length) throw new Error(`still missing after install: ${still.join(', ')}`)
}
function versionOf(cmd, args, re) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  const m = re.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)
  return m ? m[1] : '?'
}
function pkgVersion(name) {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8'))
      .version
  } catch {
    return '?'
  }
}

// ------------------------------------------------------------------ networking helpers
function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}
function probe(port, path, headers = {}, tls = false) {
  return new Promise((resolve) => {
    const req = (tls ? https : http).get(
      {
        host: '127.0.0.1',
        port,
        path,
        agent: false,
        headers,
        timeout: 2000,
        rejectUnauthorized: false,
      },
      (res) => {
        let n = 0
        res.on('data', (c) => {
          n += c.length
        })
        res.on('end', () => resolve({ status: res.statusCode, bytes: n, headers: res.headers }))
        res.on('error', () => resolve(undefined))
      },
    )
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
  })
}
async function waitReady(name, pid, port, timeoutMs = 15_000, tls = false) {
  const end = Date.now() + timeoutMs
  let last
  while (Date.now() < end) {
    if (!groupAlive(pid)) throw new Error(`${name} exited during start-up`)
    last = await probe(port, '/', {}, tls)
    if (last && last.status === 200 && last.bytes === 100) return
    await sleep(100)
  }
  throw new Error(
    `${name} not ready on :${port} (last: ${last ? `${last.status} ${last.bytes} B` : 'no answer'})`,
  )
}

// ------------------------------------------------------------------ origin and proxies
const BODY100 = '0123456789'.repeat(10)

function nginxCommon(name) {
  return `daemon off;
master_process on;
pid ${tmp}/${name}.pid;
error_log ${tmp}/${name}-error.log warn;
events { worker_connections 8192; multi_accept on; }`
}
function nginxHttpCommon(name) {
  return `access_log off;
    client_body_temp_path ${tmp}/tmp/${name}-body;
    proxy_temp_path ${tmp}/tmp/${name}-proxy;
    fastcgi_temp_path ${tmp}/tmp/${name}-fastcgi;
    uwsgi_temp_path ${tmp}/tmp/${name}-uwsgi;
    scgi_temp_path ${tmp}/tmp/${name}-scgi;
    keepalive_timeout 300s;
    keepalive_requests 100000000;`
}

async function startOrigin() {
  mkdirSync(join(tmp, 'www'), { recursive: true })
  writeFileSync(join(tmp, 'www/64k'), Buffer.alloc(65536, 'x'))
  chmodSync(join(tmp, 'www/64k'), 0o644)
  const listens = ORIGIN_PORTS.map((p) => `listen 127.0.0.1:${p} reuseport backlog=4096;`).join(
    '\n        ',
  )
  const conf = `${nginxCommon('origin')}
worker_processes 1;
http {
    ${nginxHttpCommon('origin')}
    sendfile on;
    server {
        ${listens}
        default_type text/plain;
        location = /64k { root ${tmp}/www; }
        location / { return 200 "${BODY100}"; }
    }
}
`
  writeFileSync(join(tmp, 'origin.conf'), conf)
  const child = launch(
    'origin',
    ORIGIN_CPU,
    'nginx',
    ['-e', `${tmp}/origin-error.log`, '-p', tmp, '-c', `${tmp}/origin.conf`],
    {
      logFile: join(tmp, 'origin.log'),
    },
  )
  for (const p of ORIGIN_PORTS) await waitReady('origin', child.pid, p)
  const big = await probe(ORIGIN_PORTS[0], '/64k')
  if (big?.status !== 200 || big.bytes !== 65536) {
    throw new Error(`origin /64k answered ${big ? `${big.status} ${big.bytes} B` : 'nothing'}`)
  }
  log(
    `origin: nginx pid ${child.pid} on 127.0.0.1:${ORIGIN_PORTS.join(',')}${PIN ? ` (cpu ${ORIGIN_CPU})` : ''}`,
  )
  return child.pid
}

/** @returns {{ pid: number, port: number, cpu: string } | undefined} */
async function startTarget(name, workers) {
  const port = workers > 1 ? PORTS_W2[name] : PORTS[name]
  const cpu = workers > 1 ? PROXY_CPUS_WORKERS : PROXY_CPU
  if (name === 'direct') return { pid: originPid, port: ORIGIN_PORTS[0], cpu: ORIGIN_CPU }
  if (!(await portFree(port))) {
    log(`port ${port} busy, skipping ${name}`)
    return undefined
  }
  const logFile = join(tmp, `${name}-w${workers}.log`)
  let child
  if (name === 'nginx') {
    const servers = ORIGIN_PORTS.map((p) => `server 127.0.0.1:${p};`).join(' ')
    const conf = `${nginxCommon(`nginx-w${workers}`)}
worker_processes ${workers};
http {
    ${nginxHttpCommon(`nginx-w${workers}`)}
    upstream origin {
        ${servers}
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:${port} backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:${port + TLS_OFFSET} ssl http2 backlog=4096;
        ssl_certificate ${benchCert().crt};
        ssl_certificate_key ${benchCert().key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`
    writeFileSync(join(tmp, `nginx-w${workers}.conf`), conf)
    child = launch(
      name,
      cpu,
      'nginx',
      [
        '-e',
        `${tmp}/nginx-w${workers}-error.log`,
        '-p',
        tmp,
        '-c',
        `${tmp}/nginx-w${workers}.conf`,
      ],
      { logFile },
    )
  } else if (name === 'node-h2') {
    const c = benchCert()
    child = launch(
      name,
      cpu,
      process.execPath,
      [
        join(HERE, 'targets', 'h2-undici-proxy.mjs'),
        String(port + TLS_OFFSET),
        `127.0.0.1:${ORIGIN_PORTS[0]}`,
        c.crt,
        c.key,
      ],
      { env: { NODE_ENV: 'production' }, logFile },
    )
  } else if (
    name === 'http-proxy' ||
    name === 'undici' ||
    name === 'undici-dispatch' ||
    name === 'tcp-relay'
  ) {
    const file = {
      'http-proxy': 'http-proxy.mjs',
      undici: 'undici-proxy.mjs',
      'undici-dispatch': 'undici-dispatch.mjs',
      'tcp-relay': 'tcp-relay.mjs',
    }[name]
    const script = join(HERE, 'targets', file)
    child = launch(
      name,
      cpu,
      process.execPath,
      [script, String(port), `127.0.0.1:${ORIGIN_PORTS[0]}`],
      {
        env: { NODE_ENV: 'production' },
        logFile,
      },
    )
  } else if (name === 'bfe-ts' || name === 'bfe-before' || name === 'bfe-mods') {
    const main =
      name === 'bfe-before'
        ? join(resolve(opts['bfe-before']), 'dist/bench/bfe-bench.js')
        : BFE_MAIN
    if (!existsSync(main)) {
      log(`${name}: ${main} does not exist (run npm run build there); skipping ${name}`)
      return undefined
    }
    const dir = writeBfeConf(join(tmp, `${name}-w${workers}`), {
      httpPort: port,
      httpsPort: port + TLS_OFFSET,
      monitorPort: port + 2000,
      maxCpus: workers,
      modules: name === 'bfe-mods' ? [...BFE_MODULES, ...BFE_MODS] : BFE_MODULES,
      originPorts: ORIGIN_PORTS,
    })
    const flags = name === 'bfe-before' ? [] : BFE_NODE_FLAGS
    child = launch(
      name,
      cpu,
      process.execPath,
      [...flags, main, '-c', dir, '-l', join(dir, 'log')],
      { env: { NODE_ENV: 'production' }, logFile },
    )
  } else {
    throw new Error(`unknown target ${name}`)
  }
  let tlsPort = TLS_TARGETS.has(name) && workers === 1 ? port + TLS_OFFSET : undefined
  try {
    if (name === 'node-h2') await waitReady(name, child.pid, port + TLS_OFFSET, 15_000, true)
    else await waitReady(name, child.pid, port)
    if (tlsPort !== undefined && name !== 'node-h2') {
      try {
        await waitReady(`${name} (TLS)`, child.pid, tlsPort, 3000, true)
      } catch {
        log(`${name}: no HTTPS on :${tlsPort}; it runs in the plain HTTP scenarios only`)
        tlsPort = undefined
      }
    }
  } catch (err) {
    log(`skipping ${name}: ${err instanceof Error ? err.message : err}; log ${logFile}:`)
    try {
      process.stderr.write(`${readFileSync(logFile, 'utf8').split('\n').slice(-8).join('\n')}\n`)
    } catch {
      // no log
    }
    await stop(child.pid)
    return undefined
  }
  log(
    `started ${name} (${workers} worker${workers > 1 ? 's' : ''}) pid ${child.pid} on 127.0.0.1:${port}${PIN ? ` (cpu ${cpu})` : ''}`,
  )
  return { pid: child.pid, port: name === 'node-h2' ? undefined : port, tlsPort, cpu }
}

/** The self-signed certificate nginx and node-h2 serve (bfe-ts makes its own in its conf). */
let certFiles
function benchCert() {
  if (certFiles === undefined) {
    const dir = join(tmp, 'tls')
    writeTlsConf(dir)
    certFiles = {
      crt: join(dir, 'tls_conf/certs/bench.crt'),
      key: join(dir, 'tls_conf/certs/bench.key'),
    }
  }
  return certFiles
}

// ------------------------------------------------------------------ wrk
const toMs = (v) => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim())
  if (!m) return Number.NaN
  const n = Number(m[1])
  return { us: n / 1000, ms: n, s: n * 1000, m: n * 60000 }[m[2]]
}
function parseWrk(text) {
  const r = {
    rps: Number.NaN,
    p50: Number.NaN,
    p99: Number.NaN,
    requests: Number.NaN,
    errors: 0,
    non2xx: 0,
    socketErrors: 0,
  }
  let m = /Requests\/sec:\s+([\d.]+)/.exec(text)
  if (m) r.rps = Number(m[1])
  m = /^\s+50%\s+(\S+)/m.exec(text)
  if (m) r.p50 = toMs(m[1])
  m = /^\s+99%\s+(\S+)/m.exec(text)
  if (m) r.p99 = toMs(m[1])
  m = /(\d+) requests in/.exec(text)
  if (m) r.requests = Number(m[1])
  m = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text)
  if (m) r.non2xx = Number(m[1])
  m = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  if (m) r.socketErrors = Number(m[1]) + Number(m[2]) + Number(m[3]) + Number(m[4])
  r.errors = r.non2xx + r.socketErrors
  return r
}
/** h2load's summary: req/s, mean request time (as p50), failures. */
function parseH2load(text) {
  const r = {
    rps: Number.NaN,
    p50: Number.NaN,
    p99: Number.NaN,
    requests: Number.NaN,
    errors: 0,
    non2xx: 0,
    socketErrors: 0,
  }
  let m = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(text)
  if (m) r.rps = Number(m[1])
  m = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(text)
  if (m) r.p50 = toMs(m[1])
  m =
    /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
      text,
    )
  if (m) {
    r.requests = Number(m[1])
    r.socketErrors = Number(m[3]) + Number(m[4])
  }
  m = /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text)
  if (m) r.non2xx = Number(m[1]) + Number(m[2]) + Number(m[3])
  r.errors = r.non2xx + r.socketErrors
  return r
}

/** The port a scenario uses on a target (its TLS port for TLS scenarios), or undefined. */
function portFor(t, scenario) {
  return scenario.tls ? t.tlsPort : t.port
}

function runWrk(port, scenario, seconds) {
  let tool = 'wrk'
  const args = []
  if (scenario.tool === 'h2load') {
    tool = 'h2load'
    const conns = Math.max(1, Math.round(CONNS / H2_STREAMS))
    args.push(`-t${THREADS}`, `-c${conns}`, `-m${H2_STREAMS}`, `-D${seconds}`)
    for (const h of scenario.headers) args.push('-H', h)
    args.push(`https://127.0.0.1:${port}${scenario.path}`)
  } else {
    args.push(`-t${THREADS}`, `-c${CONNS}`, `-d${seconds}s`, '--latency')
    for (const h of scenario.headers) args.push('-H', h)
    args.push(`${scenario.tls ? 'https' : 'http'}://127.0.0.1:${port}${scenario.path}`)
  }
  const argv = PIN ? ['taskset', ['-c', LOAD_CPU, tool, ...args]] : [tool, args]
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv[1], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    if (child.pid !== undefined) started.set(child.pid, 'wrk')
    let out = ''
    child.stdout.on('data', (c) => {
      out += c
    })
    child.stderr.on('data', (c) => {
      out += c
    })
    const timer = setTimeout(
      () => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'),
      (seconds + 20) * 1000,
    )
    child.on('error', (err) => {
      out += String(err)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      if (child.pid !== undefined) started.delete(child.pid)
      resolve({ code: code ?? -1, out })
    })
  })
}

/** One measured run: wrk against `t`, with the proxy's CPU and RSS sampled from /proc. */
async function measure(name, t, scenario) {
  let rec
  for (let attempt = 0; attempt < 2; attempt++) {
    await waitQuiet()
    const pids = groupPids(t.pid)
    const c0 = cpuTicks(pids)
    const f0 = systemTicks()
    const o0 = ourTicks()
    const w0 = performance.now()
    const { code, out } = await runWrk(portFor(t, scenario), scenario, DURATION)
    const wall = (performance.now() - w0) / 1000
    const after = groupPids(t.pid)
    const cpuPct = (100 * (cpuTicks(after) - c0)) / CLK / wall
    const foreign = Math.max(0, (100 * (systemTicks() - f0 - (ourTicks() - o0))) / CLK / wall)
    const r = scenario.tool === 'h2load' ? parseH2load(out) : parseWrk(out)
    rec = { ...r, cpuPct, rssMb: rssMb(after), foreignPct: foreign, wrkExit: code, attempt }
    if (code !== 0) {
      rec.errors += 1
      rec.wrkOutput = out.slice(-2000)
    }
    if (QUIET_PCT > 0 && foreign > 2 * QUIET_PCT && attempt === 0) {
      log(
        `  ${name}: other processes used ${foreign.toFixed(0)}% of a core during the run; redoing it`,
      )
      continue
    }
    break
  }
  return rec
}

// ------------------------------------------------------------------ statistics and output
const finite = (xs) => xs.filter((x) => Number.isFinite(x))
function median(xs) {
  const a = finite(xs).sort((x, y) => x - y)
  if (a.length === 0) return Number.NaN
  const h = a.length >> 1
  return a.length % 2 ? a[h] : (a[h - 1] + a[h]) / 2
}
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a')

function summarize(runsByTarget) {
  const rows = []
  const nginxRuns = runsByTarget.nginx ?? []
  const nginxMedian = median(nginxRuns.map((r) => r.rps))
  for (const [name, runs] of Object.entries(runsByTarget)) {
    const rps = runs.map((r) => r.rps)
    const med = median(rps)
    const paired = median(
      runs.map((r) => {
        const n = nginxRuns.find((x) => x.round === r.round)
        return n ? r.rps / n.rps : Number.NaN
      }),
    )
    rows.push({
      name,
      runs: runs.length,
      rpsMedian: med,
      rpsMin: Math.min(...finite(rps)),
      rpsMax: Math.max(...finite(rps)),
      spreadPct: ((Math.max(...finite(rps)) - Math.min(...finite(rps))) / med) * 100,
      p50Ms: median(runs.map((r) => r.p50)),
      p99Ms: median(runs.map((r) => r.p99)),
      ratioToNginx: med / nginxMedian,
      pairedRatioToNginx: paired,
      cpuPct: median(runs.map((r) => r.cpuPct)),
      rssMb: Math.max(...finite(runs.map((r) => r.rssMb))),
      errors: runs.reduce((a, r) => a + r.errors, 0),
      maxForeignPct: Math.max(...finite(runs.map((r) => r.foreignPct))),
    })
  }
  return rows
}
function table(rows) {
  const lines = [
    '| name | req/s median | min | max | spread % | p50 ms | p99 ms | ratio to nginx | CPU % | RSS MB | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of rows) {
    // The bare TCP relay parses no HTTP: no Node proxy can go faster on this machine.
    const name = r.name === 'tcp-relay' ? 'tcp-relay (ceiling)' : r.name
    lines.push(
      `| ${name} | ${fmt(r.rpsMedian)} | ${fmt(r.rpsMin)} | ${fmt(r.rpsMax)} | ${fmt(r.spreadPct, 1)} | ` +
        `${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${fmt(r.ratioToNginx, 2)} | ${fmt(r.cpuPct)} | ${fmt(r.rssMb, 1)} | ${r.errors} |`,
    )
  }
  return lines.join('\n')
}

// ------------------------------------------------------------------ main
let originPid = 0

async function runScenario(sname, running, workers) {
  const scenario = SCENARIOS[sname]
  const names = Object.keys(running).filter((n) => portFor(running[n], scenario) !== undefined)
  log(`=== scenario ${sname}: ${scenario.title}; targets ${names.join(', ')}`)
  for (const name of names) {
    const check = await probe(
      portFor(running[name], scenario),
      scenario.path,
      Object.fromEntries(scenario.headers.map((h) => h.split(': '))),
      scenario.tls === true,
    )
    if (check?.status !== 200 || check.bytes !== scenario.bytes) {
      log(
        `  warning: ${name} answered ${check ? `${check.status} ${check.bytes} B` : 'nothing'} for ${scenario.path}`,
      )
    }
    if (WARMUP > 0) await runWrk(portFor(running[name], scenario), scenario, WARMUP)
  }
  /** @type {Record<string, object[]>} */
  const runs = Object.fromEntries(names.map((n) => [n, []]))
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of names) {
      if (stopping) throw new Error('interrupted')
      if (running[name] === undefined) continue
      if (!groupAlive(running[name].pid)) {
        log(`  ${name} is no longer running; dropping it`)
        delete running[name]
        continue
      }
      const rec = await measure(name, running[name], scenario)
      runs[name].push({ round, ...rec })
      log(
        `  r${round} ${name.padEnd(10)} ${fmt(rec.rps).padStart(7)} req/s  p99 ${fmt(rec.p99, 2)} ms  cpu ${fmt(rec.cpuPct)}%  ` +
          `rss ${fmt(rec.rssMb, 1)} MB  errors ${rec.errors}  foreign ${fmt(rec.foreignPct)}%`,
      )
    }
  }
  const rows = summarize(runs)
  return {
    scenario: sname,
    title: scenario.title,
    workers,
    path: scenario.path,
    headers: scenario.headers,
    runs,
    summary: rows,
  }
}

async function main() {
  ensureTools()
  tmp = mkdtempSync(join(tmpdir(), 'bfe-bench-'))
  chmodSync(tmp, 0o755) // nginx workers run as nobody and serve /64k from here
  mkdirSync(join(tmp, 'tmp'))
  const env = {
    date: new Date().toISOString(),
    host: `${process.platform} ${process.arch}, ${NCPU} CPUs: ${cpus()[0]?.model ?? '?'}`,
    node: process.version,
    nginx: versionOf('nginx', ['-v'], /nginx\/(\S+)/),
    wrk: versionOf('wrk', ['-v'], /wrk (\S+)/),
    undici: pkgVersion('undici'),
    httpProxy: pkgVersion('http-proxy'),
    gitCommit: versionOf('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], /(\S+)/),
    settings: {
      rounds: ROUNDS,
      duration: DURATION,
      warmup: WARMUP,
      connections: CONNS,
      threads: THREADS,
      quietPct: QUIET_PCT,
      bfeModules: BFE_MODULES,
    },
    pinning: PIN
      ? {
          wrk: LOAD_CPU,
          origin: ORIGIN_CPU,
          proxy: PROXY_CPU,
          proxyWorkersScenario: PROXY_CPUS_WORKERS,
        }
      : 'none',
  }
  log(
    `node ${env.node}, nginx ${env.nginx}, wrk ${env.wrk}, undici ${env.undici}, http-proxy ${env.httpProxy}, commit ${env.gitCommit}`,
  )
  log(
    PIN
      ? `pinning (taskset): wrk + origin on CPU ${LOAD_CPU}, proxy under test on CPU ${PROXY_CPU}` +
          `${scenarioNames.includes('workers') ? `; workers scenario: proxy on CPUs ${PROXY_CPUS_WORKERS}` : ''}`
      : 'no CPU pinning (--no-pin or fewer than 2 CPUs): all processes float',
  )
  log(
    `wrk: ${THREADS} thread(s), ${CONNS} connections, ${DURATION} s per run, ${ROUNDS} rounds, warm-up ${WARMUP} s`,
  )

  originPid = await startOrigin()
  const results = []
  const single = scenarioNames.filter((s) => s !== 'workers')
  if (single.length > 0) {
    const running = {}
    for (const name of TARGETS) {
      const t = await startTarget(name, 1)
      if (t) running[name] = t
    }
    for (const s of single) results.push(await runScenario(s, running, 1))
    for (const [name, t] of Object.entries(running)) if (name !== 'direct') await stop(t.pid)
  }
  if (scenarioNames.includes('workers')) {
    const running = {}
    for (const name of ['bfe-ts', 'nginx'].filter((n) => TARGETS.includes(n) || !opts.only)) {
      const t = await startTarget(name, 2)
      if (t) running[name] = t
    }
    results.push(await runScenario('workers', running, 2))
    for (const t of Object.values(running)) await stop(t.pid)
  }

  const outFile = opts.out || join(HERE, 'results', `${env.date.replace(/[:.]/g, '-')}.json`)
  mkdirSync(dirname(outFile), { recursive: true })
  writeFileSync(outFile, `${JSON.stringify({ env, results }, null, 2)}\n`)

  const md = [
    `\n## bfe-ts bench ${env.date} (commit ${env.gitCommit}, node ${env.node}, nginx ${env.nginx})\n`,
  ]
  md.push(
    PIN
      ? `Pinned with taskset: wrk and origin on CPU ${LOAD_CPU}, proxy on CPU ${PROXY_CPU} (workers scenario: CPUs ${PROXY_CPUS_WORKERS}). `
      : 'Not pinned. ',
  )
  md.push(
    `wrk -t${THREADS} -c${CONNS} -d${DURATION}s, ${ROUNDS} interleaved rounds; CPU % = proxy process tree, 100 = one core.\n`,
  )
  for (const r of results) {
    md.push(`\n### ${r.scenario}: ${r.title}\n`)
    md.push(table(r.summary))
    const foreign = Math.max(0, ...r.summary.map((x) => x.maxForeignPct).filter(Number.isFinite))
    const relay = r.summary.find((x) => x.name === 'tcp-relay')
    const bfe = r.summary.find((x) => x.name === 'bfe-ts')
    if (relay !== undefined && bfe !== undefined && relay.rpsMedian > 0)
      md.push(
        `\nbfe-ts reaches ${fmt((100 * bfe.rpsMedian) / relay.rpsMedian)} % of the tcp-relay ceiling (a Node process copying bytes, no HTTP).`,
      )
    const paired = r.summary
      .filter((x) => x.name !== 'nginx' && Number.isFinite(x.pairedRatioToNginx))
      .map((x) => `${x.name} ${fmt(x.pairedRatioToNginx, 2)}`)
    md.push(
      `\nOther processes used up to ${fmt(foreign)} % of a core during these runs.` +
        (paired.length > 0
          ? ` Paired ratio to nginx (median of per-round ratios): ${paired.join(', ')}.`
          : ''),
    )
  }
  process.stdout.write(`${md.join('\n')}\n\nraw results: ${outFile}\n`)
}

main()
  .catch((err) => {
    log(`error: ${err instanceof Error ? err.message : err}`)
    process.exitCode = 1
  })
  .finally(() => cleanup())
