// Compression through bfe-ts (mod_compress) and through nginx (gzip module), for one 64 KB JSON
// response from the same nginx origin. Prints the compression ratio of each coding and wrk's
// throughput, and bfe-ts's figures as ratios of nginx's gzip.
//
//   npm run build && node bench/compress.mjs [--duration 10] [--warmup 2] [--connections 20]
//                                             [--level 6] [--out FILE.json]
//
// Layout (two cores): the nginx process (origin + the gzip proxy in front of it) on CPU 0, bfe-ts
// (one process, MaxCpus = 1) on CPU 1, wrk on CPU 0. Both proxies compress at the same gzip level
// (--level, default 6) and flush as they like (nginx: its buffers; bfe-ts: FlushSize 4096).
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import zlib from 'node:zlib'
import { writeBfeConf } from './conf/bfe-conf.mjs'
import { ROOT, scratchRun, startNginxOrigin, waitPort } from './lib/harness.mjs'

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '20' },
    level: { type: 'string', default: '6' },
    out: { type: 'string' },
  },
})
const DURATION = Number(opt.duration)
const WARMUP = Number(opt.warmup)
const CONNS = Number(opt.connections)
const LEVEL = Number(opt.level)

const ORIGIN = 19601
const NGINX_GZIP = 19602
const BFE = 19610

/** A 64 KB JSON document of the usual API shape (records with ids, names, flags, numbers). */
function jsonBody() {
  const items = []
  for (let i = 0; JSON.stringify(items).length < 65536 - 200; i++) {
    items.push({
      id: 100000 + i,
      name: `customer-${(i * 7919) % 10007}`,
      email: `user${(i * 104729) % 99991}@example.org`,
      active: i % 3 !== 0,
      balance: Math.round(((i * 31337) % 100000) * 1.37) / 100,
      tags: ['alpha', 'beta', 'gamma', 'delta'].slice(0, (i % 4) + 1),
      created: new Date(1700000000000 + i * 3600_000).toISOString(),
    })
  }
  return Buffer.from(JSON.stringify({ total: items.length, items }))
}

function get(port, path, headers) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

function decode(r) {
  const ce = r.headers['content-encoding']
  if (ce === 'gzip') return zlib.gunzipSync(r.body)
  if (ce === 'br') return zlib.brotliDecompressSync(r.body)
  return r.body
}

function wrk(port, path, ae, seconds) {
  const args = ['-c', '0', 'wrk', '-t1', `-c${CONNS}`, `-d${seconds}s`]
  if (ae !== '') args.push('-H', `Accept-Encoding: ${ae}`)
  args.push(`http://127.0.0.1:${port}${path}`)
  return new Promise((resolve) => {
    const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (c) => {
      out += c
    })
    child.on('close', () => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN)
      const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0)
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
      const errors = non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0)
      resolve({ rps, errors })
    })
  })
}

const run = scratchRun('bfe-compress-')
const { tmp } = run
const pinned = (cpu) => (cmd, args) =>
  run.track(spawn('taskset', ['-c', cpu, cmd, ...args], { stdio: ['ignore', 'ignore', 'inherit'] }))

