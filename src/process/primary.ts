import cluster, { type Worker } from 'node:cluster'
import type { BfeConf } from '../config/bfe-conf.js'
import type { Logger } from '../log/logger.js'
import { startPrimaryMonitor } from '../monitor/primary.js'
import { describeError, exitProcess } from './exit.js'
import { isLifecycleMessage } from './messages.js'
import { attachClusterWorkers, RpcClient } from './rpc.js'
import { ignoredSignals, installSignal, logFatalErrors, reopenOnSigusr1 } from './signals.js'
import { processState } from './state.js'

export interface PrimaryOptions {
  /** Worker processes to run (`MaxCpus`, or one per CPU for 0). */
  workers: number
  /** The configuration the primary loaded and checked before forking. */
  conf: BfeConf
  /** `<confRoot>/bfe.conf`, for messages. */
  confPath: string
  log: Logger
  /** Version shown on the monitor's index pages. */
  version?: string
}

/** A worker that died is replaced after 100 ms, doubling for each death in a row, up to 30 s. */
export const RESTART_FIRST_MS = 100
export const RESTART_MAX_MS = 30_000
/** A worker that lived this long resets the doubling. */
const STABLE_MS = 30_000
/** Every worker must be listening within this time, or start-up fails. */
const START_TIMEOUT_MS = 60_000
/** After GracefulShutdownTimeout, how long the primary still waits for its workers. */
const STOP_MARGIN_MS = 5_000
/** SIGTERM: how long the primary waits for its workers to exit before it kills them. */
const TERM_WAIT_MS = 2_000
/** A worker that exits during start-up: how long its `failed` message (the reason) may lag. */
const FAILED_MESSAGE_GRACE_MS = 200

interface Slot {
  startedAt: number
  ready: boolean
}

/**
 * The primary of a multi-worker run (`MaxCpus` ≠ 1, decisions.md D4). It serves no traffic:
 * node:cluster shares the listening sockets with the workers it forks. Start-up completes only
 * when every worker reports `ready` over IPC (its listeners are open); if one reports `failed`
 * (bad configuration, port in use) or dies first, every worker is stopped and the primary
 * resolves 1 with the reason on stderr, so no process stays behind. Afterwards a worker that
 * dies is replaced with exponential backoff and counted in `processState.workerRestarts`.
 *
 * Signals: SIGQUIT is relayed to every worker and the primary exits 0 when all have exited (at
 * most GracefulShutdownTimeout + 5 s later; stragglers are killed). SIGTERM (and SIGINT) are
 * relayed as SIGTERM, exit 0. SIGUSR1 reopens the primary's log files and is relayed.
 * SIGHUP, SIGILL, SIGTRAP and SIGABRT are ignored and logged.
 */
export function runPrimary(opts: PrimaryOptions): Promise<number> {
  return new Promise((resolve) => new Primary(opts, resolve).start())
}

class Primary {
  private readonly opts: PrimaryOptions
  private readonly log: Logger
  private readonly resolve: (code: number) => void
  private readonly slots = new Map<Worker, Slot>()
  private phase: 'starting' | 'running' | 'stopping'
  /** Exit code once every worker is gone while stopping. */
  private exitCode: number
  private readonly restartTimers = new Set<NodeJS.Timeout>()
  private deathsInARow: number
  private startTimer: NodeJS.Timeout | undefined
  private port: number
  private httpsPort: number
  /** The channel to the workers' monitor side (each attaches once it serves RPC). */
  private readonly rpc: RpcClient

  constructor(opts: PrimaryOptions, resolve: (code: number) => void) {
    this.opts = opts
    this.log = opts.log
    this.resolve = resolve
    this.phase = 'starting'
    this.exitCode = 0
    this.deathsInARow = 0
    this.startTimer = undefined
    this.port = 0
    this.httpsPort = 0
    this.rpc = new RpcClient()
  }

  start(): void {
    // The workers accept on the shared listening sockets themselves (the kernel picks one), not
    // through the primary (node's round-robin default): no IPC per connection, and a worker
    // killed outright takes no connection with it that the primary had already handed over
    // (with round-robin such a connection is never answered nor closed).
    cluster.schedulingPolicy = cluster.SCHED_NONE
    processState.role = 'primary'
    processState.workers = this.opts.workers
    cluster.on('message', (w: Worker, m: unknown) => this.onMessage(w, m))
    cluster.on('exit', (w: Worker, code: number | null, signal: string | null) =>
      this.onExit(w, code, signal),
    )
    const graceMs = this.opts.conf.Server.GracefulShutdownTimeout * 1000
    installSignal('SIGQUIT', () => this.stop('SIGQUIT', graceMs + STOP_MARGIN_MS))
    installSignal('SIGTERM', () => this.stop('SIGTERM', TERM_WAIT_MS))
    installSignal('SIGINT', () => this.stop('SIGTERM', TERM_WAIT_MS))
    reopenOnSigusr1(this.log, () => this.relay('SIGUSR1'))
    ignoredSignals(this.log)
    logFatalErrors(this.log)
    this.log.info(
      { workers: this.opts.workers, confRoot: this.opts.conf.confRoot },
      'starting workers',
    )
    // Before the first fork, so that no worker's "serving RPC" message is missed.
    attachClusterWorkers(this.rpc)
    for (let i = 0; i < this.opts.workers; i++) this.fork()
    this.startTimer = setTimeout(
      () => this.startFailed(`workers not ready after ${START_TIMEOUT_MS / 1000} s`),
      START_TIMEOUT_MS,
    )
  }

