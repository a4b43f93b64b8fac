import { createHash, constants as cryptoConstants } from 'node:crypto'
import tls, { type SecureContext, type SecureContextOptions } from 'node:tls'
import ipaddr from 'ipaddr.js'
import { BfeConfError } from '../basic/errors.js'
import type { BfeConf } from '../config/bfe-conf.js'
import {
  loadServerCertConf,
  type ServerCert,
  type ServerCertConf,
} from '../config/server-cert-conf.js'
import { loadSessionTicketKey } from '../config/session-ticket-key.js'
import {
  type ClientCa,
  checkTlsRuleCerts,
  loadClientCas,
  loadTlsRuleConf,
  matchHostname,
  type NextProto,
  ProtoLevel,
  ruleCert,
  TlsGrade,
  TlsProto,
  type TlsRuleConf,
} from '../config/tls-rule-conf.js'
import { normalizeIp } from '../util/ip.js'
import { murmur3Sum32 } from '../util/murmur3-32.js'

/** HTTP/2 settings of a rule (BFE's defaults: 200 streams, 65535 window). */
export interface H2Settings {
  readonly maxConcurrentStreams: number
  readonly initialWindowSize: number
}

/** A TLS rule as used per connection (the default rule has `label` undefined). */
export interface TlsServerRule {
  readonly label: string | undefined
  /** Effective protocols: the rule's NextProtos, or DefaultNextProtos when it has none. */
  readonly protos: readonly NextProto[]
  readonly grade: TlsGrade
  readonly clientAuth: boolean
  /** Client CA name ('' unless clientAuth). */
  readonly clientCaName: string
  readonly chacha20: boolean
  /** Not implemented by Node's TLS stack; kept for information. */
  readonly dynamicRecord: boolean
  readonly h2: H2Settings
  /** PROXY protocol version for `stream` backends (0 = none). */
  readonly proxyProtocol: number
  /** The protocol forced even without ALPN (a lone level-2 protocol), else undefined. */
  readonly mandatory: TlsProto | undefined
}

export interface TlsTableOptions {
  /**
   * How an IPv4 client address is hashed for ALPN rate buckets. BFE hashes Go's `net.IP` of the
   * connection's remote address: 16 bytes (IPv4-mapped) on its default dual-stack listener
   * (`HttpsAddr` empty), 4 bytes when it listens on an IPv4 address. Default 16.
   */
  ipv4HashBytes?: 4 | 16
}

export interface LoadTlsConfOptions extends TlsTableOptions {
  /** Time for OCSP response checks (default now). */
  now?: Date
  /** Read the TLS data files from this directory (reload `path=`): same base names. */
  dir?: string
  /**
   * The session ticket key in force (`/reload/tls_conf`): used instead of reading
   * session_ticket_key.data, which only `/reload/tls_session_ticket_key` re-reads.
   */
  ticketKey?: Buffer | undefined
}

export interface TlsConf {
  readonly bfeConf: BfeConf
  readonly certs: ServerCertConf
  readonly rules: TlsRuleConf
  readonly clientCas: ReadonlyMap<string, ClientCa>
  /** 48-byte ticket key; undefined when tickets are disabled. */
  readonly ticketKey: Buffer | undefined
  /** False when [SessionTicket] SessionTicketsDisabled is true. */
  readonly ticketsEnabled: boolean
}

const DEFAULT_H2: H2Settings = { maxConcurrentStreams: 200, initialWindowSize: 65535 }
const HTTP11_ONLY: readonly string[] = Object.freeze([TlsProto.Http11])

/** BFE cipher suite names → OpenSSL names; undefined = not offered by Node (decisions.md D5). */
const OPENSSL_CIPHERS: Readonly<Record<string, string | undefined>> = {
  TLS_RSA_WITH_RC4_128_SHA: undefined,
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: undefined,
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_RC4_128_SHA: undefined,
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_RC4_128_SHA: undefined,
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: undefined,
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
}

const CURVES: Readonly<Record<string, string>> = {
  CurveP256: 'P-256',
  CurveP384: 'P-384',
  CurveP521: 'P-521',
}

