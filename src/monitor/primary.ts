import type { BfeConf } from '../config/bfe-conf.js'
import { type Logger, silentLogger } from '../log/logger.js'
import { attachClusterWorkers, RpcClient, type RpcOutcome } from '../process/rpc.js'
import { processStateSnapshot } from '../process/state.js'
import { type DebugAnswer, MAX_PROFILE_SECONDS } from './debug.js'
import { sumHistograms } from './delay.js'
import { sumMetrics } from './metrics.js'
import { AnswerError, type MonitorBackend, MonitorServer } from './server.js'
import type { HistogramSnapshot, MetricsSnapshot, MonitorSnapshot, MonitorSource } from './types.js'
import type { WorkerNames } from './worker.js'

export interface PrimaryMonitorOptions {
  conf: BfeConf
  /** The primary's channel to the workers (attachClusterWorkers keeps it up to date). */
  rpc: RpcClient
  log?: Logger
  /** Overrides `[Server] MonitorPort` (0 = any free port). */
  port?: number
  /** Overrides `[Server] MonitorAddr`. */
  addr?: string
  /** Version shown on the index pages. */
  version?: string | undefined
  /** How long a worker may take to answer (ms). */
  timeoutMs?: number
}

export interface PrimaryMonitor {
  /** The bound port; 0 when `MonitorEnabled = false`. */
  readonly port: number
  close(): Promise<void>
}

/**
 * The monitor port of a multi-worker run, owned by the primary (decisions.md D4). Every
 * `/monitor/<name>` asks all workers and answers with the sum (counters, gauges and histograms;
 * other values: the first worker's, as every worker runs the same configuration). A reload is
 * all-or-nothing: every worker checks the new data first (`reload-prepare`); only when all
 * accepted do they switch (`reload-commit`), else all drop it (`reload-abort`) and the answer is
 * the first refusal (file, field, reason). Reloads run one at a time.
 */
export async function startPrimaryMonitor(opts: PrimaryMonitorOptions): Promise<PrimaryMonitor> {
  const s = opts.conf.Server
  if (!s.MonitorEnabled) return { port: 0, close: async () => {} }
  const log = opts.log ?? silentLogger()
  const server = new MonitorServer({
    port: opts.port ?? s.MonitorPort,
    addr: opts.addr ?? s.MonitorAddr,
    backend: primaryBackend(
      opts.rpc,
      log,
      opts.timeoutMs,
      new Map([['process_state', processStateSnapshot]]),
    ),
    version: opts.version,
    log,
  })
  const port = await server.start()
  return { port, close: () => server.close() }
}

/**
 * The whole primary side in one call, for the process-lifecycle code: an RpcClient that follows
 * the cluster's workers (each is asked once its worker side says it is ready) and the monitor
 * port. Call it in the primary before or after forking; `close()` stops both. Throws when the
 * port cannot be opened (start-up must then fail).
 */
export async function startClusterMonitor(opts: {
  conf: BfeConf
  log?: Logger
  version?: string | undefined
  port?: number
  addr?: string
}): Promise<PrimaryMonitor & { readonly rpc: RpcClient }> {
  const rpc = new RpcClient()
  const detach = attachClusterWorkers(rpc)
  let mon: PrimaryMonitor
  try {
    mon = await startPrimaryMonitor({ ...opts, rpc })
  } catch (err) {
    detach()
    rpc.close()
    throw err
  }
  return {
    port: mon.port,
    rpc,
    async close() {
      detach()
      rpc.close()
      await mon.close()
    },
  }
}

/**
 * The answers of the workers that answered. A worker's own error (unknown handler, panic) is the
 * answer; a worker that did not answer (it is exiting, being replaced) is left out of the sum
 * unless none answered.
 */
function results(outs: RpcOutcome[]): unknown[] {
  for (const o of outs) if (!o.ok && o.remote) throw new AnswerError(o.error)
  const ok = outs.filter((o) => o.ok)
  const bad = outs.find((o) => !o.ok)
  if (ok.length === 0 && bad !== undefined && !bad.ok) throw new AnswerError(bad.error)
  return ok.map((o) => (o.ok ? o.result : undefined))
}

/** Combines the workers' snapshots of one endpoint. */
export function combineSnapshots(list: readonly MonitorSnapshot[]): MonitorSnapshot {
  const first = list[0]
  if (first === undefined) throw new AnswerError('no worker is running')
  if (first.type === 'metrics' && list.every((s) => s.type === 'metrics'))
    return sumMetrics(list as MetricsSnapshot[])
  if (first.type === 'histogram' && list.every((s) => s.type === 'histogram'))
    return sumHistograms(list as HistogramSnapshot[])
  return first
}

/**
 * The monitor side of the primary over its workers. `local` endpoints are answered by the primary
 * itself (process_state: its workers and their restarts), not asked of the workers.
 */
export function primaryBackend(
  rpc: RpcClient,
  log: Logger,
  timeoutMs?: number,
  local: ReadonlyMap<string, MonitorSource> = new Map(),
): MonitorBackend {
  let txnSeq = 0
  let queue: Promise<unknown> = Promise.resolve()
  const first = async (method: string, params: unknown, ms = timeoutMs): Promise<unknown> => {
    const id = rpc.workerIds()[0]
    if (id === undefined) throw new AnswerError('no worker is running')
    try {
      return await rpc.call(id, method, params, ms)
    } catch (err) {
      throw new AnswerError(err instanceof Error ? err.message : String(err))
    }
  }
  const all = async (method: string, params: unknown): Promise<RpcOutcome[]> => {
    try {
      return await rpc.callAll(method, params, timeoutMs)
    } catch (err) {
      throw new AnswerError(err instanceof Error ? err.message : String(err))
    }
  }
  const reloadOnce = async (name: string, query: URLSearchParams): Promise<string | undefined> => {
    const txn = ++txnSeq
    const prepared = await all('reload-prepare', { txn, name, query: query.toString() })
    const refused = prepared.find((o) => !o.ok)
    if (refused !== undefined && !refused.ok) {
      await all('reload-abort', { txn })
      throw new AnswerError(refused.error)
    }
    const committed = await all('reload-commit', { txn })
    for (const o of committed)
      if (!o.ok)
        log.error({ worker: o.workerId, name, err: o.error }, 'reload commit failed in a worker')
    const ok = committed.find((o) => o.ok)
    const v = ok?.ok ? ok.result : undefined
    return typeof v === 'string' ? v : undefined
  }
  return {
    async monitorNames() {
      const names = new Set(((await first('names', {})) as WorkerNames).monitor)
      for (const n of local.keys()) names.add(n)
      return [...names]
    },
    async reloadNames() {
      return ((await first('names', {})) as WorkerNames).reload
    },
    async monitor(name, query) {
      const own = local.get(name)
      if (own !== undefined) return own(query)
      const outs = await all('monitor', { name, query: query.toString() })
      return combineSnapshots(results(outs) as MonitorSnapshot[])
    },
    reload(name, query) {
      const run = queue.then(() => reloadOnce(name, query))
      queue = run.catch(() => {})
      return run
    },
    async debug(name, query) {
      // A CPU profile takes up to MAX_PROFILE_SECONDS.
      const ms = (MAX_PROFILE_SECONDS + 15) * 1000
      return (await first('debug', { name, query: query.toString() }, ms)) as DebugAnswer
    },
  }
}
