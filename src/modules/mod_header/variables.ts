import { X509Certificate } from 'node:crypto'
import { hostname } from 'node:os'
import type { BfeRequest } from '../../basic/request.js'

/** A `%name` variable of a header value: computed from the request when the action runs. */
export type HeaderVariable = (req: BfeRequest) => string

/**
 * Keys of values other modules leave for mod_header. mod_geo stores the client's location in the
 * request context under BFE's own keys; the HTTP/2 fingerprint is read from the session context.
 */
export const GEO_KEYS = {
  country: 'mod_geo.country_iso_code',
  subdivision: 'mod_geo.subdivision_iso_code',
  city: 'mod_geo.city_name',
  latitude: 'mod_geo.latitude',
  longitude: 'mod_geo.longitude',
} as const
export const HTTP2_FINGERPRINT_KEY = 'http2.fingerprint'

const UNKNOWN = 'unknown'
const SERVER_NAME = safeHostname()

function safeHostname(): string {
  try {
    return hostname()
  } catch {
    return UNKNOWN
  }
}

function text(v: unknown): string {
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'bigint') return String(v)
  return ''
}

const clientIp: HeaderVariable = (req) => req.clientAddr ?? ''

/** TLS cipher suites as OpenSSL names them (what BFE prints); TLS 1.3 names are the same in both. */
const OPENSSL_CIPHER: Readonly<Record<string, string>> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
}

/** Subject fields of a client certificate (first values), parsed once per certificate. */
interface CertFields {
  serial: string
  fields: Map<string, string>
}
const certCache = new WeakMap<Buffer, CertFields | null>()

function clientCert(req: BfeRequest): CertFields | undefined {
  const der = req.session.tlsState?.clientCert
  if (der === undefined) return undefined
  let c = certCache.get(der)
  if (c === undefined) {
    try {
      const x = new X509Certificate(der)
      const fields = new Map<string, string>()
      for (const line of x.subject.split('\n')) {
        const eq = line.indexOf('=')
        if (eq === -1) continue
        const k = line.slice(0, eq)
        if (!fields.has(k)) fields.set(k, line.slice(eq + 1))
      }
      c = { serial: BigInt(`0x${x.serialNumber}`).toString(10), fields }
    } catch {
      c = null
    }
    certCache.set(der, c)
  }
  return c ?? undefined
}

function certField(name: string): HeaderVariable {
  return (req) => clientCert(req)?.fields.get(name) ?? ''
}

function context(key: string): HeaderVariable {
  return (req) => text(req.context.get(key))
}

/** Every variable a header value may use, by name (spec/modules.md §3). */
export const VARIABLES: ReadonlyMap<string, HeaderVariable> = new Map<string, HeaderVariable>([
  ['bfe_client_ip', clientIp],
  ['bfe_cip', clientIp],
  ['bfe_client_port', (req) => (req.clientAddr === undefined ? '' : String(req.clientPort))],
  ['bfe_request_host', (req) => req.host],
  ['bfe_session_id', (req) => req.session.id],
  ['bfe_log_id', (req) => req.logId],
  ['bfe_vip', (req) => req.session.vip ?? UNKNOWN],
  ['bfe_bip', (req) => req.session.balancerAddr ?? UNKNOWN],
  ['bfe_rip', (req) => (req.session.localAddr === '' ? UNKNOWN : req.session.localAddr)],
  ['bfe_server_name', () => SERVER_NAME],
  ['bfe_cluster', (req) => req.clusterName],
  [
    'bfe_backend_info',
    (req) => {
      const b = req.backend
      return `ClusterName:${b.clusterName},SubClusterName:${b.subclusterName},BackendName:${b.backendName}(${b.backendAddr})`
    },
  ],
  [
    'bfe_ssl_resume',
    (req) => {
      const t = req.session.tlsState
      return t === undefined ? '' : t.resumed ? 'R' : 'N'
    },
  ],
  [
    'bfe_ssl_cipher',
    (req) => {
      const c = req.session.tlsState?.cipher
      return c === undefined ? '' : (OPENSSL_CIPHER[c] ?? c)
    },
  ],
  ['bfe_ssl_version', (req) => req.session.tlsState?.version ?? ''],
  ['bfe_ssl_ja3_raw', (req) => req.session.tlsState?.ja3 ?? ''],
  ['bfe_ssl_ja3_hash', (req) => req.session.tlsState?.ja3Hash ?? ''],
  ['bfe_http2_fingerprint', (req) => text(req.session.context.get(HTTP2_FINGERPRINT_KEY))],
  ['bfe_protocol', (req) => (req.session.isSecure ? req.session.protocol : req.proto)],
  ['client_cert_serial_number', (req) => clientCert(req)?.serial ?? ''],
  ['client_cert_subject_title', certField('title')],
  ['client_cert_subject_common_name', certField('CN')],
  ['client_cert_subject_organization', certField('O')],
  ['client_cert_subject_organizational_unit', certField('OU')],
  ['client_cert_subject_province', certField('ST')],
  ['client_cert_subject_country', certField('C')],
  ['client_cert_subject_locality', certField('L')],
  ['bfe_client_geo_country_iso_code', context(GEO_KEYS.country)],
  ['bfe_client_geo_subdivision_iso_code', context(GEO_KEYS.subdivision)],
  ['bfe_client_geo_city_name', context(GEO_KEYS.city)],
  ['bfe_client_geo_latitude', context(GEO_KEYS.latitude)],
  ['bfe_client_geo_longitude', context(GEO_KEYS.longitude)],
])

/** A header value: literal text, or text with variables (compiled on load). */
export type HeaderValue = string | ((req: BfeRequest) => string)

const VAR_CHAR = /[a-z0-9_]/

/**
 * Compiles a header value with `%name` variables (`%%` is a literal `%`). Returns an error text
 * for an unknown variable or a `%` followed by no name. A value without variables stays a string.
 */
export function compileValue(value: string): HeaderValue | { error: string } {
  if (!value.includes('%')) return value
  const parts: HeaderValue[] = []
  let lit = ''
  let i = 0
  while (i < value.length) {
    const c = value[i] as string
    if (c !== '%') {
      lit += c
      i++
      continue
    }
    if (value[i + 1] === '%') {
      lit += '%'
      i += 2
      continue
    }
    let j = i + 1
    while (j < value.length && VAR_CHAR.test(value[j] as string)) j++
    const name = value.slice(i + 1, j)
    const v = VARIABLES.get(name)
    if (v === undefined)
      return {
        error:
          name === ''
            ? `has a "%" with no variable name after it (write "%%" for "%")`
            : `uses unknown variable %${name}`,
      }
    if (lit !== '') parts.push(lit)
    lit = ''
    parts.push(v)
    i = j
  }
  if (lit !== '') parts.push(lit)
  if (parts.length === 1 && typeof parts[0] === 'function') return parts[0]
  if (parts.every((p) => typeof p === 'string')) return parts.join('')
  const list = parts
  return (req) => {
    let out = ''
    for (let k = 0; k < list.length; k++) {
      const p = list[k] as HeaderValue
      out += typeof p === 'string' ? p : p(req)
    }
    return out
  }
}

/** A cookie value: a whole-value `%name` variable, else the text as written. */
export function compileCookieValue(value: string): HeaderValue {
  if (value.startsWith('%')) {
    const v = VARIABLES.get(value.slice(1))
    if (v !== undefined) return v
  }
  return value
}

export function headerValue(v: HeaderValue, req: BfeRequest): string {
  return typeof v === 'string' ? v : v(req)
}
