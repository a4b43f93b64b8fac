import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { ClusterConf } from '../config/cluster-conf-types.js'
import type { WebSocketStateCounters } from '../monitor/state-counters.js'
import { backendTlsOptions } from './backend-tls.js'
import type { ForwardSink, UpstreamAttempt } from './forward.js'
import { responseHeaderStrings } from './hop-headers.js'

/*
 * WebSocket proxying (protocols.md §4, decisions.md D20): the handshake to the backend on a
 * connection of its own, then a byte tunnel between client and backend.
 *
 * The handshake does not use the undici pools: an upgraded connection never goes back to a pool,
 * and undici's upgrade API turns a non-101 answer into an error ("bad upgrade"), while BFE relays
 * that answer to the client. So each attempt dials the backend itself (net.connect, or
 * tls.connect for `Protocol: https`, within the cluster's TimeoutConnSrv; a failure here is the
 * only retryable one) and writes the request with node:http's client on that socket, which parses
 * the answer: a 101 arrives as 'upgrade' with the socket and any bytes that followed the head;
 * anything else as an ordinary response whose body streams to the client through the pipeline.
 */

/** The backend's 101: status line parts and headers as received (flat `[name, value, ...]`). */
export interface SwitchResponse {
  status: number
  statusText: string
  headers: string[]
}

/** What the pipeline hears from a handshake attempt: ForwardSink's reports, plus the switch. */
export interface TunnelSink extends ForwardSink {
  /**
   * The backend accepted the upgrade. The sink owns `socket` from now on (it must relay `res`,
   * `head` — bytes the backend sent right after its 101 — and then join the connections, or
   * destroy the socket).
   */
  upstreamUpgrade(attempt: UpstreamAttempt, res: SwitchResponse, socket: Socket, head: Buffer): void
}

/** The handshake request as it goes to the backend. */
export interface TunnelRequest {
  method: string
  /** Origin-form request-target. */
  path: string
  /** Headers with `Connection: Upgrade` and `Upgrade` kept (hop-headers.ts). */
  headers: string[]
}

/**
 * One handshake attempt to one backend: dial, send the request, read the answer, report to the
 * sink. `abort()` (client gone, header deadline) ends it and reports `upstreamError`.
 */
export class TunnelAttempt implements UpstreamAttempt {
  gotHeaders: boolean
  private readonly sink: TunnelSink
  private readonly state: WebSocketStateCounters
  private readonly socket: Socket
  private connected: boolean
  /** The attempt has ended (response relayed, failed or aborted). */
  finished: boolean
  private timer: NodeJS.Timeout | undefined
  private creq: ClientRequest | undefined
  private res: IncomingMessage | undefined

