// Shared by bench/profile.mjs and bench/soak.mjs: a small nginx origin on CPU 0 and bfe-ts on the
// bench configuration on CPU 1 (bench/run.mjs has its own, fuller harness with every target).
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeBfeConf } from '../conf/bfe-conf.mjs'

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Waits until something accepts connections on 127.0.0.1:port (10 s at most). */
export async function waitPort(port) {
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

/** Resident set size of a process in MB, from /proc (undefined once it has exited). */
export function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) / 1024
  } catch {
    return undefined
  }
}

/**
 * Writes `<tmp>/origin.conf`, an nginx origin on 127.0.0.1 `ports` answering with `locations`
 * (nginx `location` blocks; `http`: more directives for the http block), and starts nginx with
 * it; `start(cmd, args)` spawns it (so that callers can pin it with taskset). Returns the child.
 */
export function startNginxOrigin(tmp, { ports, locations, http = '', start }) {
  mkdirSync(join(tmp, 'tmp'), { recursive: true })
  writeFileSync(
    join(tmp, 'origin.conf'),
    `daemon off; master_process off; pid ${tmp}/origin.pid; error_log ${tmp}/origin-error.log warn;
events { worker_connections 8192; }
http { access_log off; client_body_temp_path ${tmp}/tmp/b; proxy_temp_path ${tmp}/tmp/p;
  fastcgi_temp_path ${tmp}/tmp/f; uwsgi_temp_path ${tmp}/tmp/u; scgi_temp_path ${tmp}/tmp/s;
  keepalive_requests 100000000; ${http}
  server { ${ports.map((p) => `listen 127.0.0.1:${p};`).join(' ')}
    ${locations} } }
`,
  )
  const args = ['-e', `${tmp}/origin-error.log`, '-p', tmp, '-c', `${tmp}/origin.conf`]
  return start === undefined
    ? spawn('nginx', args, { stdio: ['ignore', 'ignore', 'inherit'] })
    : start('nginx', args)
}

/**
 * A temporary directory for a script's run and the processes it starts there: `track(child)`;
 * `cleanup()` kills what is still running and removes the directory. It also runs at exit, and
 * Ctrl-C exits.
 */
export function scratchRun(prefix) {
  const tmp = mkdtempSync(join(tmpdir(), prefix))
  const children = []
  let cleaned = false
  const cleanup = () => {
    if (cleaned) return
    cleaned = true
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    rmSync(tmp, { recursive: true, force: true })
  }
  process.on('exit', cleanup)
  process.on('SIGINT', () => process.exit(130))
  return {
    tmp,
    track(child) {
      children.push(child)
      return child
    },
    cleanup,
  }
}

/**
 * Starts the origin and bfe-ts. `nodeFlags` go before the script (e.g. --cpu-prof). Returns the
 * bfe-ts URL and child, and stop(), which ends both and removes the temporary directory.
 */
export async function startOriginAndBfe({ basePort, modules = ['mod_bench'], nodeFlags = [] }) {
  const originPorts = [basePort + 1, basePort + 2, basePort + 3, basePort + 4]
  const bfePort = basePort + 10
  const tmp = mkdtempSync(join(tmpdir(), 'bfe-bench-'))
  const children = []
  const start = (cpu, cmd, args) => {
    const child = spawn('taskset', ['-c', cpu, cmd, ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    children.push(child)
    return child
  }
  const stop = async () => {
    const exits = children
      .filter((c) => c.exitCode === null && c.signalCode === null)
      .map((c) => new Promise((r) => c.once('exit', r)))
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
    await Promise.race([Promise.all(exits), sleep(5000)])
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    rmSync(tmp, { recursive: true, force: true })
  }
  try {
    writeFileSync(join(tmp, '64k'), Buffer.alloc(65536, 'x'))
    startNginxOrigin(tmp, {
      ports: originPorts,
      http: 'sendfile on;',
      locations: `location = /64k { root ${tmp}; } location / { return 200 "${'0123456789'.repeat(10)}"; }`,
      start: (cmd, args) => start('0', cmd, args),
    })
    for (const p of originPorts) await waitPort(p)
    const conf = writeBfeConf(join(tmp, 'bfe'), {
      httpPort: bfePort,
      httpsPort: bfePort + 1000,
      monitorPort: bfePort + 2000,
      modules,
      originPorts,
    })
    const bfe = start('1', process.execPath, [
      ...nodeFlags,
      join(ROOT, 'dist/bench/bfe-bench.js'),
      '-c',
      conf,
      '-l',
      join(conf, 'log'),
    ])
    await waitPort(bfePort)
    return { url: `http://127.0.0.1:${bfePort}`, bfe, tmp, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
