// A real redis-server for tests: loopback only, no persistence, on a free port.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { type AddressInfo, connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface RedisProcess {
  port: number
  pid: number
  /** Stops the server (SIGTERM, SIGKILL after 2 s) and removes its working directory. */
  close(): Promise<void>
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const s = createServer()
  s.on('error', () => {})
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address() as AddressInfo
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** True when something on the port answers PING with +PONG. */
export function ping(port: number, timeoutMs = 200): Promise<boolean> {
  return new Promise((resolve) => {
    let got = ''
    const sock = connect({ host: '127.0.0.1', port })
    const finish = (ok: boolean): void => {
      clearTimeout(timer)
      sock.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false), timeoutMs)
    sock.on('error', () => finish(false))
    sock.on('connect', () => sock.write('PING\r\n'))
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1')
      if (got.includes('\r\n')) finish(got.startsWith('+PONG'))
    })
  })
}

/**
 * Starts `redis-server` (`--save '' --appendonly no --bind 127.0.0.1`) on `port`, or on a free
 * port, and resolves once it answers PING. Rejects if it has not answered within 5 s.
 */
export async function startRedis(port?: number): Promise<RedisProcess> {
  if (port !== undefined) return startOn(port)
  // Another process may take the free port before redis-server binds it: try a few.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(await freePort())
    } catch (err) {
      if (attempt >= 3 || (err instanceof Error && err.message.includes('ENOENT'))) throw err
    }
  }
}

async function startOn(p: number): Promise<RedisProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'bfe-redis-'))
  const child: ChildProcess = spawn(
    'redis-server',
    ['--save', '', '--appendonly', 'no', '--port', String(p), '--bind', '127.0.0.1', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = '' // redis logs to stdout; the tail explains a failed start
  const collect = (d: Buffer): void => {
    output = (output + d.toString()).slice(-2000)
  }
  for (const s of [child.stdout, child.stderr]) {
    s?.on('error', () => {})
    s?.on('data', collect)
  }
  // 'exit' never comes when the spawn itself failed (ENOENT): 'error' ends the process's life too.
  let exited = false
  const exit = new Promise<void>((r) => {
    child.on('exit', () => r())
    child.on('error', () => r())
  })
  child.on('exit', () => {
    exited = true
  })
  const spawnError = new Promise<Error>((r) =>
    child.on('error', (err) => {
      exited = true
      r(err)
    }),
  )
  const cleanup = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGCONT') // in case a test left it stopped
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 2000)
      await exit
      clearTimeout(t)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 5000
  while (Date.now() < deadline) {
    const failed = await Promise.race([spawnError, sleep(20).then(() => undefined)])
    if (failed !== undefined) {
      await cleanup()
      throw new Error(`redis-server did not start (${failed.message}); run scripts/test-deps.sh`)
    }
    if (exited) break
    if (await ping(p)) {
      const pid = child.pid
      if (pid === undefined) break
      return { port: p, pid, close: cleanup }
    }
  }
  await cleanup()
  throw new Error(`redis-server on port ${p} did not answer: ${output.trim()}`)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
