import { type SecureContext, TLSSocket, type Server as TlsServer } from 'node:tls'
import { ErrCode } from '../../basic/error-code.js'
import { type ClientHello, peekClientHello } from '../../tls/client-hello.js'
import type { TlsStage } from './acceptor.js'
import type { Conn, H2Settings } from './conn.js'

/** How one TLS connection is terminated, decided before the handshake from its ClientHello. */
export interface TlsDecision {
  /** Certificate, cipher suites, versions and (for client auth) CA and CRLs. */
  readonly context: SecureContext
  /** ALPN protocols offered to this client, in server preference order. */
  readonly alpn: readonly string[]
  /** The rule's mandatory (level 2) protocol: spoken whatever ALPN says. */
  readonly mandatory: string | undefined
  /** Client certificates are required and verified (the rule's ClientAuth). */
  readonly clientAuth: boolean
  readonly clientCAName: string
  readonly h2: H2Settings
}

/** Chooses the certificate and TLS rule of a connection (tls/tls-table.ts behind it). */
export interface TlsPolicy {
  decide(vip: string | undefined, hello: ClientHello, clientIp: string): TlsDecision
}

/** Counters of the TLS stage (names from BFE's proxy_state and tls_state). */
export interface TlsCounters {
  TLS_HANDSHAKE_ALL: number
  TLS_HANDSHAKE_SUCC: number
  TLS_HANDSHAKE_FULL_ALL: number
  TLS_HANDSHAKE_RESUME_ALL: number
  TLS_HANDSHAKE_READ_CLIENT_HELLO_ERR: number
  TLS_HANDSHAKE_NOT_TLS: number
  TLS_HANDSHAKE_CLIENT_CERT_REJECTED: number
  TLS_HANDSHAKE_ERR: number
  TLS_HANDSHAKE_ACCEPT_SSLV2_CLIENT_HELLO: number
}

export function newTlsCounters(): TlsCounters {
  return {
    TLS_HANDSHAKE_ALL: 0,
    TLS_HANDSHAKE_SUCC: 0,
    TLS_HANDSHAKE_FULL_ALL: 0,
    TLS_HANDSHAKE_RESUME_ALL: 0,
    TLS_HANDSHAKE_READ_CLIENT_HELLO_ERR: 0,
    TLS_HANDSHAKE_NOT_TLS: 0,
    TLS_HANDSHAKE_CLIENT_CERT_REJECTED: 0,
    TLS_HANDSHAKE_ERR: 0,
    TLS_HANDSHAKE_ACCEPT_SSLV2_CLIENT_HELLO: 0,
  }
}

/** A ClientHello larger than this is refused (a real one is a few hundred bytes to ~2 KiB). */
const MAX_HELLO_BYTES = 16 * 1024 + 5 * 4

/**
 * Node internals the TLS stage relies on, in one place. A server-side TLSSocket made outside a
 * tls.Server does not get tls.Server's post-handshake steps, so we do them: read OpenSSL's
 * verification result (the peer certificate check that tls.Server does when requestCert is set)
 * and clear `secureConnecting` (node:http2 waits for it before it starts reading).
 */
interface TlsSocketInternals {
  _handle: { verifyError(): Error | null } | null
  secureConnecting: boolean
}

/**
 * The TLS stage of the HTTPS listener: reads the ClientHello from the accepted socket, asks the
 * policy for certificate, rule and ALPN list, then lets node:tls do the handshake on the same
 * socket (the peeked bytes are given back to it). Plaintext on the TLS port, a malformed or
 * oversized ClientHello, a failed handshake or a rejected client certificate close the connection
 * with `CLIENT_TLS_HANDSHAKE`.
 */
export class TlsHandshake implements TlsStage {
  readonly counters: TlsCounters
  private readonly policy: () => TlsPolicy
  /** Carries session-cache and OCSP listeners for the TLS sockets (never listens itself). */
  private readonly events: TlsServer | undefined

  constructor(policy: () => TlsPolicy, events?: TlsServer) {
    this.policy = policy
    this.events = events
    this.counters = newTlsCounters()
  }

