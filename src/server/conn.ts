import type { Socket } from 'node:net'
import type { Session } from '../basic/session.js'
import type { RequestFlow } from './reverse-proxy.js'

/** One client connection: its session, its deadlines and the request in flight. */
export class Conn {
  readonly socket: Socket
  readonly session: Session
  /** Epoch ms by which the next read must complete (first header, keep-alive idle, body); 0 = none. */
  readDeadline: number
  /** Epoch ms by which the response being written must be done; 0 = none. */
  writeDeadline: number
  /** Keep-alive idle time for the next request (the last cluster's TimeoutReadClientAgain). */
  keepAliveMs: number
  /** The request being served, if any. */
  flow: RequestFlow | undefined
  /** Requests answered on this connection. */
  served: number
  closed: boolean

  constructor(socket: Socket, session: Session) {
    this.socket = socket
    this.session = session
    this.readDeadline = 0
    this.writeDeadline = 0
    this.keepAliveMs = 60_000
    this.flow = undefined
    this.served = 0
    this.closed = false
  }
}
