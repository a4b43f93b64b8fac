import {
  accessSync,
  constants,
  existsSync,
  fstatSync,
  linkSync,
  readdirSync,
  statSync,
  unlinkSync,
} from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { BfeConfError } from '../basic/errors.js'
import { bound } from '../config/bounds.js'
import { ini } from '../config/ini.js'
import { closeLogFile, type LogFile, openLogFile, writeBytes } from './files.js'

/**
 * BFE's `[Log]` section of the access-style logs (mod_access, mod_key_log): either one file
 * (`LogFile`, e.g. `/dev/stdout`, never rotated by us) or `<LogDir>/<LogPrefix>.log` rotated by
 * time (`RotateWhen`) keeping `BackupCount` old files.
 */
export const logSectionSchema = {
  LogFile: ini.string(),
  LogPrefix: ini.string(),
  LogDir: ini.string(),
  RotateWhen: ini.string(),
  BackupCount: ini.int(0, bound(0, 100_000)),
} as const

export interface LogSection {
  LogFile: string
  LogPrefix: string
  LogDir: string
  RotateWhen: string
  BackupCount: number
}

export const ROTATE_WHEN = ['M', 'H', 'D', 'MIDNIGHT', 'NEXTHOUR'] as const
export type RotateWhen = (typeof ROTATE_WHEN)[number]

export interface Rotation {
  when: RotateWhen
  backupCount: number
}

/** Where a log goes: the file and, for LogDir/LogPrefix, its rotation. */
export interface LogTarget {
  path: string
  rotate: Rotation | undefined
}

/**
 * Checks a `[Log]` section as BFE does and resolves its paths (`resolve`: relative to the
 * configuration root). Errors name `confFile` and the key.
 */
export function logTarget(
  c: LogSection,
  confFile: string,
  resolve: (p: string) => string,
): LogTarget {
  if (c.LogFile !== '') {
    if (c.LogPrefix !== '' || c.LogDir !== '' || c.RotateWhen !== '' || c.BackupCount > 0)
      throw new BfeConfError(
        confFile,
        'Log.LogFile',
        'cannot be set together with LogPrefix, LogDir, RotateWhen or BackupCount',
      )
    return { path: resolve(c.LogFile), rotate: undefined }
  }
  if (c.LogPrefix === '') throw new BfeConfError(confFile, 'Log.LogPrefix', 'is empty')
  if (c.LogDir === '') throw new BfeConfError(confFile, 'Log.LogDir', 'is empty')
  const when = c.RotateWhen.toUpperCase()
  if (!(ROTATE_WHEN as readonly string[]).includes(when))
    throw new BfeConfError(
      confFile,
      'Log.RotateWhen',
      `"${c.RotateWhen}" is not one of ${ROTATE_WHEN.join(', ')}`,
    )
  if (c.BackupCount <= 0) throw new BfeConfError(confFile, 'Log.BackupCount', 'must be > 0')
  return {
    path: join(resolve(c.LogDir), `${c.LogPrefix}.log`),
    rotate: { when: when as RotateWhen, backupCount: c.BackupCount },
  }
}

/**
 * Checks, without creating anything (`bfe -t` opens nothing), that the log can be written: the
 * file if it exists, else the nearest existing directory above it. Throws BfeConfError naming
 * `confFile` and the key.
 */
export function checkLogWritable(t: LogTarget, confFile: string): void {
  if (t.path === '/dev/stdout' || t.path === '/dev/stderr') return
  const key = t.rotate === undefined ? 'Log.LogFile' : 'Log.LogDir'
  let p = existsSync(t.path) ? t.path : dirname(t.path)
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p)
  try {
    accessSync(p, constants.W_OK)
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    throw new BfeConfError(confFile, key, `${t.path} cannot be written: ${msg}`, { cause: err })
  }
}

/** Bytes of log lines that may wait for a slow disk before new lines are dropped. */
export const DEFAULT_MAX_BUFFER = 8 * 1024 * 1024

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

function intervalOf(when: RotateWhen): number {
  return when === 'M' ? MINUTE : when === 'H' || when === 'NEXTHOUR' ? HOUR : DAY
}

const pad = (n: number): string => (n < 10 ? `0${n}` : String(n))

/** Backup suffix of the period that started at `t` (local time), as BFE's log writer names it. */
export function backupSuffix(when: RotateWhen, t: number): string {
  const d = new Date(t)
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
  if (when === 'D' || when === 'MIDNIGHT') return day
  if (when === 'H' || when === 'NEXTHOUR') return `${day}_${pad(d.getHours())}`
  return `${day}_${pad(d.getHours())}-${pad(d.getMinutes())}`
}

const SUFFIX_RE: Record<RotateWhen, RegExp> = {
  M: /^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}$/,
  H: /^\d{4}-\d{2}-\d{2}_\d{2}$/,
  NEXTHOUR: /^\d{4}-\d{2}-\d{2}_\d{2}$/,
  D: /^\d{4}-\d{2}-\d{2}$/,
  MIDNIGHT: /^\d{4}-\d{2}-\d{2}$/,
}

