import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'

export type Logger = pino.Logger

export interface LoggerOptions {
  /** Directory for bfe.log; undefined = no file. */
  logDir?: string | undefined
  stdout?: boolean
  debug?: boolean
  level?: string
}

/** The server's own log: `<logDir>/bfe.log`, and stdout with `-s`. */
export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? (opts.debug === true ? 'debug' : 'info')
  const streams: pino.StreamEntry[] = []
  if (opts.logDir !== undefined) {
    mkdirSync(opts.logDir, { recursive: true })
    streams.push({
      level: 'trace',
      stream: pino.destination({ dest: join(opts.logDir, 'bfe.log'), sync: false }),
    })
  }
  if (opts.stdout === true)
    streams.push({ level: 'trace', stream: pino.destination({ dest: 1, sync: false }) })
  if (streams.length === 0) return pino({ level: 'silent' })
  return pino({ level, base: { pid: process.pid } }, pino.multistream(streams))
}

/** A logger that drops everything (tests, `-t`). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
