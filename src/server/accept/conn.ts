import type { Socket } from 'node:net'
import type { Session } from '../../basic/session.js'
import type { ConnProtocol } from '../runtime.js'
import { type Deadline, type DeadlineOwner, newDeadlines } from './deadlines.js'

/** Who drives a connection at its current stage (the acceptor, then a protocol engine). */
export interface ConnHandler {
  /** One of the connection's deadlines has passed. */
  expired(conn: Conn, kind: Deadline, now: number): void
  /** The connection has closed (before HandleFinish runs). */
  closed(conn: Conn): void
  /** Graceful shutdown: end the connection as soon as it has no request in flight. */
  drain(conn: Conn): void
}

/** Server settings of an HTTP/2 connection, from its TLS rule. */
export interface H2Settings {
  readonly maxConcurrentStreams: number
  readonly initialWindowSize: number
}

/** A request in flight on an HTTP/1 connection. */
export interface InFlight {
  /** The client went away. */
  clientGone(): void
  /** The backend's response header did not come in time. */
  headerTimeout(): void
  /** The request body did not come in time: true when the request answered it (408). */
  bodyTimedOut?(): boolean
}

/**
 * One client connection from accept to close: the socket the engine reads (the TLS socket once
 * the handshake is done), its session and its deadlines. Engines keep their own per-request state.
 */
export class Conn implements DeadlineOwner {
  /** The accepted TCP socket. */
  readonly raw: Socket
  /** The socket the protocol engine uses: `raw`, or the TLS socket over it. */
  socket: Socket
  readonly session: Session
  readonly due: Float64Array
  /** Who handles this connection's deadlines (the acceptor, then the protocol engine). */
  handler: ConnHandler | undefined
  /** Keep-alive idle time for the next request (the last cluster's TimeoutReadClientAgain). */
  keepAliveMs: number
  /** Requests answered on this connection. */
  served: number
  /** HTTP/2 settings from the connection's TLS rule (h2 `mcs`, `isw`); undefined on plain TCP. */
  h2: H2Settings | undefined
  /** PROXY protocol version the TLS rule's `stream` entry sends to the backend (`pp`, 0 = none). */
  streamProxyProtocol: number
  /** The HTTP/1 request being served, if any. */
  current: InFlight | undefined
  /** The protocol the connection is counted under in proxy_state (once known). */
  proto: ConnProtocol | undefined
  closed: boolean
  /** Position in the server's connection list and in the deadline sweeper's (SlotList). */
  connSlot: number
  sweepSlot: number

  constructor(raw: Socket, session: Session) {
    this.connSlot = -1
    this.sweepSlot = -1
    this.raw = raw
    this.socket = raw
    this.session = session
    this.due = newDeadlines()
    this.handler = undefined
    this.keepAliveMs = 60_000
    this.served = 0
    this.h2 = undefined
    this.streamProxyProtocol = 0
    this.current = undefined
    this.proto = undefined
    this.closed = false
  }

  expired(kind: Deadline, now: number): void {
    this.handler?.expired(this, kind, now)
  }

  /** Sets the session error once: the first cause of a connection's end is the one logged. */
  fail(code: string, msg = ''): void {
    if (this.session.errCode !== undefined) return
    this.session.errCode = code
    this.session.errMsg = msg
  }

  destroy(): void {
    this.socket.destroy()
    if (this.socket !== this.raw) this.raw.destroy()
  }
}