const VERSIONS = {
  VersionSSL30: 'TLSv1', // SSLv3 cannot be offered; bfe-conf already warned
  VersionTLS10: 'TLSv1',
  VersionTLS11: 'TLSv1.1',
  VersionTLS12: 'TLSv1.2',
  VersionTLS13: 'TLSv1.3',
} as const satisfies Record<string, tls.SecureVersion>
const VERSION_ORDER: readonly tls.SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']

/**
 * OpenSSL cipher list (TLS ≤ 1.2) for one priority list of BFE names: one entry per level,
 * `a|b` kept in written order (OpenSSL has no equal-priority groups), duplicates dropped, names
 * Node cannot offer dropped (reported in `dropped`), ChaCha20 suites only when `chacha20`
 * (BFE offers them only to rules with Chacha20). RC4 and 3DES, the only suites BFE's grades
 * filter, are never offered, so the grade does not change the list.
 */
export function cipherList(
  levels: readonly string[],
  chacha20: boolean,
  dropped: Set<string> = new Set(),
): string[] {
  const out: string[] = []
  for (const level of levels) {
    for (const raw of level.split('|')) {
      const name = raw.trim()
      const ossl = OPENSSL_CIPHERS[name]
      if (ossl === undefined) {
        dropped.add(name)
        continue
      }
      if (!chacha20 && ossl.includes('CHACHA20')) continue
      if (!out.includes(ossl)) out.push(ossl)
    }
  }
  return out
}

/** Bucket (0–99) of a client IP for ALPN presence rates: BFE's murmur3.Sum32(ip) % 100. */
export function clientBucket(ip: string, ipv4HashBytes: 4 | 16 = 16): number {
  let addr: ipaddr.IPv4 | ipaddr.IPv6
  try {
    addr = ipaddr.process(ip.startsWith('[') ? ip.slice(1, -1) : ip)
  } catch {
    return 0
  }
  let bytes: number[]
  if (addr.kind() === 'ipv4') {
    const v4 = addr as ipaddr.IPv4
    bytes = ipv4HashBytes === 4 ? v4.toByteArray() : v4.toIPv4MappedAddress().toByteArray()
  } else {
    bytes = addr.toByteArray()
  }
  return murmur3Sum32(Uint8Array.from(bytes)) % 100
}

/**
 * The immutable TLS state of one load: certificate and rule selection, ALPN lists and one
 * SecureContext per distinct (certificate, grade, chacha20, client CA), all built in the
 * constructor. Nothing here touches sockets.
 */
export class TlsTable {
  readonly conf: TlsConf
  readonly defaultCert: ServerCert
  readonly defaultRule: TlsServerRule
  /** Every rule by label, in file order. */
  readonly rules: ReadonlyMap<string, TlsServerRule>
  private readonly vipCert = new Map<string, ServerCert>()
  private readonly nameCert = new Map<string, ServerCert>()
  private readonly wildcardCert: [string, ServerCert][] = []
  private readonly vipRule = new Map<string, TlsServerRule>()
  private readonly sniRule = new Map<string, TlsServerRule>()
  private readonly contexts = new Map<ServerCert, Map<string, SecureContext>>()
  private readonly ipv4HashBytes: 4 | 16
  private currentTicketKey: Buffer | undefined

