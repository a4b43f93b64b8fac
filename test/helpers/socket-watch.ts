import type { Socket } from 'node:net'

/**
 * What the raw test clients share: the connection's close as seen from the client, and waits
 * that wake on every event (at most 200 ms apart, so no wait sleeps longer than that).
 */
export class SocketWatch {
  readonly socket: Socket
  closed = false
  /** Time (ms since epoch) the server closed the connection, 0 while open. */
  closedAt = 0
  private waiters: (() => void)[] = []

  protected constructor(socket: Socket) {
    this.socket = socket
    socket.on('close', () => {
      this.closed = true
      this.closedAt = Date.now()
      this.wake()
    })
  }

  /** Resolves true when the server closes the connection within `timeoutMs`. */
  async waitClose(timeoutMs = 2000): Promise<boolean> {
    const end = Date.now() + timeoutMs
    while (!this.closed) {
      const left = end - Date.now()
      if (left <= 0) return false
      await this.wait(left)
    }
    return true
  }

  close(): void {
    this.socket.destroy()
  }

  /** Waits until something happens on the connection, or `ms` (at most 200) pass. */
  protected wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, Math.min(ms, 200))
      this.waiters.push(() => {
        clearTimeout(t)
        resolve()
      })
    })
  }

  /** Wakes every waiter (call on every event). */
  protected wake(): void {
    const ws = this.waiters
    this.waiters = []
    for (const w of ws) w()
  }
}
