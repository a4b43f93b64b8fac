import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run } from './exec.js'

/** Repository root (this file runs as dist/test/helpers/process.js). */
export const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..')
export const MAIN = join(ROOT, 'dist/src/main.js')

/** A `node dist/src/main.js` child process with its output collected. */
export interface BfeProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** stdout and stderr so far. */
  stdout: string
  stderr: string
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>
  /** Waits until stdout or stderr contains `text` (or the process exits: then throws). */
  waitForOutput(text: string | RegExp, timeoutMs?: number): Promise<void>
  signal(sig: NodeJS.Signals): void
}

const started: ChildProcess[] = []

/** Kills every child still running (call from `after`). */
export function killAllBfe(): void {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}

/** `node [nodeFlags] dist/src/main.js args` in `cwd`. */
export function spawnBfe(
  args: readonly string[],
  cwd = ROOT,
  nodeFlags: readonly string[] = [],
): BfeProcess {
  const child = spawn(process.execPath, [...nodeFlags, MAIN, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.push(child)
  const p: BfeProcess = {
    child,
    pid: child.pid ?? 0,
    stdout: '',
    stderr: '',
    exited: new Promise((r) => child.on('exit', (code, sig) => r(code ?? sig ?? 'unknown'))),
    async waitForOutput(text, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs
      const seen = () =>
        typeof text === 'string'
          ? p.stdout.includes(text) || p.stderr.includes(text)
          : text.test(p.stdout) || text.test(p.stderr)
      while (!seen()) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`bfe exited before printing ${String(text)}:\n${p.stdout}\n${p.stderr}`)
        if (Date.now() > end)
          throw new Error(`bfe did not print ${String(text)}:\n${p.stdout}\n${p.stderr}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    signal(sig) {
      child.kill(sig)
    },
  }
  child.stdout.on('data', (c: Buffer) => {
    p.stdout += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    p.stderr += c.toString()
  })
  return p
}

/** Resolves with the exit code, or throws when the process is still running after `ms`. */
export async function exitWithin(p: BfeProcess, ms: number): Promise<number | string> {
  let t: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(
      () => reject(new Error(`bfe still running after ${ms} ms:\n${p.stdout}\n${p.stderr}`)),
      ms,
    )
  })
  try {
    return await Promise.race([p.exited, timeout])
  } finally {
    clearTimeout(t)
  }
}

/** The JSON lines of a server log file (missing file: none). */
export function logLines(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** Pids of running processes whose command line contains `needle` (ps, not this process). */
export async function pidsWith(needle: string): Promise<number[]> {
  const r = await run('ps', ['-eo', 'pid=,args='])
  const out: number[] = []
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line)
    if (m === null || !(m[2] ?? '').includes(needle)) continue
    if ((m[2] ?? '').startsWith('ps ')) continue
    out.push(Number(m[1]))
  }
  return out.filter((pid) => pid !== process.pid)
}