  handshake(conn: Conn, done: (proto: string) => void): void {
    const raw = conn.raw
    const counters = this.counters
    counters.TLS_HANDSHAKE_ALL++
    let buf: Buffer | undefined
    const onData = (chunk: Buffer): void => {
      buf = buf === undefined ? chunk : Buffer.concat([buf, chunk])
      const peek = peekClientHello(buf, MAX_HELLO_BYTES)
      if (peek.kind === 'more') return
      raw.off('data', onData)
      raw.pause()
      if (peek.kind === 'not-tls') {
        counters.TLS_HANDSHAKE_NOT_TLS++
        this.reject(conn, 'not a TLS ClientHello')
        return
      }
      if (peek.kind === 'bad') {
        counters.TLS_HANDSHAKE_READ_CLIENT_HELLO_ERR++
        this.reject(conn, `bad ClientHello: ${peek.reason}`)
        return
      }
      raw.unshift(buf)
      buf = undefined
      this.start(conn, peek.hello, done)
    }
    raw.on('data', onData)
  }

  private reject(conn: Conn, msg: string): void {
    conn.fail(ErrCode.ClientTlsHandshake, msg)
    conn.destroy()
  }

  private start(conn: Conn, hello: ClientHello, done: (proto: string) => void): void {
    const counters = this.counters
    const ses = conn.session
    if (hello.sslv2) counters.TLS_HANDSHAKE_ACCEPT_SSLV2_CLIENT_HELLO++
    let d: TlsDecision
    try {
      d = this.policy().decide(ses.vip, hello, ses.remoteAddr)
    } catch (err) {
      counters.TLS_HANDSHAKE_ERR++
      this.reject(conn, `no TLS rule: ${err instanceof Error ? err.message : String(err)}`)
      return
    }
    const t = new TLSSocket(conn.raw, {
      isServer: true,
      secureContext: d.context,
      requestCert: d.clientAuth,
      rejectUnauthorized: d.clientAuth,
      ALPNProtocols: d.alpn as string[],
      ...(this.events === undefined ? {} : { server: this.events }),
    })
    t.on('error', (err: NodeJS.ErrnoException) => {
      if (ses.tlsState === undefined) counters.TLS_HANDSHAKE_ERR++
      conn.fail(
        ses.tlsState === undefined ? ErrCode.ClientTlsHandshake : ErrCode.ClientClose,
        err.message,
      )
      conn.destroy()
    })
    conn.socket = t
    // Client-initiated renegotiation is a DoS lever and nothing here needs it (TLS 1.3 has none).
    t.disableRenegotiation()
    t.once('secure', () => {
      const inner = t as unknown as TlsSocketInternals
      if (d.clientAuth) {
        const handle = inner._handle
        const verr = handle === null ? new Error('connection closed') : handle.verifyError()
        if (verr !== null) {
          counters.TLS_HANDSHAKE_CLIENT_CERT_REJECTED++
          this.reject(conn, `client certificate rejected: ${verr.message}`)
          return
        }
      }
      inner.secureConnecting = false
      counters.TLS_HANDSHAKE_SUCC++
      const resumed = t.isSessionReused()
      if (resumed) counters.TLS_HANDSHAKE_RESUME_ALL++
      else counters.TLS_HANDSHAKE_FULL_ALL++
      const alpn = typeof t.alpnProtocol === 'string' ? t.alpnProtocol : ''
      const proto = d.mandatory ?? (alpn === '' ? 'http/1.1' : alpn)
      const cipher = t.getCipher()
      ses.tlsState = {
        sni: hello.sni,
        version: t.getProtocol() ?? '',
        cipher: cipher.standardName,
        resumed,
        clientAuth: d.clientAuth,
        clientCAName: d.clientAuth ? d.clientCAName : '',
        alpn: proto,
        ja3: hello.ja3,
        ja3Hash: hello.ja3Hash,
        clientCert: d.clientAuth ? t.getPeerX509Certificate()?.raw : undefined,
      }
      ses.protocol = proto === 'h2' ? 'h2' : proto === 'stream' ? 'stream' : 'https'
      conn.h2 = d.h2
      done(proto)
    })
  }
}
