import cluster, { type Worker } from 'node:cluster'

/**
 * A small typed request/response channel over node:cluster IPC (decisions.md D4): the primary asks
 * workers (`monitor`, `reload-prepare` ...) and each worker answers from its own state. Requests
 * carry ids; an answer that does not come within the timeout, or a worker that exits or
 * disconnects first, rejects the call.
 */

/** The IPC envelope of a request (primary → worker). */
export interface RpcRequest {
  readonly bfeRpc: 'req'
  readonly id: number
  readonly method: string
  readonly params: unknown
}

/** The IPC envelope of an answer (worker → primary). */
export interface RpcResponse {
  readonly bfeRpc: 'res'
  readonly id: number
  readonly ok: boolean
  readonly result?: unknown
  /** The error message when `ok` is false. */
  readonly error?: string
}

/** One end of an IPC channel to a worker: a cluster Worker, a ChildProcess, or a test double. */
export interface RpcPeer {
  readonly id: number
  send(message: RpcRequest): boolean
  on(event: 'message', fn: (message: unknown) => void): unknown
  on(event: 'exit' | 'disconnect', fn: () => void): unknown
  off(event: 'message', fn: (message: unknown) => void): unknown
  off(event: 'exit' | 'disconnect', fn: () => void): unknown
}

/** A failed call: the worker's own error message, or why no answer came. */
export class RpcError extends Error {
  readonly workerId: number
  /** The worker answered with this error (false: no answer came). */
  readonly remote: boolean
  constructor(workerId: number, message: string, remote = false) {
    super(message)
    this.name = 'RpcError'
    this.workerId = workerId
    this.remote = remote
  }
}

export const DEFAULT_RPC_TIMEOUT_MS = 10_000

interface Pending {
  resolve(v: unknown): void
  reject(e: Error): void
  timer: NodeJS.Timeout
}

/** The primary's side: calls into any number of workers. */
export class RpcClient {
  private readonly timeoutMs: number
  private nextId = 1
  private readonly peers = new Map<
    number,
    { peer: RpcPeer; pending: Map<number, Pending>; detach(): void }
  >()

  constructor(opts: { timeoutMs?: number } = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS
  }

  /** Starts listening to `peer` (a worker that is up). */
  attach(peer: RpcPeer): void {
    if (this.peers.has(peer.id)) return
    const pending = new Map<number, Pending>()
    const onMessage = (m: unknown) => {
      if (!isResponse(m)) return
      const p = pending.get(m.id)
      if (p === undefined) return
      pending.delete(m.id)
      clearTimeout(p.timer)
      if (m.ok) p.resolve(m.result)
      else p.reject(new RpcError(peer.id, m.error ?? 'worker error', true))
    }
    const onGone = () => this.detach(peer.id, `worker ${peer.id} is gone`)
    peer.on('message', onMessage)
    peer.on('exit', onGone)
    peer.on('disconnect', onGone)
    this.peers.set(peer.id, {
      peer,
      pending,
      detach: () => {
        peer.off('message', onMessage)
        peer.off('exit', onGone)
        peer.off('disconnect', onGone)
      },
    })
  }

  /** Stops talking to a worker; its calls in flight fail with `reason`. */
  detach(id: number, reason = `worker ${id} detached`): void {
    const e = this.peers.get(id)
    if (e === undefined) return
    this.peers.delete(id)
    e.detach()
    for (const p of e.pending.values()) {
      clearTimeout(p.timer)
      p.reject(new RpcError(id, reason))
    }
    e.pending.clear()
  }

  /** Ids of the attached workers, in attach order. */
  workerIds(): number[] {
    return [...this.peers.keys()]
  }

  /** Calls `method` in one worker. */
  call(
    workerId: number,
    method: string,
    params: unknown,
    timeoutMs = this.timeoutMs,
  ): Promise<unknown> {
    const e = this.peers.get(workerId)
    if (e === undefined) return Promise.reject(new RpcError(workerId, `worker ${workerId} is gone`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        e.pending.delete(id)
        reject(
          new RpcError(
            workerId,
            `worker ${workerId} did not answer ${method} within ${timeoutMs} ms`,
          ),
        )
      }, timeoutMs)
      e.pending.set(id, { resolve, reject, timer })
      // send() returning false only means "queued"; a closed channel throws or emits
      // 'disconnect', which rejects the call.
      try {
        e.peer.send({ bfeRpc: 'req', id, method, params })
      } catch (err) {
        clearTimeout(timer)
        e.pending.delete(id)
        reject(new RpcError(workerId, `cannot reach worker ${workerId}: ${errorText(err)}`))
      }
    })
  }

  /**
   * Calls `method` in every attached worker. Resolves with one outcome per worker (in worker
   * order); fails only when no worker is attached.
   */
  async callAll(
    method: string,
    params: unknown,
    timeoutMs = this.timeoutMs,
  ): Promise<RpcOutcome[]> {
    const ids = this.workerIds()
    if (ids.length === 0) throw new RpcError(0, 'no worker is running')
    return Promise.all(
      ids.map((id) =>
        this.call(id, method, params, timeoutMs).then(
          (result): RpcOutcome => ({ workerId: id, ok: true, result }),
          (err: unknown): RpcOutcome => ({
            workerId: id,
            ok: false,
            remote: err instanceof RpcError && err.remote,
            error: err instanceof Error ? err.message : String(err),
          }),
        ),
      ),
    )
  }

  /** Detaches every worker (their calls fail). */
  close(): void {
    for (const id of [...this.peers.keys()]) this.detach(id, 'monitor closed')
  }
}

