import { join } from 'node:path'
import { BfeConfError } from '../../basic/errors.js'
import { ini } from '../../config/ini.js'
import { type LogFile, openLogFile } from '../../log/files.js'

/**
 * A `[Log]` section in mod_access's shape (spec/modules.md §1): either `LogFile`, or `LogPrefix`,
 * `LogDir`, `RotateWhen` and `BackupCount` together.
 */
export const logSection = {
  LogFile: ini.string(),
  LogPrefix: ini.string(),
  LogDir: ini.string(),
  RotateWhen: ini.string(),
  BackupCount: ini.int(0),
} as const

export interface LogValues {
  LogFile: string
  LogPrefix: string
  LogDir: string
  RotateWhen: string
  BackupCount: number
}

const WHEN: ReadonlySet<string> = new Set(['M', 'H', 'D', 'MIDNIGHT', 'NEXTHOUR'])

/**
 * Checks a `[Log]` section and returns the file to write (absolute): `LogFile`, or
 * `<LogDir>/<LogPrefix>.log`. Paths are relative to the configuration root (`resolve`).
 * `RotateWhen` and `BackupCount` are checked as BFE checks them; rotation itself is the
 * operator's (logrotate + SIGUSR1, as for every bfe-ts log file).
 */
export function logFilePath(file: string, v: LogValues, resolve: (p: string) => string): string {
  const fail = (key: string, reason: string): never => {
    throw new BfeConfError(file, `[Log] ${key}`, reason)
  }
  if (v.LogFile !== '') {
    if (v.LogPrefix !== '' || v.LogDir !== '' || v.RotateWhen !== '' || v.BackupCount > 0)
      fail('LogFile', 'cannot be set together with LogPrefix, LogDir, RotateWhen or BackupCount')
    return resolve(v.LogFile)
  }
  if (v.LogPrefix === '') fail('LogPrefix', 'is required (or set LogFile)')
  if (v.LogDir === '') fail('LogDir', 'is required (or set LogFile)')
  if (!WHEN.has(v.RotateWhen.toUpperCase()))
    fail('RotateWhen', `"${v.RotateWhen}" is not one of M, H, D, MIDNIGHT, NEXTHOUR`)
  if (v.BackupCount <= 0) fail('BackupCount', `must be > 0, got ${v.BackupCount}`)
  return join(resolve(v.LogDir), `${v.LogPrefix}.log`)
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n)
}

/** Local time as `2006/01/02 15:04:05`. */
function stamp(d: Date): string {
  return `${d.getFullYear()}/${two(d.getMonth() + 1)}/${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
}

/** The WAF log: one line per rule run, `[date time] [INFO] <JSON>`. */
export class WafLog {
  readonly path: string
  private readonly out: LogFile

  constructor(path: string) {
    this.path = path
    this.out = openLogFile(path)
  }

  write(entry: unknown): void {
    this.out.write(`[${stamp(new Date())}] [INFO] ${JSON.stringify(entry)}\n`)
  }
}
