import type { ClientHello } from '../../tls/client-hello.js'
import type { TlsTable } from '../../tls/tls-table.js'
import type { TlsDecision, TlsPolicy } from './tls-handshake.js'

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

  decide(vip: string | undefined, hello: ClientHello, clientIp: string): TlsDecision {
    const t = this.table
    const rule = t.selectRule(vip, hello.sni)
    const cert = t.selectCert(vip, hello.sni)
    return {
      context: t.secureContext(cert, rule),
      alpn: t.offeredProtocols(rule, clientIp, this.disabled),
      mandatory: rule.mandatory,
      clientAuth: rule.clientAuth,
      clientCAName: rule.clientCaName,
      h2: rule.h2,
    }
  }
}
