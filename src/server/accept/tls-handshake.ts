import { type SecureContext, TLSSocket, type Server as TlsServer } from 'node:tls'
import { ErrCode } from '../../basic/error-code.js'
import type { ProxyDelays } from '../../monitor/delay.js'
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
  /** The rule's `stream` entry `pp`: PROXY protocol version for stream backends (0 = none). */
  readonly proxyProtocol: number
  /** The OCSP response to staple for the chosen certificate, if it has one. */
  readonly ocsp: Buffer | undefined
}

/** Chooses the certificate and TLS rule of a connection (tls/tls-table.ts behind it). */
export interface TlsPolicy {
  decide(
    vip: string | undefined,
    hello: ClientHello,
    clientIp: string,
    counters: TlsCounters,
  ): TlsDecision
}

/**
 * Counters of the TLS stage, under BFE's names (spec/monitor.md: proxy_state's TLS names and
 * tls_state), every one present from start-up. Node's TLS stack hides some of the internals BFE
 * counts, so those are best effort: FULL/RESUME are known once a handshake has finished;
 * ACCEPT_ECDHE_WITHOUT_EXT and SSLV2_NOT_SUPPORT stay 0. Ours, not BFE's:
 * TLS_HANDSHAKE_NOT_TLS (plaintext on the TLS port) and TLS_HANDSHAKE_CLIENT_CERT_REJECTED.
 */
export interface TlsCounters {
  TLS_HANDSHAKE_ALL: number
  TLS_HANDSHAKE_SUCC: number
  TLS_HANDSHAKE_READ_CLIENT_HELLO_ERR: number
  TLS_HANDSHAKE_FULL_ALL: number
  TLS_HANDSHAKE_FULL_SUCC: number
  TLS_HANDSHAKE_RESUME_ALL: number
  TLS_HANDSHAKE_RESUME_SUCC: number
  TLS_HANDSHAKE_CHECK_RESUME_SESSION_TICKET: number
  TLS_HANDSHAKE_SHOULD_RESUME_SESSION_TICKET: number
  TLS_HANDSHAKE_CHECK_RESUME_SESSION_CACHE: number
  TLS_HANDSHAKE_SHOULD_RESUME_SESSION_CACHE: number
  TLS_HANDSHAKE_ACCEPT_SSLV2_CLIENT_HELLO: number
  TLS_HANDSHAKE_ACCEPT_ECDHE_WITHOUT_EXT: number
  TLS_HANDSHAKE_NO_SHARED_CIPHER_SUITE: number
  TLS_HANDSHAKE_SSLV2_NOT_SUPPORT: number
  TLS_HANDSHAKE_OCSP_TIME_ERR: number
  TLS_HANDSHAKE_ZERO_DATA: number
  TLS_STATUS_REQUEST_EXT_COUNT: number
  TLS_MULTI_CERT_GET: number
  TLS_MULTI_CERT_CONN_WITHOUT_VIP: number
  TLS_MULTI_CERT_CONN_VIP_UNKNOWN: number
  TLS_MULTI_CERT_CONN_WITHOUT_SNI: number
  TLS_MULTI_CERT_USE_DEFAULT: number
  TLS_MULTI_CERT_UPDATE: number
  TLS_MULTI_CERT_UPDATE_ERR: number
  TLS_HANDSHAKE_NOT_TLS: number
  TLS_HANDSHAKE_CLIENT_CERT_REJECTED: number
}

export function newTlsCounters(): TlsCounters {
  return {
    TLS_HANDSHAKE_ALL: 0,
    TLS_HANDSHAKE_SUCC: 0,
    TLS_HANDSHAKE_READ_CLIENT_HELLO_ERR: 0,
    TLS_HANDSHAKE_FULL_ALL: 0,
    TLS_HANDSHAKE_FULL_SUCC: 0,
    TLS_HANDSHAKE_RESUME_ALL: 0,
    TLS_HANDSHAKE_RESUME_SUCC: 0,
    TLS_HANDSHAKE_CHECK_RESUME_SESSION_TICKET: 0,
    TLS_HANDSHAKE_SHOULD_RESUME_SESSION_TICKET: 0,
    TLS_HANDSHAKE_CHECK_RESUME_SESSION_CACHE: 0,
    TLS_HANDSHAKE_SHOULD_RESUME_SESSION_CACHE: 0,
    TLS_HANDSHAKE_ACCEPT_SSLV2_CLIENT_HELLO: 0,
    TLS_HANDSHAKE_ACCEPT_ECDHE_WITHOUT_EXT: 0,
    TLS_HANDSHAKE_NO_SHARED_CIPHER_SUITE: 0,
    TLS_HANDSHAKE_SSLV2_NOT_SUPPORT: 0,
    TLS_HANDSHAKE_OCSP_TIME_ERR: 0,
    TLS_HANDSHAKE_ZERO_DATA: 0,
    TLS_STATUS_REQUEST_EXT_COUNT: 0,
    TLS_MULTI_CERT_GET: 0,
    TLS_MULTI_CERT_CONN_WITHOUT_VIP: 0,
    TLS_MULTI_CERT_CONN_VIP_UNKNOWN: 0,
    TLS_MULTI_CERT_CONN_WITHOUT_SNI: 0,
    TLS_MULTI_CERT_USE_DEFAULT: 0,
    TLS_MULTI_CERT_UPDATE: 0,
    TLS_MULTI_CERT_UPDATE_ERR: 0,
    TLS_HANDSHAKE_NOT_TLS: 0,
    TLS_HANDSHAKE_CLIENT_CERT_REJECTED: 0,
  }
}

