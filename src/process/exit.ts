import { BfeError } from '../basic/errors.js'
import { flushLogFiles } from '../log/files.js'

/**
 * One line for an operator: the message of a configuration or system error, never a stack
 * trace and never a JavaScript class name (`TypeError: …`).
 */
export function describeError(err: unknown): string {
  if (err instanceof BfeError) return err.message
  const sys = systemError(err)
  if (sys !== undefined) return sys
  if (err instanceof Error) return err.message === '' ? 'unknown error' : err.message
  return String(err)
}

/** Writes out the buffered log lines, then exits with `code`. */
export function exitProcess(code: number): never {
  flushLogFiles()
  process.exit(code)
}

const SYSTEM_REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available',
}

/** `bind 127.0.0.1:8080: address already in use` for the usual listen failures. */
function systemError(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const e = err as { code?: unknown; syscall?: unknown; address?: unknown; port?: unknown }
  if (typeof e.code !== 'string') return undefined
  const reason = SYSTEM_REASONS[e.code]
  if (reason === undefined) return undefined
  const where =
    typeof e.port === 'number'
      ? ` ${typeof e.address === 'string' && e.address !== 'null' ? e.address : '*'}:${e.port}`
      : ''
  return `${typeof e.syscall === 'string' ? e.syscall : 'listen'}${where}: ${reason}`
}
