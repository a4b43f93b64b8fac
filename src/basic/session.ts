import type { Socket } from 'node:net'

/** TLS facts recorded on a session after the handshake (absent for plain TCP). */
export interface TlsState {
  sni: string
  version: string
  cipher: string
  resumed: boolean
  /** A client certificate was requested and verified. */
  clientAuth: boolean
  /** `ClientCAName` of the TLS rule that verified the client, '' when none. */
  clientCAName: string
  /** The protocol the connection speaks: the ALPN result, or the rule's mandatory protocol. */
  alpn: string
  /** JA3 fingerprint of the ClientHello, and its MD5 (hex). */
  ja3: string
  ja3Hash: string
  /** The verified client certificate (DER), when client authentication ran. */
  clientCert: Buffer | undefined
}

export interface SessionInit {
  remoteAddr: string
  remotePort: number
  /** BFE's own address of this connection (the socket's local IP). */
  localAddr?: string | undefined
  /** Virtual IP the client connected to (known only through the PROXY protocol). */
  vip?: string | undefined
  vipPort?: number
  /** Real TCP peer when the PROXY protocol supplied the remote address. */
  balancerAddr?: string | undefined
  isSecure?: boolean
  protocol?: string
  startTime?: number
  /** The accepted TCP socket. */
  connection?: Socket | undefined
}

let sessionSeq = 0

/** One client connection. Every field is initialised here so the object keeps one shape. */
export class Session {
  /** Process-local sequence number; mod_logid may set `id` to a log-friendly id. */
  readonly seq: number
  id: string
  startTime: number
  endTime: number
  remoteAddr: string
  remotePort: number
  /** BFE's own IP on this connection ('' when unknown). */
  localAddr: string
  vip: string | undefined
  vipPort: number
  balancerAddr: string | undefined
  /** Product found from the VIP at accept time ('' when unknown). */
  product: string
  isSecure: boolean
  /** Session protocol: `http`, `https`, `h2`, `stream`, `ws`, `wss`. */
  protocol: string
  /** Set by mod_trust_clientip. */
  isTrustIp: boolean
  tlsState: TlsState | undefined
  /** Session-level error code (`CLIENT_TIMEOUT` ...), undefined when none. */
  errCode: string | undefined
  errMsg: string
  /** Requests read on this session. */
  reqNum: number
  /** Requests currently in flight on this session. */
  reqNumActive: number
  /** The client sent `Expect: 100-continue` on this session. */
  useExpect100: boolean
  /** Local port the client connected to (0 when unknown); `localAddr` holds the IP. */
  localPort: number
  /** Bytes read from / written to the client connection, set when it closes (0 before). */
  bytesRead: number
  bytesWritten: number
  /** Requests answered on the connection (keep-alive count), set when it closes. */
  keepAliveNum: number
  /** TLS client random (hex) from the ClientHello, '' on plain TCP. */
  tlsClientRandom: string
  /** TLS server random (hex), '' when unknown (Node does not expose it). */
  tlsServerRandom: string
  /**
   * TLS key log lines (NSS format, with newline) of the handshake, collected only when a module
   * set an array here before the handshake (mod_key_log, at HandleAccept).
   */
  tlsKeyLog: Buffer[] | undefined
  /** Free-form values for modules. */
  readonly context: Map<string, unknown>
  /** The accepted TCP socket (BFE's session.Connection: socket options such as keep-alive). */
  readonly connection: Socket | undefined
  /** `remotePort` as text, and the port it was made from (remotePortText). */
  private portText: string
  private portTextOf: number

  constructor(init: SessionInit) {
    this.seq = ++sessionSeq
    this.id = ''
    this.startTime = init.startTime ?? Date.now()
    this.endTime = 0
    this.remoteAddr = init.remoteAddr
    this.remotePort = init.remotePort
    this.localAddr = init.localAddr ?? ''
    this.vip = init.vip
    this.vipPort = init.vipPort ?? 0
    this.balancerAddr = init.balancerAddr
    this.product = ''
    this.isSecure = init.isSecure ?? false
    this.protocol = init.protocol ?? (this.isSecure ? 'https' : 'http')
    this.isTrustIp = false
    this.tlsState = undefined
    this.errCode = undefined
    this.errMsg = ''
    this.reqNum = 0
    this.reqNumActive = 0
    this.useExpect100 = false
    this.localPort = 0
    this.bytesRead = 0
    this.bytesWritten = 0
    this.keepAliveNum = 0
    this.tlsClientRandom = ''
    this.tlsServerRandom = ''
    this.tlsKeyLog = undefined
    this.context = new Map()
    this.connection = init.connection
    this.portText = ''
    this.portTextOf = -1
  }

  /** `remotePort` as text, made once per connection (forwarding headers carry it on every request). */
  get remotePortText(): string {
    if (this.portTextOf !== this.remotePort) {
      this.portText = String(this.remotePort)
      this.portTextOf = this.remotePort
    }
    return this.portText
  }
}