/** TLS extension numbers the counters look at. */
const EXT_STATUS_REQUEST = 5
const EXT_SESSION_TICKET = 35
const EXT_PRE_SHARED_KEY = 41

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
  /**
   * A tls.Server that never listens and carries the session-cache and OCSP listeners of the TLS
   * sockets, for a certificate's OCSP response (or none).
   */
  private readonly events: (ocsp: Buffer | undefined) => TlsServer | undefined
  /** Handshake duration histograms (proxy_handshake_delay and its full / resume variants). */
  private readonly delays: ProxyDelays | undefined

  constructor(
    policy: () => TlsPolicy,
    events: (ocsp: Buffer | undefined) => TlsServer | undefined,
    delays?: ProxyDelays,
  ) {
    this.policy = policy
    this.events = events
    this.delays = delays
    this.counters = newTlsCounters()
  }

  handshake(conn: Conn, done: (proto: string) => void): void {
    const raw = conn.raw
    const counters = this.counters
    counters.TLS_HANDSHAKE_ALL++
    const began = Date.now()
    let buf: Buffer | undefined
    const onEnd = (): void => {
      if (buf === undefined) counters.TLS_HANDSHAKE_ZERO_DATA++
    }
    raw.once('end', onEnd)
    const onData = (chunk: Buffer): void => {
      buf = buf === undefined ? chunk : Buffer.concat([buf, chunk])
      const peek = peekClientHello(buf, MAX_HELLO_BYTES)
      if (peek.kind === 'more') return
      raw.off('data', onData)
      raw.off('end', onEnd)
      raw.pause()
      if (peek.kind === 'not-tls') {
        counters.TLS_HANDSHAKE_READ_CLIENT_HELLO_ERR++
        counters.TLS_HANDSHAKE_NOT_TLS++
        this.reject(conn, 'not a TLS ClientHello')
        return
      }
      if (peek.kind === 'bad') {
        counters.TLS_HANDSHAKE_READ_CLIENT_HELLO_ERR++
        this.reject(conn, `bad ClientHello: ${peek.reason}`)
        return
      }
      // The client random: after the record header (5), handshake header (4) and version (2).
      if (!peek.hello.sslv2 && buf.length >= 43)
        conn.session.tlsClientRandom = buf.toString('hex', 11, 43)
      raw.unshift(buf)
      buf = undefined
      this.start(conn, peek.hello, began, done)
    }
    raw.on('data', onData)
  }

  private reject(conn: Conn, msg: string): void {
    conn.fail(ErrCode.ClientTlsHandshake, msg)
    conn.destroy()
  }

  private start(
    conn: Conn,
    hello: ClientHello,
    began: number,
    done: (proto: string) => void,
  ): void {
    const counters = this.counters
    const ses = conn.session
    if (hello.sslv2) counters.TLS_HANDSHAKE_ACCEPT_SSLV2_CLIENT_HELLO++
    const ext = hello.extensions
    if (ext.includes(EXT_STATUS_REQUEST)) counters.TLS_STATUS_REQUEST_EXT_COUNT++
    const ticketOffered = ext.includes(EXT_SESSION_TICKET) || ext.includes(EXT_PRE_SHARED_KEY)
    if (ticketOffered) counters.TLS_HANDSHAKE_CHECK_RESUME_SESSION_TICKET++
    let d: TlsDecision
    try {
      d = this.policy().decide(ses.vip, hello, ses.remoteAddr, counters)
    } catch (err) {
      this.reject(conn, `no TLS rule: ${err instanceof Error ? err.message : String(err)}`)
      return
    }
    const t = new TLSSocket(conn.raw, {
      isServer: true,
      secureContext: d.context,
      requestCert: d.clientAuth,
      rejectUnauthorized: d.clientAuth,
      ALPNProtocols: d.alpn as string[],
      server: this.events(d.ocsp),
    })
    const onTlsError = (err: NodeJS.ErrnoException): void => {
      if (ses.tlsState === undefined) {
        if (/no shared cipher/i.test(err.message)) counters.TLS_HANDSHAKE_NO_SHARED_CIPHER_SUITE++
        conn.fail(ErrCode.ClientTlsHandshake, err.message)
      } else conn.fail(ErrCode.ClientClose, err.message)
      conn.destroy()
    }
    t.on('error', onTlsError)
    // Key log lines only when a module asked for them (OpenSSL's key log callback costs nothing
    // while no listener is attached).
    const keyLog = ses.tlsKeyLog
    if (keyLog !== undefined) t.on('keylog', (line: Buffer) => keyLog.push(line))
    // Before the handshake ends node:tls reports failures only as '_tlsError'.
    t.on('_tlsError', onTlsError)
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
      const delays = this.delays
      if (delays !== undefined) {
        const now = Date.now()
        delays.handshake.addSince(began, now)
        ;(resumed ? delays.handshakeResume : delays.handshakeFull).addSince(began, now)
      }
      if (resumed) {
        counters.TLS_HANDSHAKE_RESUME_ALL++
        counters.TLS_HANDSHAKE_RESUME_SUCC++
        if (ticketOffered) counters.TLS_HANDSHAKE_SHOULD_RESUME_SESSION_TICKET++
      } else {
        counters.TLS_HANDSHAKE_FULL_ALL++
        counters.TLS_HANDSHAKE_FULL_SUCC++
      }
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
      conn.streamProxyProtocol = d.proxyProtocol
      done(proto)
    })
  }
}