try {
  const body = jsonBody()
  mkdirSync(join(tmp, 'www'), { recursive: true })
  writeFileSync(join(tmp, 'www', 'data.json'), body)
  startNginxOrigin(tmp, {
    ports: [ORIGIN],
    http: `default_type application/json;
  upstream origin { server 127.0.0.1:${ORIGIN}; keepalive 64; }
  server { listen 127.0.0.1:${NGINX_GZIP};
    gzip on; gzip_proxied any; gzip_comp_level ${LEVEL}; gzip_types application/json; gzip_vary on;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
    locations: `location /br/ { alias ${tmp}/www/; } location / { root ${tmp}/www; }`,
    start: pinned('0'),
  })
  await waitPort(ORIGIN)
  await waitPort(NGINX_GZIP)

  const conf = writeBfeConf(join(tmp, 'bfe'), {
    httpPort: BFE,
    httpsPort: BFE + 1000,
    monitorPort: BFE + 2000,
    modules: ['mod_compress'],
    originPorts: [ORIGIN],
  })
  mkdirSync(join(conf, 'mod_compress'), { recursive: true })
  writeFileSync(
    join(conf, 'mod_compress', 'mod_compress.conf'),
    '[Basic]\nProductRulePath = mod_compress/compress_rule.data\n',
  )
  writeFileSync(
    join(conf, 'mod_compress', 'compress_rule.data'),
    JSON.stringify({
      Version: 'bench',
      Config: {
        bench: [
          {
            Cond: 'req_path_prefix_in("/br/", false)',
            Action: { Cmd: 'BROTLI', Quality: 4, FlushSize: 4096 },
          },
          { Cond: 'default_t()', Action: { Cmd: 'GZIP', Quality: LEVEL, FlushSize: 4096 } },
        ],
      },
    }),
  )
  pinned('1')(process.execPath, [
    join(ROOT, 'dist/bench/bfe-bench.js'),
    '-c',
    conf,
    '-l',
    join(conf, 'log'),
  ])
  await waitPort(BFE)

  const cases = [
    { name: 'bfe-ts identity', port: BFE, path: '/data.json', ae: '' },
    { name: 'bfe-ts gzip', port: BFE, path: '/data.json', ae: 'gzip' },
    { name: 'bfe-ts brotli', port: BFE, path: '/br/data.json', ae: 'br' },
    { name: 'nginx gzip', port: NGINX_GZIP, path: '/data.json', ae: 'gzip' },
  ]
  const results = []
  for (const c of cases) {
    const r = await get(c.port, c.path, c.ae === '' ? {} : { 'accept-encoding': c.ae })
    const plain = decode(r)
    if (!plain.equals(body))
      throw new Error(`${c.name}: the decoded body differs from the origin's`)
    const expect = c.ae === '' ? undefined : c.ae
    if (r.headers['content-encoding'] !== expect)
      throw new Error(
        `${c.name}: Content-Encoding ${r.headers['content-encoding']}, want ${expect}`,
      )
    if (WARMUP > 0) await wrk(c.port, c.path, c.ae, WARMUP)
    const w = await wrk(c.port, c.path, c.ae, DURATION)
    results.push({
      name: c.name,
      wireBytes: r.body.length,
      ratio: r.body.length / body.length,
      rps: w.rps,
      inputMBps: (w.rps * body.length) / 1e6,
      errors: w.errors,
    })
  }
  const nginx = results.find((r) => r.name === 'nginx gzip')
  const rel = (r) => ({
    ...r,
    ratioVsNginxGzip: r.ratio / nginx.ratio,
    rpsVsNginxGzip: r.rps / nginx.rps,
  })
  const out = {
    date: new Date().toISOString(),
    node: process.version,
    bodyBytes: body.length,
    gzipLevel: LEVEL,
    brotliQuality: 4,
    connections: CONNS,
    durationS: DURATION,
    results: results.map(rel),
  }
  console.log(`64 KB JSON (${body.length} bytes), ${CONNS} connections, ${DURATION} s per run`)
  console.log('case               wire B   ratio   req/s    MB/s in  vs nginx gzip (ratio, req/s)')
  for (const r of out.results) {
    console.log(
      `${r.name.padEnd(17)} ${String(r.wireBytes).padStart(7)}  ${r.ratio.toFixed(3)}  ${r.rps.toFixed(0).padStart(7)}  ${r.inputMBps.toFixed(1).padStart(7)}  ${r.ratioVsNginxGzip.toFixed(2)}, ${r.rpsVsNginxGzip.toFixed(2)}${r.errors > 0 ? `  (${r.errors} errors)` : ''}`,
    )
  }
  if (opt.out !== undefined) writeFileSync(opt.out, `${JSON.stringify(out, null, 2)}\n`)
} finally {
  run.cleanup()
}
