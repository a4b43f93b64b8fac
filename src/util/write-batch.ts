import type { Socket } from 'node:net'

/*
 * Small writes held until the end of the event-loop turn, then sent socket by socket in one
 * burst (each socket corked, uncorked from one setImmediate).
 *
 * One turn of the loop handles the events of many connections: backend responses to relay,
 * client requests to forward. Written at once, each write reaches its peer (the client, the
 * backend) while that peer may have gone back to sleep since the previous one, and every write
 * pays for waking it: on a virtual machine an inter-processor interrupt, the largest kernel cost
 * of the proxy (docs/performance.md §16). Sent together at the end of the turn, the first write
 * wakes the peer and the others find it awake. The number of write calls does not change (a
 * socket's several writes become one writev); no write waits for more than the rest of the turn.
 *
 * Large writes are not held (`releaseWrites` first): held, a chunk above the socket's high-water
 * mark would report backpressure and pause its source for nothing.
 */

const held = new Set<Socket>()
let scheduled = false

function sendHeld(): void {
  scheduled = false
  for (const s of held) s.uncork()
  held.clear()
}

/** Holds `socket`'s writes until the end of this turn of the event loop. */
export function holdWrites(socket: Socket): void {
  if (held.has(socket)) return
  held.add(socket)
  socket.cork()
  if (!scheduled) {
    scheduled = true
    setImmediate(sendHeld)
  }
}

/** Sends what `socket` holds now; its next writes go out at once. */
export function releaseWrites(socket: Socket): void {
  if (held.delete(socket)) socket.uncork()
}

/** Whether `socket` holds writes (tests). */
export function holdsWrites(socket: Socket): boolean {
  return held.has(socket)
}