  constructor(conf: TlsConf, opts: TlsTableOptions = {}) {
    this.conf = conf
    this.currentTicketKey = conf.ticketKey
    this.ipv4HashBytes = opts.ipv4HashBytes ?? 16
    this.defaultCert = conf.certs.defaultCert
    const r = conf.rules
    this.defaultRule = serverRule(undefined, r.defaultProtos, [], {
      grade: TlsGrade.C,
      clientAuth: false,
      clientCaName: '',
      chacha20: r.DefaultChacha20,
      dynamicRecord: r.DefaultDynamicRecord,
    })
    const rules = new Map<string, TlsServerRule>()
    for (const rule of r.Config.values()) {
      const sr = serverRule(
        rule.label,
        rule.protos.length > 0 ? rule.protos : r.defaultProtos,
        rule.protos,
        {
          grade: rule.Grade,
          clientAuth: rule.ClientAuth,
          clientCaName: rule.ClientAuth ? rule.ClientCAName : '',
          chacha20: rule.Chacha20,
          dynamicRecord: rule.DynamicRecord,
        },
      )
      rules.set(rule.label, sr)
      const cert = ruleCert(rule, conf.certs)
      for (const vip of rule.VipConf) {
        if (cert !== undefined) this.vipCert.set(vip, cert)
        this.vipRule.set(vip, sr)
      }
      for (const name of rule.SniConf) this.sniRule.set(name, sr)
    }
    this.rules = rules
    for (const cert of conf.certs.certs.values()) {
      for (const name of cert.names) {
        if (name.includes('*')) {
          if (!this.wildcardCert.some(([n]) => n === name)) this.wildcardCert.push([name, cert])
        } else if (!this.nameCert.has(name)) {
          this.nameCert.set(name, cert)
        }
      }
    }
    // one context per (certificate, rule profile); profiles are few
    const profiles = new Map<string, TlsServerRule>()
    for (const sr of [this.defaultRule, ...rules.values()]) profiles.set(profileKey(sr), sr)
    for (const cert of conf.certs.certs.values()) {
      const byProfile = new Map<string, SecureContext>()
      for (const [key, sr] of profiles) byProfile.set(key, this.buildContext(cert, sr))
      this.contexts.set(cert, byProfile)
    }
  }

  /** Certificate for a connection: by VIP rule, else by SNI name (exact, then wildcard), else the default. */
  selectCert(vip: string | undefined, sni: string): ServerCert {
    if (vip !== undefined && vip !== '') {
      const c = this.vipCert.get(vip) ?? this.vipCert.get(normalizeIp(vip) ?? '')
      if (c !== undefined) return c
    }
    if (sni !== '') {
      let name = sni.toLowerCase()
      while (name.endsWith('.')) name = name.slice(0, -1)
      const exact = this.nameCert.get(name)
      if (exact !== undefined) return exact
      for (const [pattern, cert] of this.wildcardCert) {
        if (matchHostname(pattern, name)) return cert
      }
    }
    return this.defaultCert
  }

  /** Rule for a connection: by VIP, else by SNI (exact string), else the default rule. */
  /** Some TLS rule lists `vip` in its VipConf. */
  hasVip(vip: string): boolean {
    return this.vipRule.has(vip) || this.vipRule.has(normalizeIp(vip) ?? '')
  }

  selectRule(vip: string | undefined, sni: string): TlsServerRule {
    if (vip !== undefined && vip !== '') {
      const r = this.vipRule.get(vip) ?? this.vipRule.get(normalizeIp(vip) ?? '')
      if (r !== undefined) return r
    }
    return this.sniRule.get(sni) ?? this.defaultRule
  }

  /**
   * ALPN protocols offered to a client, in the rule's order: an optional (level 0) protocol is
   * left out when the client's bucket ≥ its rate, or when globally disabled (`disabled` holds
   * `h2` and/or `spdy`, matched as prefixes as BFE does). Never empty (['http/1.1']).
   */
  offeredProtocols(
    rule: TlsServerRule,
    clientIp: string,
    disabled: ReadonlySet<string> = new Set(),
  ): readonly string[] {
    let bucket = -1
    const out: string[] = []
    for (const p of rule.protos) {
      if (p.level === ProtoLevel.Optional) {
        if (p.rate < 100) {
          if (bucket === -1) bucket = clientBucket(clientIp, this.ipv4HashBytes)
          if (bucket >= p.rate) continue
        }
        if (disabled.size > 0 && isDisabled(p.proto, disabled)) continue
      }
      out.push(p.proto)
    }
    return out.length === 0 ? HTTP11_ONLY : out
  }

  /** The session ticket key every context of this table uses now (undefined: tickets disabled). */
  get ticketKey(): Buffer | undefined {
    return this.currentTicketKey
  }

