import { connect, type Socket } from 'node:net'
import { pipeline } from 'node:stream'
import type { Backend } from '../../balance/backend.js'
import { ErrCode } from '../../basic/error-code.js'
import { BfeRequest } from '../../basic/request.js'
import { newStreamStateCounters, type StreamStateCounters } from '../../monitor/state-counters.js'
import type { Engine } from '../accept/acceptor.js'
import type { Conn, ConnHandler } from '../accept/conn.js'
import { encodeProxyHeader } from '../accept/proxy-protocol.js'
import type { ServerContext } from '../runtime.js'

export interface StreamEngineSettings {
  /** Connect timeout per attempt (BFE: 1000 ms). */
  connectTimeoutMs: number
  /** Attempts, each balancing anew (BFE: 3). */
  attempts: number
}

export const DEFAULT_STREAM_SETTINGS: StreamEngineSettings = {
  connectTimeoutMs: 1000,
  attempts: 3,
}

/** One client connection of the engine: its backend attempt, then the tunnel. */
class Tunnel {
  readonly conn: Conn
  readonly client: Socket
  /** A request with no method, URI or header, for the product and route lookups. */
  readonly req: BfeRequest
  attempts: number
  backend: Backend | undefined
  upstream: Socket | undefined
  connectTimer: NodeJS.Timeout | undefined
  /** Bytes of the PROXY header written to the backend (not client bytes). */
  headerBytes: number
  /** Directions finished (client → backend, backend → client). */
  ended: number
  /** Why the last attempt failed (the session's error if every attempt fails). */
  lastCode: string
  lastMsg: string
  done: boolean

  constructor(conn: Conn) {
    this.conn = conn
    this.client = conn.socket
    this.req = new BfeRequest(conn.session, { method: '', rawUri: '', proto: '', headers: [] })
    this.attempts = 0
    this.backend = undefined
    this.upstream = undefined
    this.connectTimer = undefined
    this.headerBytes = 0
    this.ended = 0
    this.lastCode = ErrCode.RetryTooMany
    this.lastMsg = 'stream: no backend'
    this.done = false
  }
}

const kTunnel = Symbol('bfe.tunnel')
type TunnelConn = Conn & { [kTunnel]?: Tunnel }

/**
 * The TLS stream proxy (protocols.md §5): a connection that negotiated `stream` (ALPN, or a
 * rule whose only protocol is `stream;level=2`) is relayed as bytes to a backend. Product from
 * the VIP or DefaultProduct, cluster by the product's route rules (evaluated on a request that
 * has only the session), backend by the cluster's balancer; up to `attempts` connects with a
 * timeout each, re-balancing every time. With the rule's `pp=1|2` a PROXY header (client
 * address, VIP or local address) goes first. Then bytes flow both ways with backpressure; an end
 * on one side is passed on as a half-close, and the tunnel closes when both directions have
 * ended or either fails. No request deadline applies; graceful shutdown closes tunnels when its
 * timeout ends (BfeServer.shutdown closes whatever is left).
 */
export class StreamEngine implements Engine, ConnHandler {
  readonly counters: StreamStateCounters
  private readonly ctx: ServerContext
  private readonly settings: StreamEngineSettings

  /** `counters`: the server's stream_state group (a fresh one when not given). */
  constructor(
    ctx: ServerContext,
    settings: StreamEngineSettings = DEFAULT_STREAM_SETTINGS,
    counters = newStreamStateCounters(),
  ) {
    this.ctx = ctx
    this.settings = settings
    this.counters = counters
  }

  serve(conn: Conn): void {
    conn.handler = this
    conn.session.protocol = 'stream'
    const t = new Tunnel(conn)
    ;(conn as TunnelConn)[kTunnel] = t
    // Client bytes wait in the socket (up to its buffer, then TCP pushes back) until the
    // backend is connected; an end from the client is passed on, not answered with our own.
    t.client.allowHalfOpen = true
    t.client.pause()
    try {
      this.nextAttempt(t)
    } catch (err) {
      this.panic(t, err)
    }
  }

  /** No deadline is armed on a stream connection. */
  expired(): void {}

  closed(conn: Conn): void {
    const t = (conn as TunnelConn)[kTunnel]
    if (t !== undefined) this.finish(t, false)
  }

  /** Graceful shutdown leaves tunnels open; BfeServer.shutdown closes them at its timeout. */
  drain(): void {}

  /** Balances and connects, or gives up after `attempts` (STREAM_ERR_PROXY). */
  private nextAttempt(t: Tunnel): void {
    const c = this.counters
    while (t.attempts < this.settings.attempts) {
      t.attempts++
      const b = this.balance(t)
      if (b === undefined) {
        c.STREAM_ERR_BALANCE++
        continue
      }
      this.connect(t, b)
      return
    }
    c.STREAM_ERR_PROXY++
    t.conn.fail(t.lastCode, t.lastMsg)
    this.finish(t, false)
  }