export type RpcOutcome =
  | { readonly workerId: number; readonly ok: true; readonly result: unknown }
  | {
      readonly workerId: number
      readonly ok: false
      /** The worker's own error (false: it did not answer). */
      readonly remote: boolean
      readonly error: string
    }

/** A worker-side method: params in, a JSON-able result (or a Promise of one) out; throws to fail. */
export type RpcMethod = (params: unknown) => unknown

/** What the worker's side needs of its process: `process` itself in a cluster worker. */
export interface RpcEndpoint {
  send?: ((message: RpcResponse) => boolean) | undefined
  on(event: 'message', fn: (message: unknown) => void): unknown
  off(event: 'message', fn: (message: unknown) => void): unknown
}

/**
 * The worker's side: answers every request for a known method. Returns a function that stops
 * answering.
 */
export function serveRpc(
  endpoint: RpcEndpoint,
  methods: ReadonlyMap<string, RpcMethod>,
): () => void {
  const reply = (m: RpcResponse) => {
    try {
      endpoint.send?.(m)
    } catch {
      // The primary is gone; nobody is waiting.
    }
  }
  const onMessage = (m: unknown) => {
    if (!isRequest(m)) return
    const fn = methods.get(m.method)
    if (fn === undefined) {
      reply({ bfeRpc: 'res', id: m.id, ok: false, error: `unknown method ${m.method}` })
      return
    }
    let r: unknown
    try {
      r = fn(m.params)
    } catch (err) {
      reply({ bfeRpc: 'res', id: m.id, ok: false, error: errorText(err) })
      return
    }
    Promise.resolve(r).then(
      (result) => reply({ bfeRpc: 'res', id: m.id, ok: true, result }),
      (err: unknown) => reply({ bfeRpc: 'res', id: m.id, ok: false, error: errorText(err) }),
    )
  }
  endpoint.on('message', onMessage)
  // Tells the primary that this worker answers from now on (attachClusterWorkers waits for it).
  try {
    endpoint.send?.({ bfeRpc: 'ready' } as unknown as RpcResponse)
  } catch {
    // no primary
  }
  return () => {
    endpoint.off('message', onMessage)
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function isRequest(m: unknown): m is RpcRequest {
  return (
    typeof m === 'object' &&
    m !== null &&
    (m as { bfeRpc?: unknown }).bfeRpc === 'req' &&
    typeof (m as { id?: unknown }).id === 'number' &&
    typeof (m as { method?: unknown }).method === 'string'
  )
}

function isResponse(m: unknown): m is RpcResponse {
  return (
    typeof m === 'object' &&
    m !== null &&
    (m as { bfeRpc?: unknown }).bfeRpc === 'res' &&
    typeof (m as { id?: unknown }).id === 'number'
  )
}

/** A cluster worker as an RpcPeer. */
export function clusterPeer(w: Worker): RpcPeer {
  return {
    id: w.id,
    send: (m) => w.send(m),
    on: (event: string, fn: (m: unknown) => void) => w.on(event, fn),
    off: (event: string, fn: (m: unknown) => void) => w.off(event, fn),
  } as RpcPeer
}

/**
 * In the primary: attaches every cluster worker to `rpc` once it says it serves RPC (its
 * `serveRpc` sends `ready`), and detaches it when it exits. Returns a function that stops.
 */
export function attachClusterWorkers(rpc: RpcClient): () => void {
  const onMessage = (w: Worker, m: unknown) => {
    if (typeof m === 'object' && m !== null && (m as { bfeRpc?: unknown }).bfeRpc === 'ready')
      rpc.attach(clusterPeer(w))
  }
  const onExit = (w: Worker) => rpc.detach(w.id, `worker ${w.id} exited`)
  cluster.on('message', onMessage)
  cluster.on('exit', onExit)
  return () => {
    cluster.off('message', onMessage)
    cluster.off('exit', onExit)
  }
}