  /**
   * `/reload/tls_session_ticket_key`: every context of this table encrypts new tickets with `key`
   * (48 bytes) from now on; tickets made with the old key no longer resume. Never throws for a
   * 48-byte key.
   */
  setTicketKey(key: Buffer): void {
    for (const byProfile of this.contexts.values()) {
      for (const ctx of byProfile.values()) nativeContext(ctx).setTicketKeys(key)
    }
    this.currentTicketKey = key
  }

  /** The prebuilt SecureContext for this certificate and rule. */
  secureContext(cert: ServerCert, rule: TlsServerRule): SecureContext {
    const ctx = this.contexts.get(cert)?.get(profileKey(rule))
    if (ctx === undefined) {
      throw new Error(`no secure context for certificate "${cert.name}" and rule "${rule.label}"`)
    }
    return ctx
  }

  /** The options a SecureContext is built from (exported for tests and diagnostics). */
  contextOptions(cert: ServerCert, rule: TlsServerRule): SecureContextOptions {
    const h = this.conf.bfeConf.HttpsBasic
    const ciphers = cipherList(h.CipherSuites, rule.chacha20)
    let minVersion: tls.SecureVersion =
      h.MinTlsVersion === '' ? 'TLSv1.2' : VERSIONS[h.MinTlsVersion as keyof typeof VERSIONS]
    const maxVersion: tls.SecureVersion =
      h.MaxTlsVersion === '' ? 'TLSv1.3' : VERSIONS[h.MaxTlsVersion as keyof typeof VERSIONS]
    if (h.MinTlsVersion === '' && vIdx(maxVersion) < vIdx(minVersion)) minVersion = maxVersion
    if (rule.grade === TlsGrade.APlus && vIdx(minVersion) < vIdx('TLSv1.2')) minVersion = 'TLSv1.2'
    if (vIdx(maxVersion) < vIdx(minVersion)) {
      throw new BfeConfError(
        this.conf.bfeConf.path,
        '[HttpsBasic] MaxTlsVersion',
        `is below TLS 1.2, which grade A+ of rule "${rule.label}" requires`,
      )
    }
    if (ciphers.length === 0 && vIdx(minVersion) < vIdx('TLSv1.3')) {
      throw new BfeConfError(
        this.conf.bfeConf.path,
        '[HttpsBasic] CipherSuites',
        'leaves no cipher suite Node can offer below TLS 1.3',
      )
    }
    // TLS 1.0/1.1 only when configured (decisions.md D6); OpenSSL 3 needs security level 0 for them
    const legacy = vIdx(minVersion) < vIdx('TLSv1.2') ? ':@SECLEVEL=0' : ''
    const opts: SecureContextOptions = {
      cert: cert.certPem,
      key: cert.keyPem,
      ciphers: `${ciphers.join(':')}${legacy}`,
      honorCipherOrder: true,
      minVersion,
      maxVersion,
      // X25519 first, then the configured curves: clients send an X25519 key share first, and
      // a server without it answers with a HelloRetryRequest (a round trip more, and node:tls then
      // drops the stapled OCSP response).
      ecdhCurve: ['X25519', ...h.CurvePreferences.map((c) => CURVES[c] ?? c)].join(':'),
      // sessions resume across contexts and instances, but never into a context with another
      // client-auth setting (that would skip the client certificate check)
      sessionIdContext: sessionIdContext(rule),
    }
    if (this.conf.ticketKey !== undefined) opts.ticketKeys = this.conf.ticketKey
    if (!this.conf.ticketsEnabled) opts.secureOptions = cryptoConstants.SSL_OP_NO_TICKET
    if (rule.clientAuth) {
      const ca = this.conf.clientCas.get(rule.clientCaName)
      if (ca !== undefined) {
        opts.ca = ca.pem
        if (ca.crls.length > 0) opts.crl = [...ca.crls]
      }
    }
    return opts
  }

  private buildContext(cert: ServerCert, rule: TlsServerRule): SecureContext {
    const opts = this.contextOptions(cert, rule)
    try {
      return tls.createSecureContext(opts)
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      throw new BfeConfError(
        cert.certFile,
        '',
        `cannot build a TLS context for certificate "${cert.name}": ${msg}`,
        { cause: err },
      )
    }
  }
}