/**
 * The next rotation after `now`: MIDNIGHT and NEXTHOUR at the next local midnight / full hour,
 * M, H and D one interval after the period started (BFE counts these from the file's start).
 */
export function nextRollover(when: RotateWhen, now: number): number {
  const d = new Date(now)
  if (when === 'MIDNIGHT') {
    d.setHours(24, 0, 0, 0)
    return d.getTime()
  }
  if (when === 'NEXTHOUR') {
    d.setMinutes(60, 0, 0)
    return d.getTime()
  }
  return now + intervalOf(when)
}

export interface AccessLogOptions {
  /** Bytes that may wait for the disk; beyond them lines are dropped (`onDrop`). */
  maxBuffer?: number
  /** Called with the number of lines dropped because the buffer was full. */
  onDrop?: (lines: number) => void
  /** Clock (tests). */
  now?: () => number
}

/**
 * Gathered lines are written once this many bytes are pending (nginx's `buffer=` size) ... Each
 * write goes through libuv's thread pool, a hand-off that costs far more than the copy: measured
 * at 25,000 lines a second on one core, 16 KiB batches cost about 0.45 µs per line in writes.
 */
const FLUSH_BYTES = 64 * 1024
/** ... or this long after the first of them (ms). */
const FLUSH_MS = 200

/**
 * An access-style log file: lines are appended without blocking the event loop (a buffered,
 * asynchronous writer from src/log/files.ts, reopened on SIGUSR1 like the server log) and at
 * most `maxBuffer` bytes wait for a slow disk: beyond that a line is dropped and counted, so a
 * stalled disk cannot grow memory without bound.
 *
 * With a rotation, the file is moved to `<file>.<period>` when its period ends and a new one is
 * started; old backups beyond `backupCount` are removed. Several worker processes append to the
 * same file: the first to hard-link the file to its backup name does the rotation, the others
 * notice that the path now names another file and reopen it.
 */
export class AccessLogFile {
  readonly path: string
  /** The open file; opened on the first line, so that loading (`bfe -t`) opens nothing. */
  private file: LogFile | undefined
  private readonly rotate: Rotation | undefined
  private readonly now: () => number
  private readonly maxBuffer: number
  private readonly onDrop: ((lines: number) => void) | undefined
  private timer: NodeJS.Timeout | undefined
  /**
   * Lines not yet handed to the file, already encoded (bytes `0..used` of `batch`), and the timer
   * that hands them over. Encoding each short line as it comes keeps the batch a flat buffer: a
   * string of a hundred appended lines is a tree of pieces that the writer would have to flatten
   * and encode in one go (measured: about 2 µs per request at 25,000 requests a second).
   */
  private batch: Buffer
  private used: number
  private flushTimer: NodeJS.Timeout | undefined
  private readonly flushLater: () => void
  /** Batch size: FLUSH_BYTES, or less when the buffer for a slow disk is smaller. */
  private readonly flushAt: number
  /** Start of the current period (the backup is named after it). */
  private periodStart: number
  private closed = false

  constructor(target: LogTarget, opts: AccessLogOptions = {}) {
    this.path = target.path
    this.rotate = target.rotate
    this.now = opts.now ?? Date.now
    this.maxBuffer = opts.maxBuffer ?? DEFAULT_MAX_BUFFER
    this.onDrop = opts.onDrop
    this.file = undefined
    this.periodStart = 0
    this.timer = undefined
    this.flushAt = Math.max(1, Math.min(FLUSH_BYTES, this.maxBuffer))
    this.batch = Buffer.allocUnsafe(this.flushAt)
    this.used = 0
    this.flushTimer = undefined
    this.flushLater = () => {
      this.flushTimer = undefined
      this.flushPending()
    }
  }