  constructor(
    backend: { readonly addr: string; readonly port: number },
    cc: ClusterConf,
    req: TunnelRequest,
    sink: TunnelSink,
    state: WebSocketStateCounters,
  ) {
    this.gotHeaders = false
    this.sink = sink
    this.state = state
    this.connected = false
    this.finished = false
    this.timer = undefined
    this.creq = undefined
    this.res = undefined
    const https = cc.BackendConf.Protocol === 'https'
    const host = backend.addr
    const socket = https
      ? tlsConnect({
          host,
          port: backend.port,
          ...backendTlsOptions(cc.HTTPSConf),
          // A WebSocket handshake is HTTP/1.1 (RFC 8441's HTTP/2 variant is not offered).
          ALPNProtocols: ['http/1.1'],
        })
      : netConnect({ host, port: backend.port })
    socket.on('error', (err: Error) => this.failed(err))
    socket.setNoDelay(true)
    this.socket = socket
    const ms = cc.BackendConf.TimeoutConnSrv
    if (ms > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.failed(
          Object.assign(new Error(`connect timeout after ${ms} ms`), { code: 'ETIMEDOUT' }),
        )
      }, ms)
      this.timer.unref()
    }
    socket.once(https ? 'secureConnect' : 'connect', () => this.onConnect(req))
  }

  abort(err: Error): void {
    // The pipeline stops the attempt (client gone, response-header deadline): only the deadline
    // is the backend's failure.
    this.failed(err, (err as { code?: unknown }).code === 'UND_ERR_HEADERS_TIMEOUT')
  }

  resume(): void {
    this.res?.resume()
  }

  private onConnect(req: TunnelRequest): void {
    if (this.finished) return
    this.connected = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    const socket = this.socket
    const creq = httpRequest({
      createConnection: () => socket,
      method: req.method,
      path: req.path,
      headers: req.headers,
      setHost: false,
    })
    this.creq = creq
    creq.on('error', (err: Error) => this.failed(err))
    creq.on('information', (info: { statusCode: number }) => {
      // node:http reports a 101 without `Connection: upgrade` as informational.
      if (info.statusCode === 101) this.rejected('101 without Connection: upgrade')
    })
    creq.on('upgrade', (res: IncomingMessage, s: Socket, head: Buffer) =>
      this.onUpgrade(res, s, head),
    )
    creq.on('response', (res: IncomingMessage) => this.onResponse(res))
    creq.end()
  }

  private onUpgrade(res: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.finished) {
      socket.destroy()
      return
    }
    const upgrade = res.headers.upgrade
    if (typeof upgrade !== 'string' || upgrade.trim().toLowerCase() !== 'websocket') {
      this.rejected(`backend switched to ${String(upgrade)}, not websocket`)
      return
    }
    this.finished = true
    this.gotHeaders = true
    this.sink.upstreamUpgrade(
      this,
      {
        status: 101,
        statusText: res.statusMessage ?? 'Switching Protocols',
        headers: res.rawHeaders,
      },
      socket,
      head,
    )
  }

  /** A non-101 answer: relayed to the client as a normal response, then the connection ends. */
  private onResponse(res: IncomingMessage): void {
    if (this.finished) return
    this.res = res
    this.gotHeaders = true
    this.state.WEB_SOCKET_ERR_BACKEND_REJECT++
    this.state.WEB_SOCKET_ERR_HANDSHAKE++
    res.on('error', (err: Error) => this.failed(err))
    res.on('data', (chunk: Buffer) => {
      if (!this.finished && !this.sink.upstreamData(this, chunk)) res.pause()
    })
    res.on('end', () => {
      if (this.finished) return
      this.finished = true
      this.socket.destroy()
      this.sink.upstreamEnd(this, [])
    })
    if (
      !this.sink.upstreamHeaders(this, res.statusCode ?? 502, responseHeaderStrings(res.rawHeaders))
    )
      res.pause()
  }

  /** The backend answered with a switch that is not a WebSocket one. */
  private rejected(msg: string): void {
    if (this.finished) return
    this.state.WEB_SOCKET_ERR_BACKEND_REJECT++
    this.failed(new Error(`WebSocket handshake refused by the backend: ${msg}`))
  }

  private failed(err: Error, count = true): void {
    if (this.finished) return
    this.finished = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    // A failure while relaying a refusal was counted with the refusal.
    if (count && !this.gotHeaders) {
      if (this.connected) this.state.WEB_SOCKET_ERR_HANDSHAKE++
      else this.state.WEB_SOCKET_ERR_CONNECT++
    }
    this.creq?.destroy()
    this.socket.destroy()
    this.sink.upstreamError(this, err, this.gotHeaders)
  }
}

/** Dials `backend` and sends the WebSocket handshake; the outcome reaches `sink`. */
export function openTunnel(
  backend: { readonly addr: string; readonly port: number },
  cc: ClusterConf,
  req: TunnelRequest,
  sink: TunnelSink,
  state: WebSocketStateCounters,
): TunnelAttempt {
  return new TunnelAttempt(backend, cc, req, sink, state)
}

