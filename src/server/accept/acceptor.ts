import type { Socket } from 'node:net'
import { ErrCode } from '../../basic/error-code.js'
import { Session } from '../../basic/session.js'
import type { Logger } from '../../log/logger.js'
import { HandlerResult } from '../../module/callback-point.js'
import { runAcceptFilters } from '../../module/handler-list.js'
import type { HandlerTable } from '../../module/registry.js'
import { plainIp } from '../../util/ip.js'
import type { SlotList } from '../../util/slot-list.js'
import { countConnProtocol, type ProxyCounters, uncountConnProtocol } from '../runtime.js'
import { Conn, type ConnHandler } from './conn.js'
import { Deadline, type Sweeper } from './deadlines.js'
import type { ProxyProtocolStage } from './proxy-protocol.js'

/** A protocol engine: takes over a connection once its protocol is known. */
export interface Engine {
  serve(conn: Conn): void
}

/** The TLS stage of an HTTPS connection (accept/tls-handshake.ts). */
export interface TlsStage {
  /**
   * Runs the handshake over `conn.raw`. On success `conn.socket` is the TLS socket, the session
   * holds the TLS state, and `done` gets the protocol to speak (`http/1.1`, `h2`, `stream`); on
   * failure the stage has closed the connection and `done` is not called.
   */
  handshake(conn: Conn, done: (proto: string) => void): void
}

/** What the acceptor reads from its server. */
export interface AcceptContext {
  readonly handlers: HandlerTable
  readonly counters: ProxyCounters
  readonly log: Logger
  readonly sweeper: Sweeper
  readonly conns: SlotList<'connSlot', Conn>
  readonly shuttingDown: boolean
  onUnexpected(err: unknown): void
  /** The product of a VIP by vip_rule.data ('' when none): set on sessions with a PROXY VIP. */
  productByVip?(vip: string): string
}

/**
 * The connection stages before a protocol engine (lifecycle.md §2): session, the PROXY header
 * (with `Layer4LoadBalancer = PROXY`), HandleAccept, TLS handshake and HandleHandshake, then the
 * engine chosen by the ALPN result (BFE's TLSNextProto table). HandleFinish runs when the
 * connection closes, whatever stage it reached.
 */
export class Acceptor implements ConnHandler {
  private readonly ctx: AcceptContext
  private readonly engines: ReadonlyMap<string, Engine>
  private readonly tls: TlsStage | undefined
  private readonly handshakeMs: number
  private readonly proxy: ProxyProtocolStage | undefined

  /**
   * `engines` maps a protocol name to its engine and must hold `http/1.1`. `tls` makes this the
   * acceptor of an HTTPS port; `proxy` reads a PROXY protocol header first.
   */
  constructor(
    ctx: AcceptContext,
    engines: ReadonlyMap<string, Engine>,
    tls?: { stage: TlsStage; handshakeTimeoutMs: number },
    proxy?: ProxyProtocolStage,
  ) {
    this.ctx = ctx
    this.engines = engines
    this.tls = tls?.stage
    this.handshakeMs = tls?.handshakeTimeoutMs ?? 0
    this.proxy = proxy
  }

  /** The `net.Server` connection listener. */
  readonly onConnection = (raw: Socket): void => {
    const ctx = this.ctx
    raw.on('error', (err: NodeJS.ErrnoException) => onSocketError(conn, err))
    const session = new Session({
      remoteAddr: plainIp(raw.remoteAddress ?? ''),
      remotePort: raw.remotePort ?? 0,
      localAddr: plainIp(raw.localAddress ?? ''),
      isSecure: this.tls !== undefined,
      connection: raw,
    })
    session.localPort = raw.localPort ?? 0
    const conn = new Conn(raw, session)
    conn.handler = this
    ctx.conns.add(conn)
    ctx.sweeper.add(conn)
    ctx.counters.CLIENT_CONN_SERVED++
    ctx.counters.CLIENT_CONN_ACTIVE++
    raw.once('close', () => this.onClose(conn))
    if (ctx.shuttingDown) {
      raw.destroy()
      return
    }
    if (this.proxy !== undefined) this.proxy.read(conn, () => this.accepted(conn))
    else this.accepted(conn)
  }