  private fork(): void {
    const w = cluster.fork()
    this.slots.set(w, { startedAt: Date.now(), ready: false })
    // An IPC write to a worker that just died must not crash the primary.
    w.on('error', (err: Error) => this.log.warn({ worker: w.process.pid, err }, 'worker IPC error'))
  }

  private onMessage(w: Worker, m: unknown): void {
    if (!isLifecycleMessage(m)) return
    const slot = this.slots.get(w)
    if (slot === undefined) return
    if (m.bfeLifecycle === 'failed') {
      if (this.phase === 'starting') this.startFailed(m.reason)
      else this.log.error({ worker: w.process.pid }, `worker failed to start: ${m.reason}`)
      return
    }
    if (slot.ready) return
    slot.ready = true
    processState.workersReady++
    this.port = m.port
    this.httpsPort = m.httpsPort
    if (this.phase === 'starting' && processState.workersReady === this.opts.workers)
      void this.started()
    else if (this.phase === 'running') this.log.info({ worker: w.process.pid }, 'worker replaced')
  }

  private async started(): Promise<void> {
    if (this.startTimer !== undefined) clearTimeout(this.startTimer)

    // Every worker is listening and answers IPC: the primary opens the monitor port (D4), which
    // sums the workers' counters and runs reloads in all of them. Not opening it (port in use)
    // is a start-up failure.
    try {
      // It stays open until the primary exits (spec: the monitor outlives a graceful shutdown).
      await startPrimaryMonitor({
        conf: this.opts.conf,
        rpc: this.rpc,
        log: this.log,
        version: this.opts.version,
      })
    } catch (err) {
      this.startFailed(`monitor port: ${describeError(err)}`)
      return
    }

    if (this.phase !== 'starting') return
    this.phase = 'running'
    const s = this.opts.conf.Server
    this.log.info(
      {
        confRoot: this.opts.conf.confRoot,
        http: `${s.HttpAddr}:${this.port}`,
        https: `${s.HttpsAddr}:${this.httpsPort}`,
        workers: this.opts.workers,
      },
      'bfe started',
    )
    process.stdout.write(
      `bfe: listening on port ${this.port} with ${this.opts.workers} workers (${this.opts.confPath})\n`,
    )
    this.resolve(-1)
  }

  private onExit(w: Worker, code: number | null, signal: string | null): void {
    const slot = this.slots.get(w)
    if (slot === undefined) return
    this.slots.delete(w)
    if (slot.ready) processState.workersReady--
    const pid = w.process.pid
    if (this.phase === 'stopping') {
      if (this.slots.size === 0) this.allGone()
      return
    }
    if (this.phase === 'starting') {
      const how = signal === null ? `with status ${code}` : `on ${signal}`
      // not unref'd: with every worker gone nothing else keeps the primary alive until then
      setTimeout(
        () => this.startFailed(`worker ${pid} exited ${how} before it was ready`),
        FAILED_MESSAGE_GRACE_MS,
      )
      return
    }
    processState.workerRestarts++
    const lived = Date.now() - slot.startedAt
    this.deathsInARow = lived >= STABLE_MS ? 1 : this.deathsInARow + 1
    const delayMs = Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** (this.deathsInARow - 1))
    this.log.error(
      { worker: pid, code, signal, restarts: processState.workerRestarts, delayMs },
      'worker died; starting another',
    )
    const t = setTimeout(() => {
      this.restartTimers.delete(t)
      if (this.phase === 'running') this.fork()
    }, delayMs)
    this.restartTimers.add(t)
  }

  /** Start-up failed: the reason on stderr, every worker stopped, then resolve 1. */
  private startFailed(reason: string): void {
    if (this.phase !== 'starting') return
    if (this.startTimer !== undefined) clearTimeout(this.startTimer)
    this.phase = 'stopping'
    this.exitCode = 1
    this.log.error(`start failed: ${reason}`)
    process.stderr.write(`bfe: ${reason}\nbfe: start failed (${this.opts.confPath})\n`)
    this.relay('SIGTERM')
    this.killAfter(TERM_WAIT_MS)
    if (this.slots.size === 0) this.allGone()
  }

  private stop(sig: 'SIGQUIT' | 'SIGTERM', waitMs: number): void {
    if (this.phase === 'stopping') {
      // SIGTERM during a graceful stop: the operator wants out now.
      if (sig === 'SIGTERM') this.relay('SIGTERM')
      return
    }
    this.phase = 'stopping'
    if (this.startTimer !== undefined) clearTimeout(this.startTimer)
    for (const t of this.restartTimers) clearTimeout(t)
    this.restartTimers.clear()
    this.log.info(
      { workers: this.slots.size, waitMs },
      sig === 'SIGQUIT' ? 'SIGQUIT: graceful shutdown of every worker' : `${sig}: exiting now`,
    )
    this.relay(sig)
    if (this.slots.size === 0) {
      this.allGone()
      return
    }
    this.killAfter(waitMs)
  }

  private relay(sig: NodeJS.Signals): void {
    for (const w of this.slots.keys()) {
      try {
        w.process.kill(sig)
      } catch {
        // already gone: its 'exit' event follows
      }
    }
  }

  /** Kills the workers still there after `ms`, then the primary exits all the same. */
  private killAfter(ms: number): void {
    setTimeout(() => {
      if (this.slots.size > 0)
        this.log.warn({ workers: this.slots.size }, 'workers still running; killing them')
      this.relay('SIGKILL')
      setTimeout(() => this.allGone(), 500).unref()
    }, ms).unref()
  }

  private allGone(): void {
    if (this.exitCode !== 0) {
      // start-up failure: runCli returns the code, main exits
      this.log.info('every worker stopped')
      this.resolve(this.exitCode)
      return
    }
    this.log.info('every worker stopped, exiting')
    exitProcess(0)
  }
}