/** The status line and headers of a 101 as bytes for the client. */
export function switchHead(res: SwitchResponse): Buffer {
  let s = `HTTP/1.1 101 ${res.statusText}\r\n`
  const h = res.headers
  for (let i = 0; i + 1 < h.length; i += 2) s += `${h[i]}: ${h[i + 1]}\r\n`
  return Buffer.from(`${s}\r\n`, 'latin1')
}

/** After one side has closed, the other gets this long to finish before it is cut (BFE's 250 ms). */
export const TUNNEL_LINGER_MS = 250

/**
 * Bytes both ways between a client and a backend connection after a 101, with backpressure on
 * each direction (a side that cannot write pauses the other side's reads). When one side ends or
 * closes, the other is ended too and destroyed `TUNNEL_LINGER_MS` later if it has not closed by
 * then; an error on either side destroys both. `done` runs once, when the client connection has
 * closed (at once, so that HandleRequestFinish comes before the connection's HandleFinish); a
 * backend still open then is ended and cut after the linger time on its own.
 */
export class Tunnel {
  private readonly client: Socket
  private readonly backend: Socket
  private readonly state: WebSocketStateCounters
  private readonly done: (err: Error | undefined) => void
  private err: Error | undefined
  private ended: boolean
  private timer: NodeJS.Timeout | undefined

  constructor(
    client: Socket,
    backend: Socket,
    state: WebSocketStateCounters,
    done: (err: Error | undefined) => void,
  ) {
    this.client = client
    this.backend = backend
    this.state = state
    this.done = done
    this.err = undefined
    this.ended = false
    this.timer = undefined
  }

  /**
   * Starts the relay: `clientHead` (client bytes read along with the handshake) goes to the
   * backend, `backendHead` (backend bytes read along with its 101) to the client, then whatever
   * either side sends.
   */
  start(clientHead: Buffer, backendHead: Buffer): void {
    const { client, backend, state } = this
    backend.on('error', (err: Error) => this.fail(err))
    backend.on('end', () => this.closeSoon(client))
    backend.once('close', () => this.closeSoon(client))
    if (client.destroyed) {
      // The client left while the backend was answering (its 'close' may be past already).
      process.nextTick(() => this.clientGone())
      return
    }
    client.on('error', (err: Error) => this.fail(err))
    client.on('end', () => this.closeSoon(backend))
    client.once('close', () => this.clientGone())
    if (backendHead.length > 0) {
      state.WEB_SOCKET_BYTES_SENT += backendHead.length
      client.write(backendHead)
    }
    if (clientHead.length > 0) {
      state.WEB_SOCKET_BYTES_RECV += clientHead.length
      backend.write(clientHead)
    }
    client.on('data', (chunk: Buffer) => {
      state.WEB_SOCKET_BYTES_RECV += chunk.length
      if (!backend.write(chunk)) client.pause()
    })
    backend.on('data', (chunk: Buffer) => {
      state.WEB_SOCKET_BYTES_SENT += chunk.length
      if (!client.write(chunk)) backend.pause()
    })
    backend.on('drain', () => client.resume())
    client.on('drain', () => backend.resume())
    client.resume()
    backend.resume()
  }

  /** The client connection has closed (the connection layer or the tunnel saw it): the end. */
  clientGone(): void {
    if (this.ended) return
    this.ended = true
    this.closeSoon(this.backend)
    if (this.err !== undefined) this.state.WEB_SOCKET_ERR_TRANSFER++
    this.done(this.err)
  }

  /** Request deadlines do not apply to a tunnel. */
  headerTimeout(): void {}

  /** Ends both sides now. */
  destroy(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.client.destroy()
    this.backend.destroy()
  }

  private fail(err: Error): void {
    if (this.err === undefined && !this.ended) this.err = err
    this.destroy()
  }

  /** One side ended: end the other (its pending bytes flush), cut both after the linger time. */
  private closeSoon(other: Socket): void {
    if (other.writable) other.end()
    if (this.timer !== undefined || (this.client.destroyed && this.backend.destroyed)) return
    this.timer = setTimeout(() => this.destroy(), TUNNEL_LINGER_MS)
    this.timer.unref()
  }
}