  /** After the PROXY header (if any): the VIP's product, then HandleAccept. */
  private accepted(conn: Conn): void {
    if (conn.closed) return
    const ses = conn.session
    if (ses.vip !== undefined && this.ctx.productByVip !== undefined)
      ses.product = this.ctx.productByVip(ses.vip)
    if (this.tls !== undefined) conn.due[Deadline.Handshake] = Date.now() + this.handshakeMs
    this.runConnFilters(conn, this.ctx.handlers.accept, false)
  }

  expired(conn: Conn, kind: Deadline): void {
    if (kind === Deadline.ProxyHeader) {
      this.proxy?.expired(conn)
      return
    }
    if (kind !== Deadline.Handshake) return
    conn.fail(ErrCode.ClientTlsHandshake, 'TLS handshake timeout')
    this.ctx.counters.ERR_CLIENT_TIMEOUT++
    conn.destroy()
  }

  closed(_conn: Conn): void {}

  /** Still before any request (accept filters or handshake): nothing to wait for. */
  drain(conn: Conn): void {
    conn.destroy()
  }

  /** HandleAccept (handshake = false) or HandleHandshake (true), then the next stage. */
  private runConnFilters(conn: Conn, list: HandlerTable['accept'], handshake: boolean): void {
    if (list.length === 0) {
      this.next(conn, handshake)
      return
    }
    let r: HandlerResult | Promise<HandlerResult>
    try {
      r = runAcceptFilters(list, conn.session)
    } catch (err) {
      this.ctx.onUnexpected(err)
      conn.destroy()
      return
    }
    if (typeof r === 'number') {
      if (r === HandlerResult.Close) conn.destroy()
      else this.next(conn, handshake)
      return
    }
    conn.socket.pause()
    r.then(
      (v) => {
        if (conn.closed) return
        if (v === HandlerResult.Close) {
          conn.destroy()
          return
        }
        conn.socket.resume()
        this.next(conn, handshake)
      },
      (err: unknown) => {
        this.ctx.onUnexpected(err)
        conn.destroy()
      },
    )
  }

  private next(conn: Conn, afterHandshake: boolean): void {
    if (conn.closed) return
    const tls = this.tls
    if (tls === undefined) {
      this.startEngine(conn, 'http/1.1')
      return
    }
    if (afterHandshake) {
      this.startEngine(conn, conn.session.tlsState?.alpn ?? 'http/1.1')
      return
    }
    tls.handshake(conn, (proto) => {
      conn.due[Deadline.Handshake] = 0
      if (conn.closed) return
      const st = conn.session.tlsState
      if (st !== undefined) st.alpn = proto
      conn.socket.on('close', () => this.onClose(conn))
      this.runConnFilters(conn, this.ctx.handlers.handshake, true)
    })
  }

  private startEngine(conn: Conn, proto: string): void {
    const engine = this.engines.get(proto) ?? this.engines.get('http/1.1')
    if (engine === undefined) {
      conn.destroy()
      return
    }
    conn.proto = countConnProtocol(
      this.ctx.counters,
      this.tls === undefined
        ? 'http'
        : proto === 'h2'
          ? 'h2'
          : proto === 'stream'
            ? 'stream'
            : 'https',
      conn.proto,
    )
    engine.serve(conn)
  }

  private onClose(conn: Conn): void {
    if (conn.closed) return
    conn.closed = true
    const ctx = this.ctx
    ctx.conns.delete(conn)
    ctx.sweeper.delete(conn)
    ctx.counters.CLIENT_CONN_ACTIVE--
    uncountConnProtocol(ctx.counters, conn.proto)
    if (conn.socket !== conn.raw) conn.socket.destroy()
    else if (!conn.raw.destroyed) conn.raw.destroy()
    const ses = conn.session
    ses.endTime = Date.now()
    // Bytes as the client sent and received them (the TCP socket; TLS records included).
    ses.bytesRead = conn.raw.bytesRead
    ses.bytesWritten = conn.raw.bytesWritten
    ses.keepAliveNum = conn.served
    conn.handler?.closed(conn)
    if (ses.errCode === undefined && conn.served === 0) ses.errCode = ErrCode.ClientClose
    for (const f of ctx.handlers.finish) {
      try {
        const r = f(ses)
        if (typeof r !== 'number') r.catch((err: unknown) => ctx.onUnexpected(err))
      } catch (err) {
        ctx.onUnexpected(err)
      }
    }
  }
}

function onSocketError(conn: Conn, err: NodeJS.ErrnoException): void {
  conn.fail(err.code === 'ECONNRESET' ? ErrCode.ClientReset : ErrCode.ClientClose, err.message)
}
