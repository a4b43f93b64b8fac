import pino from 'pino'
import { openLogFile, setLogDir } from './files.js'

export type Logger = pino.Logger

export interface LoggerOptions {
  /** Directory for bfe.log and bfe.log.wf; undefined = no file. */
  logDir?: string | undefined
  stdout?: boolean
  debug?: boolean
  level?: string
}

/**
 * The server's own log (BFE's `<logdir>/bfe.log`, spec/config.md §1): JSON lines through pino.
 * - `bfe.log`: everything at the configured level (INFO, or DEBUG with `-d`);
 * - `bfe.log.wf`: WARN and above only (BFE keeps warnings and errors in a file of their own);
 * - stdout as well with `-s`.
 * The files are reopened on `SIGUSR1` (files.ts). Every line carries the process id, so lines
 * of the primary and of each worker can be told apart.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? (opts.debug === true ? 'debug' : 'info')
  const streams: pino.StreamEntry[] = []
  if (opts.logDir !== undefined) {
    setLogDir(opts.logDir)
    streams.push({ level: 'trace', stream: openLogFile('bfe.log') })
    streams.push({ level: 'warn', stream: openLogFile('bfe.log.wf') })
  }
  if (opts.stdout === true)
    streams.push({ level: 'trace', stream: pino.destination({ dest: 1, sync: false }) })
  if (streams.length === 0) return pino({ level: 'silent' })
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.multistream(streams),
  )
}

/** A logger that drops everything (tests, `-t`). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

let current: Logger | undefined

/**
 * The process's server log, for code that has no logger handed to it (the health checker's
 * down/up lines). Silent until the command line sets it.
 */
export function serverLog(): Logger {
  if (current === undefined) current = silentLogger()
  return current
}

export function setServerLog(log: Logger): void {
  current = log
}
