import type { Logger } from '../log/logger.js'
import type { BfeModule } from '../module/types.js'
import { serveBfeWorker } from '../monitor/worker.js'
import { BfeServer } from '../server/server.js'
import { describeError, exitProcess } from './exit.js'
import { sendToPrimary } from './messages.js'
import { ignoredSignals, installSignal, logFatalErrors, reopenOnSigusr1 } from './signals.js'
import { processState } from './state.js'

export interface ServeOptions {
  confRoot: string
  /** `<confRoot>/bfe.conf`, for messages. */
  confPath: string
  log: Logger
  modules: readonly BfeModule[]
  /** A worker of a multi-worker run: reports readiness to the primary, logs no load warnings. */
  worker: boolean
  /** The server already loaded by the caller (single process); a worker loads its own. */
  server?: BfeServer
}

/**
 * A serving process: `MaxCpus = 1` (alone), or one worker of the primary. Loads the
 * configuration, installs the signal handlers (lifecycle.md §1 step 8), opens the listeners and
 * serves until a signal ends it. Resolves 1 when start-up fails (the reason on stderr, or sent to
 * the primary), -1 while serving.
 *
 * Signals (protocols.md §9): SIGQUIT graceful shutdown then exit 0; SIGTERM (and SIGINT when
 * alone) exit 0 at once; SIGUSR1 reopen the log files; SIGHUP, SIGILL, SIGTRAP, SIGABRT ignored.
 * A worker whose primary has gone (IPC channel closed) shuts down gracefully.
 */
export async function serve(opts: ServeOptions): Promise<number> {
  const { log } = opts
  processState.role = opts.worker ? 'worker' : 'single'
  let server: BfeServer
  try {
    server =
      opts.server ??
      (await BfeServer.load({
        confRoot: opts.confRoot,
        log,
        modules: opts.modules,
        logWarnings: !opts.worker,
      }))
  } catch (err) {
    return startFailed(opts, describeError(err))
  }

  let stopping = false
  const graceful = (why: string) => {
    if (stopping) return
    stopping = true
    const ms = server.conf.Server.GracefulShutdownTimeout * 1000
    log.info({ timeoutMs: ms, connections: server.connectionCount }, `${why}: graceful shutdown`)
    // The last resort, should closing itself hang: never outlive the timeout by much.
    setTimeout(() => exitProcess(0), ms + 2000).unref()
    server.shutdown(ms).then(
      () => {
        log.info('graceful shutdown done, exiting')
        exitProcess(0)
      },
      (err: unknown) => {
        log.error({ err }, 'graceful shutdown failed, exiting')
        exitProcess(0)
      },
    )
  }
  installSignal('SIGQUIT', () => graceful('SIGQUIT'))
  installSignal('SIGTERM', () => {
    log.info('SIGTERM: exiting now')
    exitProcess(0)
  })
  // Ctrl-C reaches every process of the terminal's group: a worker leaves it to its primary.
  installSignal('SIGINT', () => {
    if (opts.worker) return
    log.info('SIGINT: exiting now')
    exitProcess(0)
  })
  ignoredSignals(log)
  reopenOnSigusr1(log)
  logFatalErrors(log)
  if (opts.worker) {
    process.on('disconnect', () => graceful('primary process gone'))
  }

  try {
    await server.listen()
  } catch (err) {
    await server.close().catch(() => {})
    return startFailed(opts, `cannot listen: ${describeError(err)}`)
  }
  if (stopping) return -1

  // Alone, listen() has opened the monitor port itself. A worker answers the primary's monitor
  // and reload requests over IPC, from before it reports ready until it exits.
  if (opts.worker) serveBfeWorker(server)

  const s = server.conf.Server
  if (opts.worker) {
    log.info({ port: server.port, httpsPort: server.httpsPort }, 'worker ready')
    await sendToPrimary({ bfeLifecycle: 'ready', port: server.port, httpsPort: server.httpsPort })
  } else {
    log.info(
      {
        confRoot: opts.confRoot,
        http: `${s.HttpAddr}:${server.port}`,
        https: `${s.HttpsAddr}:${server.httpsPort}`,
        workers: 1,
      },
      'bfe started',
    )
    process.stdout.write(`bfe: listening on port ${server.port} (${opts.confPath})\n`)
  }
  return -1
}

async function startFailed(opts: ServeOptions, reason: string): Promise<number> {
  opts.log.error(`start failed: ${reason}`)
  if (opts.worker) await sendToPrimary({ bfeLifecycle: 'failed', reason })
  else process.stderr.write(`bfe: ${reason}\nbfe: start failed (${opts.confPath})\n`)
  return 1
}
