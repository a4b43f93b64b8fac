import type { ClientHello } from '../../tls/client-hello.js'
import type { TlsTable } from '../../tls/tls-table.js'
import type { TlsCounters, TlsDecision, TlsPolicy } from './tls-handshake.js'

/**
 * The TLS stage's policy over a loaded TLS table: certificate by VIP, SNI or default, rule by VIP,
 * SNI or default, ALPN list by the rule and the client's hash bucket (protocols.md §1).
 */
export class TableTlsPolicy implements TlsPolicy {
  readonly table: TlsTable
  /** Protocols switched off globally (`/reload/tls_conf?enable=-h2`). */
  readonly disabled: ReadonlySet<string>

  constructor(table: TlsTable, disabled: ReadonlySet<string> = new Set()) {
    this.table = table
    this.disabled = disabled
  }

  decide(
    vip: string | undefined,
    hello: ClientHello,
    clientIp: string,
    counters: TlsCounters,
  ): TlsDecision {
    const t = this.table
    const rule = t.selectRule(vip, hello.sni)
    const cert = t.selectCert(vip, hello.sni)
    counters.TLS_MULTI_CERT_GET++
    if (vip === undefined || vip === '') counters.TLS_MULTI_CERT_CONN_WITHOUT_VIP++
    else if (!t.hasVip(vip)) counters.TLS_MULTI_CERT_CONN_VIP_UNKNOWN++
    if (hello.sni === '') counters.TLS_MULTI_CERT_CONN_WITHOUT_SNI++
    if (cert === t.defaultCert) counters.TLS_MULTI_CERT_USE_DEFAULT++
    return {
      context: t.secureContext(cert, rule),
      alpn: t.offeredProtocols(rule, clientIp, this.disabled),
      mandatory: rule.mandatory,
      clientAuth: rule.clientAuth,
      clientCAName: rule.clientCaName,
      h2: rule.h2,
      proxyProtocol: rule.proxyProtocol,
      ocsp: cert.ocspResponse,
    }
  }
}