  /**
   * Appends `line` (which carries its own newline). Lines are gathered and written together,
   * once `FLUSH_BYTES` are pending or `FLUSH_MS` after the first (as nginx's `buffer=`/`flush=`):
   * one write per batch instead of one per request.
   */
  write(line: string): void {
    // a line from a connection that ends after the server closed its modules: nowhere to go
    if (this.closed) return
    // Room for the longest encoding (3 UTF-8 bytes per UTF-16 unit), so the line is written
    // whole without measuring it first.
    const worst = 3 * line.length
    const at = this.flushAt
    if (this.used + worst > at) {
      this.flushPending()
      if (worst > at) {
        // possibly longer than a batch: on its own
        writeBytes(this.file ?? this.open(), Buffer.from(line))
        return
      }
    }
    this.used += this.batch.write(line, this.used)
    if (this.used >= at) this.flushPending()
    else if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(this.flushLater, FLUSH_MS)
      this.flushTimer.unref()
    }
  }

  /**
   * Appends the line that `put` writes into a buffer from an offset; `put` returns the offset
   * after the line, or -1 when it does not fit (it is then called again on an empty batch, and
   * on ever bigger buffers for a line longer than a batch). Writing straight into the batch
   * skips making the line a string (mod_access, docs/performance.md §19).
   */
  append<A, B, C>(
    put: (buf: Buffer, at: number, a: A, b: B, c: C) => number,
    a: A,
    b: B,
    c: C,
  ): void {
    if (this.closed) return
    let end = put(this.batch, this.used, a, b, c)
    if (end < 0) {
      this.flushPending()
      end = put(this.batch, 0, a, b, c)
      if (end < 0) {
        // longer than a batch: on its own
        for (let size = 2 * this.batch.length; end < 0; size *= 2) {
          const big = Buffer.allocUnsafe(size)
          end = put(big, 0, a, b, c)
          if (end >= 0) writeBytes(this.file ?? this.open(), big.subarray(0, end))
        }
        return
      }
    }
    this.used = end
    if (end >= this.flushAt) this.flushPending()
    else if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(this.flushLater, FLUSH_MS)
      this.flushTimer.unref()
    }
  }

  /** Hands the gathered lines to the file. */
  flushPending(): void {
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer)
      this.flushTimer = undefined
    }
    const n = this.used
    if (n === 0 || this.closed) return
    const out = this.batch.subarray(0, n)
    // the writer keeps `out` until the disk has it: later lines go to a new batch
    this.batch = Buffer.allocUnsafe(this.flushAt)
    this.used = 0
    writeBytes(this.file ?? this.open(), out)
  }

  private open(): LogFile {
    const f = openLogFile(this.path, { maxBuffer: this.maxBuffer, bytes: true })
    const onDrop = this.onDrop
    if (onDrop !== undefined) f.on('drop', (data: Buffer) => onDrop(countLines(data)))
    this.file = f
    this.periodStart = this.now()
    if (this.rotate !== undefined) this.schedule()
    return f
  }

  /** Stops rotating and closes the file after writing out what is buffered. */
  close(): void {
    if (this.closed) return
    this.flushPending()
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    if (this.file !== undefined) closeLogFile(this.file)
  }

  private schedule(): void {
    const r = this.rotate
    if (r === undefined || this.closed) return
    const now = this.now()
    const at = nextRollover(r.when, this.periodStart)
    this.timer = setTimeout(() => this.rollover(), Math.max(0, at - now))
    this.timer.unref()
  }

  /** The period ended: rotate (or follow another process's rotation), then schedule the next. */
  rollover(): void {
    const r = this.rotate
    if (r === undefined || this.closed || this.file === undefined) return
    // lines of the period that ends go to its file
    this.flushPending()
    const backup = `${this.path}.${backupSuffix(r.when, this.periodStart)}`
    this.periodStart = this.now()
    this.rotateFile(backup, r.backupCount, 0)
    this.schedule()
  }

  private rotateFile(backup: string, keep: number, attempt: number): void {
    if (this.closed) return
    const mine = this.openInode()
    const current = inodeOf(this.path)
    if (mine === undefined || current === undefined || current !== mine) {
      // Not open yet, or the path already names another file: another process rotated.
      this.reopen()
      return
    }
    let claimed = false
    try {
      linkSync(this.path, backup)
      claimed = true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        this.reopen()
        return
      }
      if (inodeOf(backup) !== mine) {
        // A stale backup of the same period (a restart): replace it.
        try {
          unlinkSync(backup)
          linkSync(this.path, backup)
          claimed = true
        } catch {}
      }
    }
    if (claimed) {
      try {
        unlinkSync(this.path)
      } catch {}
      this.reopen()
      this.prune(keep)
      return
    }
    // Another process is between its link and its unlink: look again shortly.
    if (attempt < 40) {
      const t = setTimeout(() => this.rotateFile(backup, keep, attempt + 1), 25)
      t.unref()
    } else this.reopen()
  }

  private openInode(): number | undefined {
    // SonicBoom keeps its descriptor in `fd` (-1 while opening); its typings leave it out.
    const fd = (this.file as unknown as { fd?: unknown } | undefined)?.fd
    if (typeof fd !== 'number' || fd < 0) return undefined
    try {
      return fstatSync(fd).ino
    } catch {
      return undefined
    }
  }

  private reopen(): void {
    try {
      this.file?.reopen()
    } catch {}
  }

  /** Removes the oldest backups so that `keep` remain. */
  private prune(keep: number): void {
    const r = this.rotate
    if (r === undefined) return
    const dir = dirname(this.path)
    const prefix = `${basename(this.path)}.`
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch {
      return
    }
    const re = SUFFIX_RE[r.when]
    const backups = names
      .filter((n) => n.startsWith(prefix) && re.test(n.slice(prefix.length)))
      .sort()
    for (let i = 0; i < backups.length - keep; i++) {
      try {
        unlinkSync(join(dir, backups[i] as string))
      } catch {}
    }
  }
}

function inodeOf(p: string): number | undefined {
  try {
    return statSync(p).ino
  } catch {
    return undefined
  }
}

function countLines(data: Buffer): number {
  let n = 0
  for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) n++
  return n === 0 ? 1 : n
}
