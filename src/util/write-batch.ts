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
 * mark would report backpressure and pause its source for nothing. A turn that holds more than
 * MAX_HELD sockets sends them in bursts of that many, so a busy turn does not keep its first
 * answers back until its end (p99 2.1-2.3 ms with bursts of 32 in the bench, against 2.0-5.9 ms
 * without a bound, at the same throughput).
 */

/** Sockets held at most before a burst goes out in the middle of a turn. */
export const MAX_HELD = 32

/** The largest write that is held: a socket's default high-water mark (16 KiB). */
export const HOLD_LIMIT = 16 * 1024

/*
 * The sockets holding writes: an array cleared in place, and a mark on each socket. (A Set cleared
 * every turn left a chain of its old hash tables, each keeping the next one alive once promoted:
 * 6 MB a second more promoted to the old generation, and a 5-9 ms mark-compact every few seconds.)
 */
const held: Socket[] = []
const kHeld: unique symbol = Symbol('bfe.heldWrites')
type Marked = Socket & { [kHeld]?: boolean }
let scheduled = false

function sendHeld(): void {
  scheduled = false
  sendAll()
}

function sendAll(): void {
  // a socket held again while this runs (a write callback) is appended and sent in this pass
  for (let i = 0; i < held.length; i++) {
    const s = held[i] as Marked
    s[kHeld] = false
    s.uncork()
  }
  held.length = 0
}

/** Holds `socket`'s writes until the end of this turn of the event loop. */
export function holdWrites(socket: Socket): void {
  const s = socket as Marked
  if (s[kHeld] === true) return
  // a full burst goes now; this socket starts the next one
  if (held.length >= MAX_HELD) sendAll()
  s[kHeld] = true
  held.push(s)
  s.cork()
  if (!scheduled) {
    scheduled = true
    setImmediate(sendHeld)
  }
}

/**
 * Before a write of `size` bytes to `socket`: held when `hold` (the caller's connection is
 * persistent) and the write is small, else what the socket holds goes now, ahead of it.
 */
export function beforeWrite(socket: Socket, size: number, hold: boolean): void {
  if (hold && size <= HOLD_LIMIT) holdWrites(socket)
  else releaseWrites(socket)
}

/** Sends what `socket` holds now; its next writes go out at once. */
export function releaseWrites(socket: Socket): void {
  const s = socket as Marked
  if (s[kHeld] !== true) return
  s[kHeld] = false
  const i = held.indexOf(s)
  if (i !== -1) held.splice(i, 1)
  s.uncork()
}

/** Whether `socket` holds writes (tests). */
export function holdsWrites(socket: Socket): boolean {
  return (socket as Marked)[kHeld] === true
}