  /** Product, cluster and backend for one attempt; undefined when any is missing. */
  private balance(t: Tunnel): Backend | undefined {
    const rt = this.ctx.runtime
    const req = t.req
    if (!rt.findProduct(req)) {
      this.failAttempt(t, ErrCode.FindProduct, 'stream: no product for this connection')
      return undefined
    }
    const name = rt.findCluster(req)
    if (name === undefined) {
      this.failAttempt(t, ErrCode.FindLocation, `stream: ${req.errMsg}`)
      return undefined
    }
    req.clusterName = name
    req.backend.clusterName = name
    const bal = rt.balancer(name)
    if (bal === undefined) {
      this.failAttempt(t, ErrCode.NoCluster, `stream: no balancer for cluster ${name}`)
      return undefined
    }
    const pick = bal.balance(req, 0)
    if (!pick.ok) {
      this.failAttempt(t, pick.code, `stream: ${pick.msg}`)
      return undefined
    }
    const b = pick.backend
    req.backend.subclusterName = b.subCluster
    req.backend.backendName = b.name
    req.backend.backendAddr = b.addr
    req.backend.backendPort = b.port
    return b
  }

  private failAttempt(t: Tunnel, code: string, msg: string): void {
    t.lastCode = code
    t.lastMsg = msg
  }

  private connect(t: Tunnel, b: Backend): void {
    b.activeRequests++
    t.backend = b
    const up = connect({ host: b.addr, port: b.port, allowHalfOpen: true, noDelay: true })
    up.on('error', (err) => this.upstreamError(t, up, err))
    t.upstream = up
    t.connectTimer = setTimeout(() => {
      this.upstreamError(
        t,
        up,
        new Error(`connect timeout after ${this.settings.connectTimeoutMs} ms`),
      )
    }, this.settings.connectTimeoutMs)
    up.once('connect', () => {
      clearTimeout(t.connectTimer)
      t.connectTimer = undefined
      try {
        this.relay(t, up)
      } catch (err) {
        this.panic(t, err)
      }
    })
  }

  /** A backend socket failed: before its connect, the next attempt; after, the tunnel ends. */
  private upstreamError(t: Tunnel, up: Socket, err: Error): void {
    if (t.done || t.upstream !== up) return
    if (!up.connecting && t.connectTimer === undefined) return // the relay reports it
    clearTimeout(t.connectTimer)
    t.connectTimer = undefined
    up.destroy()
    t.upstream = undefined
    if (t.backend !== undefined) t.backend.activeRequests--
    t.backend = undefined
    this.counters.STREAM_ERR_CONNECT++
    this.failAttempt(t, ErrCode.ConnectBackend, `stream: ${err.message}`)
    this.nextAttempt(t)
  }

  private relay(t: Tunnel, up: Socket): void {
    if (t.done) return
    const ses = t.conn.session
    const pp = t.conn.streamProxyProtocol
    if (pp === 1 || pp === 2) {
      const local = t.conn.raw
      const header = encodeProxyHeader(
        pp,
        { addr: ses.remoteAddr, port: ses.remotePort },
        ses.vip !== undefined && ses.vip !== ''
          ? { addr: ses.vip, port: ses.vipPort }
          : { addr: local.localAddress ?? '', port: local.localPort ?? 0 },
      )
      if (header === undefined) {
        t.conn.fail(ErrCode.Internal, 'stream: no address for the PROXY header')
        this.finish(t, true)
        return
      }
      t.headerBytes = header.length
      up.write(header)
    }
    const onEnd = (err: Error | null | undefined): void => {
      if (err) {
        this.finish(t, true)
        return
      }
      if (++t.ended === 2) this.finish(t, false)
    }
    pipeline(t.client, up, onEnd)
    pipeline(up, t.client, onEnd)
  }

  /** Ends the tunnel once: counts its bytes, releases the backend, closes both sockets. */
  private finish(t: Tunnel, failed: boolean): void {
    if (t.done) return
    t.done = true
    clearTimeout(t.connectTimer)
    const c = this.counters
    if (failed) {
      c.STREAM_ERR_TRANSFER++
      if (t.conn.session.errCode === undefined)
        t.conn.fail(ErrCode.TransportBroken, 'stream: transfer failed')
    }
    const up = t.upstream
    if (up !== undefined) {
      c.STREAM_BYTES_RECV += Math.max(0, up.bytesWritten - t.headerBytes)
      c.STREAM_BYTES_SENT += up.bytesRead
      up.destroy()
    }
    if (t.backend !== undefined) t.backend.activeRequests--
    t.backend = undefined
    t.conn.destroy()
  }

  private panic(t: Tunnel, err: unknown): void {
    this.counters.STREAM_PANIC_CONN++
    this.ctx.log.error({ err }, 'unexpected error while serving a stream connection')
    this.finish(t, false)
  }
}
