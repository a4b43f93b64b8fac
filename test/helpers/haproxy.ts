import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { closedPort } from './upstream.js'

export const HAPROXY = '/usr/sbin/haproxy'

/** One TCP-mode frontend → one server, with `send-proxy` or `send-proxy-v2`. */
export interface HaproxyRoute {
  /** Address the frontend binds (the VIP bfe-ts will see), e.g. 127.0.0.1 or 127.0.0.2. */
  bindAddr: string
  /** Port on 127.0.0.1 of the server (bfe-ts). */
  serverPort: number
  proxy: 'send-proxy' | 'send-proxy-v2'
}

export interface RunningHaproxy {
  /** The bound frontend port of each route, in order. */
  ports: number[]
  /** What HAProxy printed (for failure messages). */
  output(): string
  stop(): Promise<void>
}

/**
 * Starts a real HAProxy in TCP mode (`-db`: foreground, no daemon) with a generated
 * configuration: one frontend per route on a free port, forwarding with the PROXY protocol.
 * Resolves once every frontend accepts connections.
 */
export async function startHaproxy(routes: readonly HaproxyRoute[]): Promise<RunningHaproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'bfe-haproxy-'))
  const ports: number[] = []
  const lines = [
    'global',
    '  maxconn 256',
    'defaults',
    '  mode tcp',
    '  timeout client 10s',
    '  timeout server 10s',
    '  timeout connect 3s',
  ]
  for (const [i, r] of routes.entries()) {
    const port = await closedPort()
    ports.push(port)
    lines.push(
      `frontend fe${i}`,
      `  bind ${r.bindAddr}:${port}`,
      `  default_backend be${i}`,
      `backend be${i}`,
      `  server s${i} 127.0.0.1:${r.serverPort} ${r.proxy}`,
    )
  }
  const cfg = join(dir, 'haproxy.cfg')
  writeFileSync(cfg, `${lines.join('\n')}\n`)
  const child: ChildProcess = spawn(HAPROXY, ['-db', '-f', cfg], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.on('error', (err) => {
    out += String(err)
  })
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('close', r))
      child.kill('SIGKILL')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const end = Date.now() + 5000
  for (const [i, port] of ports.entries()) {
    const addr = routes[i]?.bindAddr ?? '127.0.0.1'
    while (!(await accepts(addr, port))) {
      if (Date.now() > end || child.exitCode !== null) {
        await stop()
        throw new Error(`haproxy did not start: ${out}`)
      }
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  return { ports, output: () => out, stop }
}

/** True when something accepts TCP connections on addr:port (the probe closes at once). */
function accepts(addr: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, addr)
    s.on('error', () => resolve(false))
    s.on('connect', () => {
      s.destroy()
      resolve(true)
    })
  })
}
