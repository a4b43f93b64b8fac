/**
 * Start-up messages from a worker to the primary over the cluster IPC channel. The primary
 * declares itself started only when every worker has said `ready`; one `failed` (or a worker
 * that exits first) ends the whole start-up with that reason.
 */
export type LifecycleMessage =
  | { readonly bfeLifecycle: 'ready'; readonly port: number; readonly httpsPort: number }
  | { readonly bfeLifecycle: 'failed'; readonly reason: string }

export function isLifecycleMessage(m: unknown): m is LifecycleMessage {
  if (typeof m !== 'object' || m === null) return false
  const k = (m as { bfeLifecycle?: unknown }).bfeLifecycle
  return k === 'ready' || k === 'failed'
}

/** Sends `m` to the primary (no-op without an IPC channel). Resolves once it is written. */
export function sendToPrimary(m: LifecycleMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) {
      resolve()
      return
    }
    process.send(m, undefined, {}, () => resolve())
  })
}
