// Memory pinned by unfinished request heads (issue 15, finding 2): bfe-ts in a child process
// (single process, default MaxHeaderBytes = 1 MiB), then --conns connections that each send a
// request line and one header of --head-kib KiB and never finish the head. The child's RSS is
// read from /proc every 100 ms; VmHWM gives its peak.
//
//   npm run build && node bench/head-memory.mjs [--conns 1000] [--head-kib 1024] [--hold 3]
//
// It prints RSS before, the peak while the heads arrive, RSS while they are held, RSS 3 s after
// they were closed, how the connections ended (answered with which status, closed, or still
// open), and whether an ordinary request sent in the middle of it all was served.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeBfeConf } from './conf/bfe-conf.mjs'
import { ROOT, sleep, waitPort } from './lib/harness.mjs'

const { values: opt } = parseArgs({
  options: {
    conns: { type: 'string', default: '1000' },
    'head-kib': { type: 'string', default: '1024' },
    hold: { type: 'string', default: '3' },
    port: { type: 'string', default: '19600' },
  },
})
const conns = Number(opt.conns)
const headBytes = Number(opt['head-kib']) * 1024
const port = Number(opt.port)

function memKb(pid, field) {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1])
  } catch {
    return undefined
  }
}
const mb = (kb) => (kb === undefined ? 'n/a' : `${(kb / 1024).toFixed(0)} MB`)

// An origin in this process, for the ordinary request.
const origin = createServer((_req, res) => res.end('ok'))
await new Promise((r) => origin.listen(port + 1, '127.0.0.1', r))

const tmp = mkdtempSync(join(tmpdir(), 'bfe-headmem-'))
const conf = writeBfeConf(join(tmp, 'bfe'), {
  httpPort: port,
  httpsPort: port + 1000,
  monitorPort: port + 2000,
  originPorts: [port + 1],
})
const bfe = spawn(process.execPath, [join(ROOT, 'dist/src/main.js'), '-c', conf, '-l', tmp], {
  stdio: ['ignore', 'ignore', 'inherit'],
})
let result
try {
  await waitPort(port)
  await sleep(500)
  const before = memKb(bfe.pid, 'VmRSS')
  let sampling = true
  let peakSeen = before ?? 0
  const sampler = (async () => {
    while (sampling) {
      peakSeen = Math.max(peakSeen, memKb(bfe.pid, 'VmRSS') ?? 0)
      await sleep(100)
    }
  })()

  const outcome = new Map()
  const count = (k) => outcome.set(k, (outcome.get(k) ?? 0) + 1)
  const sockets = []
  const chunk = Buffer.alloc(64 * 1024, 'a')
  const t0 = Date.now()
  const sends = []
  for (let i = 0; i < conns; i++) {
    const s = connect(port, '127.0.0.1')
    sockets.push(s)
    let answer = ''
    s.on('data', (d) => {
      answer += d.toString('latin1')
    })
    s.on('error', () => {})
    s.once('close', () => {
      s.ended = true
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]
      count(status === undefined ? 'closed without an answer' : `answered ${status}`)
    })
    sends.push(
      (async () => {
        await new Promise((r) => s.once('connect', r))
        s.write(`GET /head-${i} HTTP/1.1\r\nHost: localhost\r\nX-Big: `)
        for (let sent = 0; sent < headBytes && !s.destroyed && !s.ended; sent += chunk.length) {
          const n = Math.min(chunk.length, headBytes - sent)
          if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n)))
            await new Promise((r) => {
              s.once('drain', r)
              s.once('close', r)
            })
        }
      })(),
    )
    if (i % 100 === 99) await sleep(10)
  }
  // An ordinary request while the heads arrive.
  const ordinary = await fetch(`http://127.0.0.1:${port}/ordinary`)
    .then(async (r) => `${r.status} ${await r.text()}`)
    .catch((e) => `failed: ${e.message}`)
  await Promise.all(sends)
  const sentMs = Date.now() - t0
  await sleep(Number(opt.hold) * 1000)
  const held = memKb(bfe.pid, 'VmRSS')
  const open = sockets.filter((s) => !s.ended).length
  for (const s of sockets) s.destroy()
  await sleep(3000)
  const after = memKb(bfe.pid, 'VmRSS')
  sampling = false
  await sampler
  const hwm = memKb(bfe.pid, 'VmHWM')
  result = {
    connections: conns,
    headKiB: headBytes / 1024,
    sentInMs: sentMs,
    rssBefore: mb(before),
    rssPeakSampled: mb(peakSeen),
    vmHWM: mb(hwm),
    rssWhileHeld: mb(held),
    rssAfterClose: mb(after),
    stillOpenWhenHeld: open,
    outcomes: Object.fromEntries(outcome),
    ordinaryRequest: ordinary,
  }
} finally {
  bfe.kill('SIGTERM')
  await new Promise((r) => setTimeout(r, 500))
  if (bfe.exitCode === null) bfe.kill('SIGKILL')
  origin.close()
  rmSync(tmp, { recursive: true, force: true })
}
console.log(JSON.stringify(result, null, 2))
