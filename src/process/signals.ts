import { flushLogFiles, reopenLogFiles } from '../log/files.js'
import type { Logger } from '../log/logger.js'

/**
 * Replaces whatever listens for `sig` with `fn`. (A process has one meaning per signal; the
 * early SIGUSR1 guard below is replaced this way once the log is open.)
 */
export function installSignal(sig: NodeJS.Signals, fn: () => void): void {
  process.removeAllListeners(sig)
  process.on(sig, fn)
}

/**
 * Node opens its inspector on port 9229 when it receives SIGUSR1 and no JavaScript listener
 * exists for it. logrotate sends SIGUSR1 after rotating: listen for it before anything else is
 * loaded, and from then on it only reopens the log files.
 */
export function guardSigusr1(): void {
  if (process.listenerCount('SIGUSR1') === 0) process.on('SIGUSR1', reopenLogFiles)
}

/** SIGUSR1: reopen the log files (logrotate's move-then-signal), and say so in the new file. */
export function reopenOnSigusr1(log: Logger, then?: () => void): void {
  installSignal('SIGUSR1', () => {
    reopenLogFiles()
    log.info('SIGUSR1: log files reopened')
    then?.()
  })
}

/** SIGHUP, SIGILL, SIGTRAP and SIGABRT are ignored, each with a log line (protocols.md §9). */
export function ignoredSignals(log: Logger): void {
  for (const s of ['SIGHUP', 'SIGILL', 'SIGTRAP', 'SIGABRT'] as const)
    installSignal(s, () => log.info(`${s} ignored`))
}

/**
 * An exception nothing caught (a bug) ends the process as Node would (stack on stderr, status
 * 1), after a `fatal` line in the server log, so the operator finds it next to the worker
 * restart that follows.
 */
export function logFatalErrors(log: Logger): void {
  const fatal = (err: unknown, what: string) => {
    log.fatal({ err }, what)
    flushLogFiles()
    process.stderr.write(
      `bfe: ${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    )
    process.exit(1)
  }
  installSignalLike('uncaughtException', (err) => fatal(err, 'uncaught exception'))
  installSignalLike('unhandledRejection', (err) => fatal(err, 'unhandled promise rejection'))
}

function installSignalLike(
  event: 'uncaughtException' | 'unhandledRejection',
  fn: (err: unknown) => void,
): void {
  process.removeAllListeners(event)
  process.on(event, fn)
}
