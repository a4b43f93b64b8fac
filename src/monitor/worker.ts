import { type RpcEndpoint, type RpcMethod, serveRpc } from '../process/rpc.js'
import { runDebug } from './debug.js'
import { describeFailure, NotFoundError } from './server.js'
import type { MonitorSource, PreparedReload, ReloadPrepare } from './types.js'

/** What a worker serves to the primary's monitor. */
export interface WorkerMonitorOptions {
  /** `BfeServer.monitorSources()`. */
  sources: () => ReadonlyMap<string, MonitorSource>
  /** `BfeServer.reloadPreparers()` (the two-phase reload preparers). */
  preparers: () => ReadonlyMap<string, ReloadPrepare>
  /** The IPC channel to the primary; `process` by default. */
  endpoint?: RpcEndpoint
  /** A prepared reload the primary never commits nor aborts is dropped after this long. */
  preparedTtlMs?: number
}

/** What serveBfeWorker needs of a BfeServer. */
export interface MonitoredServer {
  monitorSources(): ReadonlyMap<string, MonitorSource>
  reloadPreparers(): ReadonlyMap<string, ReloadPrepare>
}

/**
 * The worker side for a BfeServer, in a cluster worker after `server.listen()`:
 * `const stop = serveBfeWorker(server)`; call `stop()` before `server.close()`.
 */
export function serveBfeWorker(server: MonitoredServer): () => void {
  return serveWorkerMonitor({
    sources: () => server.monitorSources(),
    preparers: () => server.reloadPreparers(),
  })
}

/** `names`: the handler names of this worker. */
export interface WorkerNames {
  monitor: string[]
  reload: string[]
}

interface NameQuery {
  name: string
  /** The URL query string. */
  query: string
}

function nameQuery(p: unknown): NameQuery {
  const o = (typeof p === 'object' && p !== null ? p : {}) as { name?: unknown; query?: unknown }
  return {
    name: typeof o.name === 'string' ? o.name : '',
    query: typeof o.query === 'string' ? o.query : '',
  }
}

function txnOf(p: unknown): number {
  const t = (typeof p === 'object' && p !== null ? p : {}) as { txn?: unknown }
  return typeof t.txn === 'number' ? t.txn : -1
}

/**
 * The worker side of the monitor in a multi-worker run (decisions.md D4): answers the primary's
 * `names`, `monitor`, `reload-prepare` / `reload-commit` / `reload-abort` and `debug` requests
 * from this worker's own sources and reload preparers. Errors go back as the text the operator
 * reads (`monitor panic:...` for a bug). Returns a function that stops answering.
 *
 * In a worker: `serveWorkerMonitor({ sources: () => server.monitorSources(), preparers: () =>
 * server.reloadPreparers() })` after `server.listen()`.
 */
export function serveWorkerMonitor(opts: WorkerMonitorOptions): () => void {
  const ttl = opts.preparedTtlMs ?? 60_000
  const prepared = new Map<number, { p: PreparedReload; timer: NodeJS.Timeout }>()
  const take = (txn: number) => {
    const e = prepared.get(txn)
    if (e === undefined) return undefined
    prepared.delete(txn)
    clearTimeout(e.timer)
    return e.p
  }
  const methods = new Map<string, RpcMethod>([
    [
      'names',
      (): WorkerNames => ({
        monitor: [...opts.sources().keys()],
        reload: [...opts.preparers().keys()],
      }),
    ],
    [
      'monitor',
      (p) => {
        const { name, query } = nameQuery(p)
        try {
          const src = opts.sources().get(name)
          if (src === undefined) throw new NotFoundError('monitor', name)
          return src(new URLSearchParams(query))
        } catch (err) {
          throw new Error(describeFailure('monitor', err))
        }
      },
    ],
    [
      'reload-prepare',
      async (p) => {
        const { name, query } = nameQuery(p)
        const txn = txnOf(p)
        try {
          const prep = opts.preparers().get(name)
          if (prep === undefined) throw new NotFoundError('reload', name)
          const r = await prep(new URLSearchParams(query))
          for (const old of prepared.keys()) take(old)?.abort()
          const timer = setTimeout(() => take(txn)?.abort(), ttl)
          timer.unref()
          prepared.set(txn, { p: r, timer })
          return true
        } catch (err) {
          throw new Error(describeFailure('reload', err))
        }
      },
    ],
    [
      'reload-commit',
      (p) => {
        const r = take(txnOf(p))
        if (r === undefined) throw new Error('reload panic:no prepared reload to commit')
        return r.commit() ?? null
      },
    ],
    [
      'reload-abort',
      (p) => {
        take(txnOf(p))?.abort()
        return true
      },
    ],
    [
      'debug',
      (p) => {
        const { name, query } = nameQuery(p)
        return runDebug(name, new URLSearchParams(query))
      },
    ],
  ])
  const stop = serveRpc(opts.endpoint ?? (process as unknown as RpcEndpoint), methods)
  return () => {
    stop()
    for (const txn of [...prepared.keys()]) take(txn)?.abort()
  }
}
