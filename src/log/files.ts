import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'

/** A log file that can be reopened at the same path (pino's SonicBoom destination). */
export type LogFile = ReturnType<typeof pino.destination>

/**
 * Every log file this process writes, so one `SIGUSR1` reopens them all. Rotation is the
 * operator's logrotate (or similar): it renames or copies `bfe.log`, then sends `SIGUSR1`, and
 * each file is opened again at its path (a new, empty file after a rename). With several workers
 * every process appends to the same files (O_APPEND), which is why bfe-ts does not rotate by
 * itself: several processes renaming the same file would race.
 *
 * Access logs (mod_access) open theirs with `openLogFile('access.log')` and get the same reopen.
 */
const files = new Set<LogFile>()
let dir: string | undefined

/** The `-l` directory; undefined until the command line has set it (tests, embedding). */
export function logDir(): string | undefined {
  return dir
}

export function setLogDir(path: string | undefined): void {
  dir = path
}

export interface OpenLogOptions {
  /**
   * Bytes that may wait in memory for a slow disk; a write beyond them is dropped and the file
   * emits `'drop'` (access logs count these). Unbounded when undefined.
   */
  maxBuffer?: number
  /**
   * The file takes Buffers (`writeBytes`) instead of strings: the writer hands them to the disk as
   * they are, with no string flattening or encoding on the event loop (access logs).
   */
  bytes?: boolean
}

/**
 * Opens `name` for appending, in the log directory when `name` is relative; registers it for
 * reopening. Writes are asynchronous (buffered); `flushLogFiles()` writes out what is pending.
 */
export function openLogFile(name: string, opts: OpenLogOptions = {}): LogFile {
  const base = dir ?? '.'
  const path = name.startsWith('/') ? name : join(base, name)
  // The process's own output by descriptor: `/dev/stdout` cannot be opened by path when it is a
  // socket (systemd's journal, a parent's socketpair), and a descriptor needs no reopening.
  const std = path === '/dev/stdout' ? 1 : path === '/dev/stderr' ? 2 : undefined
  if (std === undefined) mkdirSync(join(path, '..'), { recursive: true })
  const dest = pino.destination({
    dest: std ?? path,
    sync: false,
    mkdir: std === undefined,
    append: true,
    ...(opts.maxBuffer === undefined ? {} : { maxLength: opts.maxBuffer }),
    ...(opts.bytes === true ? { contentMode: 'buffer' as const } : {}),
  })
  dest.on('error', () => {})
  // pino flushes its destinations synchronously at process exit, and SonicBoom throws when the
  // file is still being opened (a process that exits right after start-up): nothing is pending
  // then, so the exit goes on quietly.
  const flushSync = dest.flushSync
  dest.flushSync = function guardedFlushSync(this: LogFile): void {
    try {
      flushSync.call(this)
    } catch {}
  }
  files.add(dest)
  return dest
}

/** Reopens every log file at its path (`SIGUSR1`, after logrotate moved the old ones away). */
export function reopenLogFiles(): void {
  for (const f of files) {
    try {
      f.reopen()
    } catch {
      // a file that cannot be reopened keeps writing where it was; the next signal tries again
    }
  }
}

/**
 * Appends bytes to a file opened with `bytes: true` (SonicBoom's buffer mode; its typings only
 * declare the string form of `write`). The buffer must not be changed afterwards: it is written
 * later, asynchronously.
 */
export function writeBytes(f: LogFile, b: Buffer): boolean {
  return (f as unknown as { write(b: Buffer): boolean }).write(b)
}

/** Writes out whatever is buffered, synchronously (before the process exits). */
export function flushLogFiles(): void {
  for (const f of files) f.flushSync()
}

/** Closes and forgets a file (a module that stops logging). */
export function closeLogFile(f: LogFile): void {
  files.delete(f)
  f.flushSync()
  f.end()
}