/** The OpenSSL context behind a SecureContext: what tls.Server#setTicketKeys updates too. */
function nativeContext(ctx: SecureContext): { setTicketKeys(keys: Buffer): void } {
  return (ctx as { context: { setTicketKeys(keys: Buffer): void } }).context
}

function vIdx(v: tls.SecureVersion): number {
  return VERSION_ORDER.indexOf(v)
}

function isDisabled(proto: string, disabled: ReadonlySet<string>): boolean {
  for (const d of disabled) if (proto.startsWith(d)) return true
  return false
}

function profileKey(r: TlsServerRule): string {
  return `${r.grade}|${r.chacha20 ? 1 : 0}|${r.clientAuth ? r.clientCaName : ''}`
}

function sessionIdContext(r: TlsServerRule): string {
  return createHash('sha256')
    .update(`bfe-ts|${r.clientAuth ? r.clientCaName : ''}`)
    .digest('hex')
    .slice(0, 32)
}

function serverRule(
  label: string | undefined,
  protos: readonly NextProto[],
  own: readonly NextProto[],
  rest: Pick<TlsServerRule, 'grade' | 'clientAuth' | 'clientCaName' | 'chacha20' | 'dynamicRecord'>,
): TlsServerRule {
  // as BFE: HTTP/2 and stream parameters come from the rule's own NextProtos only
  const h2 = own.find((p) => p.proto === TlsProto.H2)
  const stream = own.find((p) => p.proto === TlsProto.Stream)
  const only = protos.length === 1 ? protos[0] : undefined
  return {
    label,
    protos,
    ...rest,
    h2: h2 === undefined ? DEFAULT_H2 : { maxConcurrentStreams: h2.mcs, initialWindowSize: h2.isw },
    proxyProtocol: stream?.pp ?? 0,
    mandatory: only !== undefined && only.level === ProtoLevel.Mandatory ? only.proto : undefined,
  }
}

/**
 * Loads the TLS configuration named by bfe.conf: server_cert_conf, tls_rule_conf, client CAs and
 * CRLs, and the session ticket key when tickets are enabled; cross-checks them and builds the
 * table. Throws BfeConfError. `warnings` lists what was ignored (cipher names Node cannot offer,
 * OCSP responses not stapled, files found relative to the working directory).
 */
export function loadTlsConf(
  conf: BfeConf,
  opts: LoadTlsConfOptions = {},
): { table: TlsTable; warnings: string[] } {
  const h = conf.HttpsBasic
  const inDir = (f: string): string =>
    opts.dir === undefined ? f : `${opts.dir.replace(/\/+$/, '')}/${f.split('/').pop() ?? f}`
  const certFile = inDir(h.ServerCertConf)
  const ruleFile = inDir(h.TlsRuleConf)
  const certs = loadServerCertConf(
    certFile,
    conf.confRoot,
    opts.now === undefined ? {} : { now: opts.now },
  )
  const rules = loadTlsRuleConf(ruleFile)
  const clientCas = loadClientCas(ruleFile, rules, h.ClientCABaseDir, h.ClientCRLBaseDir, conf.path)
  checkTlsRuleCerts(ruleFile, rules, certs)
  const ticketsEnabled = !conf.SessionTicket.SessionTicketsDisabled
  const ticketKey = !ticketsEnabled
    ? undefined
    : (opts.ticketKey ?? loadSessionTicketKey(conf.SessionTicket.SessionTicketKeyFile).key)

  const warnings = [...certs.warnings, ...certs.notes]
  const dropped = new Set<string>()
  cipherList(h.CipherSuites, true, dropped)
  if (dropped.size > 0) {
    warnings.push(
      `${conf.path}: [HttpsBasic] CipherSuites ${[...dropped].join(', ')} cannot be offered by Node (RC4/3DES), ignored`,
    )
  }
  const tableOpts: TlsTableOptions = {}
  if (opts.ipv4HashBytes !== undefined) tableOpts.ipv4HashBytes = opts.ipv4HashBytes
  const table = new TlsTable(
    { bfeConf: conf, certs, rules, clientCas, ticketKey, ticketsEnabled },
    tableOpts,
  )
  return { table, warnings }
}
