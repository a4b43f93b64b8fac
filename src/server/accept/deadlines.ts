/*
 * Connection and request deadlines, each of its own kind, checked by one sweeper per server.
 *
 * A deadline is an epoch-ms number in a slot of its owner's `due` array (0 = not armed). The
 * sweeper walks its owners every SWEEP_INTERVAL_MS and calls `expired(kind)` for every slot that
 * has passed, after disarming it. Arming or disarming is one array store: no timer objects per
 * connection or request, which keeps the request path free of timer churn.
 */

import { SlotList } from '../../util/slot-list.js'

/** The kinds of deadline, one per purpose. */
export const Deadline = {
  /** TLS handshake (TlsHandshakeTimeout), from accept to the end of the handshake. */
  Handshake: 0,
  /** The first request header of a connection (ClientReadTimeout). */
  FirstHeader: 1,
  /** The request body (the cluster's TimeoutReadClient). */
  Body: 2,
  /** Idle between keep-alive requests (the cluster's TimeoutReadClientAgain). */
  KeepAliveIdle: 3,
  /** Writing the response to the client (the cluster's TimeoutWriteClient). */
  Write: 4,
  /** An HTTP/2 connection without open streams (TimeoutReadClientAgain). */
  Http2Idle: 5,
  /** The backend's response header (the cluster's TimeoutResponseHeader). */
  ResponseHeader: 6,
  /** The PROXY protocol header (ClientReadTimeout), when `Layer4LoadBalancer = PROXY`. */
  ProxyHeader: 7,
} as const
export type Deadline = (typeof Deadline)[keyof typeof Deadline]

export const DEADLINE_KINDS = 8

/** Something with deadlines: a connection, a request waiting for its backend. */
export interface DeadlineOwner {
  /** Epoch ms per Deadline kind; 0 = not armed. */
  readonly due: Float64Array
  /** Called by the sweeper once a deadline has passed (the slot is already disarmed). */
  expired(kind: Deadline, now: number): void
  /** Position in the sweeper's list (SlotList), -1 when not in it. */
  sweepSlot: number
}

export function newDeadlines(): Float64Array {
  return new Float64Array(DEADLINE_KINDS)
}

/** How often deadlines are checked (ms): their resolution. */
export const SWEEP_INTERVAL_MS = 100

/** Checks the deadlines of every registered owner on one interval timer. */
export class Sweeper {
  private readonly owners = new SlotList<'sweepSlot', DeadlineOwner>('sweepSlot')
  private timer: NodeJS.Timeout | undefined

  add(o: DeadlineOwner): void {
    this.owners.add(o)
  }

  delete(o: DeadlineOwner): void {
    this.owners.delete(o)
  }

  start(): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  /** Fires every passed deadline. An owner's handler may remove owners while this runs. */
  sweep(now: number): void {
    // From the end: an owner removed by a handler never makes the loop skip another. One moved
    // into a visited position is checked twice, which fires nothing: its passed slots are zero.
    const owners = this.owners
    for (let i = owners.size - 1; i >= 0; i--) {
      const o = owners.at(i)
      if (o === undefined) continue
      const due = o.due
      for (let k = 0; k < DEADLINE_KINDS; k++) {
        const t = due[k] as number
        if (t !== 0 && now > t) {
          due[k] = 0
          o.expired(k as Deadline, now)
        }
      }
    }
  }
}
