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

  /** The same switches over another table (`/reload/tls_conf`). */
  withTable(table: TlsTable): TableTlsPolicy {
    return new TableTlsPolicy(table, this.disabled)
  }

  /** The same table with protocols switched on or off globally (`enable=`). */
  withSwitches(switches: readonly ProtoSwitch[]): TableTlsPolicy {
    if (switches.length === 0) return this
    const disabled = new Set(this.disabled)
    for (const s of switches) {
      if (s.on) disabled.delete(s.proto)
      else disabled.add(s.proto)
    }
    return new TableTlsPolicy(this.table, disabled)
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

/** One item of `/reload/tls_conf?enable=`: an optional protocol switched on or off globally. */
export interface ProtoSwitch {
  readonly proto: 'h2' | 'spdy'
  readonly on: boolean
}

const SWITCHES: Readonly<Record<string, ProtoSwitch>> = {
  '+h2': { proto: 'h2', on: true },
  h2: { proto: 'h2', on: true },
  '-h2': { proto: 'h2', on: false },
  '+spdy': { proto: 'spdy', on: true },
  spdy: { proto: 'spdy', on: true },
  '-spdy': { proto: 'spdy', on: false },
}

/**
 * Parses the comma list of `enable=` (`+h2`, `h2`, `-h2`, `+spdy`, `spdy`, `-spdy`), in order.
 * Other items are ignored, as BFE ignores them, and returned in `ignored`. SPDY is never offered
 * (decisions.md D19), so its switches change nothing.
 */
export function parseProtoSwitches(list: string): {
  switches: ProtoSwitch[]
  ignored: string[]
} {
  const switches: ProtoSwitch[] = []
  const ignored: string[] = []
  for (const raw of list.split(',')) {
    const item = raw.trim()
    if (item === '') continue
    const s = Object.hasOwn(SWITCHES, item) ? SWITCHES[item] : undefined
    if (s === undefined) ignored.push(item)
    else switches.push(s)
  }
  return { switches, ignored }
}
