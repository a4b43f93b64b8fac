import path from 'node:path'
import { readDataFile } from './data-file.js'
import { type IniFile, type IniValues, ini, parseIni } from './ini.js'
import { resolveConfPath } from './paths.js'

/**
 * bfe.conf (config.md §3). Keys and defaults are BFE's. Our own keys, not in BFE:
 *
 * - `[Server] CompatErrorStatus` (bool, default false; decisions.md D8): answer forwarding failures
 *   with BFE's 500 instead of 502/503/504.
 * - `[HttpsBasic] MinTlsVersion/MaxTlsVersion` also accept `VersionTLS13`, and their defaults are
 *   empty, meaning "not configured": the TLS layer then uses TLS 1.2–1.3 (decisions.md D6) instead
 *   of BFE's VersionSSL30–VersionTLS12.
 * - `[Server] Plugins` is accepted so BFE files load, but naming a plugin fails (not supported).
 */
export const bfeConfSchema = {
  Server: {
    HttpPort: ini.int(8080),
    HttpsPort: ini.int(8443),
    HttpAddr: ini.string(''),
    HttpsAddr: ini.string(''),
    MonitorPort: ini.int(8421),
    MonitorAddr: ini.string(''),
    MonitorEnabled: ini.bool(true),
    MaxCpus: ini.int(0),
    AcceptNum: ini.int(1),
    Layer4LoadBalancer: ini.string(''),
    TlsHandshakeTimeout: ini.int(30),
    ClientReadTimeout: ini.int(60),
    ClientWriteTimeout: ini.int(60),
    GracefulShutdownTimeout: ini.int(10),
    MaxHeaderBytes: ini.int(1048576),
    MaxHeaderUriBytes: ini.int(8192),
    MaxProxyHeaderBytes: ini.int(0),
    KeepAliveEnabled: ini.bool(true),
    AccessibleBodySize: ini.int(2097152),
    TotalBodyBufferSize: ini.int(0),
    EnableAiGateway: ini.bool(false),
    EstimateToken: ini.bool(false),
    Modules: ini.strings(),
    Plugins: ini.strings(),
    HostRuleConf: ini.string('server_data_conf/host_rule.data'),
    VipRuleConf: ini.string('server_data_conf/vip_rule.data'),
    RouteRuleConf: ini.string('server_data_conf/route_rule.data'),
    ClusterConf: ini.string('server_data_conf/cluster_conf.data'),
    ClusterTableConf: ini.string('cluster_conf/cluster_table.data'),
    GslbConf: ini.string('cluster_conf/gslb.data'),
    NameConf: ini.string('server_data_conf/name_conf.data'),
    MonitorInterval: ini.int(20),
    DebugServHttp: ini.bool(false),
    DebugBfeRoute: ini.bool(false),
    DebugBal: ini.bool(false),
    DebugHealthCheck: ini.bool(false),
    CompatErrorStatus: ini.bool(false),
  },
  HttpsBasic: {
    ServerCertConf: ini.string('tls_conf/server_cert_conf.data'),
    TlsRuleConf: ini.string('tls_conf/tls_rule_conf.data'),
    CipherSuites: ini.strings(),
    CurvePreferences: ini.strings(),
    MaxTlsVersion: ini.string(''),
    MinTlsVersion: ini.string(''),
    EnableSslv2ClientHello: ini.bool(true),
    ClientCABaseDir: ini.string('tls_conf/client_ca'),
    ClientCRLBaseDir: ini.string('tls_conf/client_crl'),
  },
  SessionCache: {
    SessionCacheDisabled: ini.bool(true),
    Servers: ini.string(''),
    KeyPrefix: ini.string('bfe'),
    ConnectTimeout: ini.int(50),
    ReadTimeout: ini.int(0),
    WriteTimeout: ini.int(50),
    MaxIdle: ini.int(20),
    SessionExpire: ini.int(3600),
  },
  SessionTicket: {
    SessionTicketsDisabled: ini.bool(true),
    SessionTicketKeyFile: ini.string('tls_conf/session_ticket_key.data'),
  },
} as const

export type BfeConfValues = IniValues<typeof bfeConfSchema>

/**
 * Validated bfe.conf. Sections keep BFE's key names; every path is absolute (resolved against
 * `confRoot`) except `NameConf`, which is '' when the file says `NameConf =` (not loaded).
 * `CipherSuites` keeps one entry per priority level (`a|b` = equal priority), all names known.
 */
export interface BfeConf extends BfeConfValues {
  /** Absolute configuration root. */
  readonly confRoot: string
  /** Absolute path of bfe.conf. */
  readonly path: string
  /** Load-time warnings (defaults substituted, TLS names Node cannot offer ...). */
  readonly warnings: string[]
}

export const KNOWN_CIPHER_SUITES: readonly string[] = [
  'TLS_RSA_WITH_RC4_128_SHA',
  'TLS_RSA_WITH_3DES_EDE_CBC_SHA',
  'TLS_RSA_WITH_AES_128_CBC_SHA',
  'TLS_RSA_WITH_AES_256_CBC_SHA',
  'TLS_ECDHE_ECDSA_WITH_RC4_128_SHA',
  'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA',
  'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
  'TLS_ECDHE_RSA_WITH_RC4_128_SHA',
  'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA',
  'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
  'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
]

/** BFE's cipher list when none is configured (one entry per priority level). */
export const DEFAULT_CIPHER_SUITES: readonly string[] = [
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256|TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256|TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256|TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_RSA_WITH_RC4_128_SHA',
  'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
  'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  'TLS_RSA_WITH_RC4_128_SHA',
  'TLS_RSA_WITH_AES_128_CBC_SHA',
  'TLS_RSA_WITH_AES_256_CBC_SHA',
]

export const KNOWN_CURVES: readonly string[] = ['CurveP256', 'CurveP384', 'CurveP521']

/** TLS version names, in increasing order. `VersionTLS13` is ours. */
export const TLS_VERSIONS: readonly string[] = [
  'VersionSSL30',
  'VersionTLS10',
  'VersionTLS11',
  'VersionTLS12',
  'VersionTLS13',
]

/** Reads and validates `<confRoot>/bfe.conf`. Throws BfeConfError naming the line and key. */
export function loadBfeConf(confRoot: string): BfeConf {
  const root = path.resolve(confRoot)
  const file = path.join(root, 'bfe.conf')
  return parseBfeConf(readDataFile(file), root, file)
}

/** Validates bfe.conf text; `file` is used in messages. Exported for tests. */
export function parseBfeConf(text: string, confRoot: string, file = 'bfe.conf'): BfeConf {
  const f = parseIni(file, text, bfeConfSchema)
  const warnings: string[] = []
  checkServer(f, confRoot, warnings)
  checkHttpsBasic(f, confRoot, warnings)
  checkSessionCache(f)
  const t = f.values.SessionTicket
  t.SessionTicketKeyFile = resolveConfPath(
    t.SessionTicketKeyFile === '' ? 'tls_conf/session_ticket_key.data' : t.SessionTicketKeyFile,
    confRoot,
  )
  return { ...f.values, confRoot, path: path.resolve(confRoot, file), warnings }
}

type Conf = IniFile<typeof bfeConfSchema>

function checkServer(f: Conf, confRoot: string, warnings: string[]): void {
  const s = f.values.Server
  const range = (key: keyof typeof s & string, v: number, lo: number, hi: number): void => {
    if (v < lo || v > hi) f.fail('Server', key, `must be in [${lo}, ${hi}], got ${v}`)
  }
  const positive = (key: keyof typeof s & string, v: number): void => {
    if (v <= 0) f.fail('Server', key, `must be > 0, got ${v}`)
  }
  range('HttpPort', s.HttpPort, 1, 65535)
  range('HttpsPort', s.HttpsPort, 1, 65535)
  if (s.MonitorEnabled) range('MonitorPort', s.MonitorPort, 1, 65535)
  if (s.MaxCpus < 0) f.fail('Server', 'MaxCpus', `must be >= 0, got ${s.MaxCpus}`)
  if (s.AcceptNum < 0) f.fail('Server', 'AcceptNum', `must be >= 0, got ${s.AcceptNum}`)
  if (s.AcceptNum === 0) s.AcceptNum = 1
  if (s.Layer4LoadBalancer === '') s.Layer4LoadBalancer = 'NONE'
  if (s.Layer4LoadBalancer !== 'PROXY' && s.Layer4LoadBalancer !== 'NONE') {
    f.fail('Server', 'Layer4LoadBalancer', `must be PROXY or NONE, got "${s.Layer4LoadBalancer}"`)
  }
  range('TlsHandshakeTimeout', s.TlsHandshakeTimeout, 1, 1200)
  positive('ClientReadTimeout', s.ClientReadTimeout)
  positive('ClientWriteTimeout', s.ClientWriteTimeout)
  range('GracefulShutdownTimeout', s.GracefulShutdownTimeout, 1, 300)
  positive('MaxHeaderBytes', s.MaxHeaderBytes)
  positive('MaxHeaderUriBytes', s.MaxHeaderUriBytes)
  if (s.MaxProxyHeaderBytes < 0) {
    f.fail('Server', 'MaxProxyHeaderBytes', `must be >= 0, got ${s.MaxProxyHeaderBytes}`)
  }
  if (s.MaxProxyHeaderBytes === 0) s.MaxProxyHeaderBytes = 2048
  if (s.AccessibleBodySize <= 0) s.AccessibleBodySize = 2097152
  if (s.AccessibleBodySize > 8388608) {
    f.fail('Server', 'AccessibleBodySize', `must be <= 8388608, got ${s.AccessibleBodySize}`)
  }
  if (s.TotalBodyBufferSize < 0) {
    f.fail('Server', 'TotalBodyBufferSize', `must be >= 0, got ${s.TotalBodyBufferSize}`)
  }
  if (s.MonitorInterval <= 0) {
    s.MonitorInterval = 20
  } else if (s.MonitorInterval > 60) {
    warnings.push(`${f.file}: [Server] MonitorInterval ${s.MonitorInterval} > 60, using 60`)
    s.MonitorInterval = 60
  } else if (60 % s.MonitorInterval !== 0) {
    f.fail('Server', 'MonitorInterval', `must divide 60, got ${s.MonitorInterval}`)
  } else if (s.MonitorInterval < 20) {
    f.fail('Server', 'MonitorInterval', `must be >= 20, got ${s.MonitorInterval}`)
  }
  const plugins = s.Plugins.map((p) => p.trim()).filter((p) => p !== '')
  if (plugins.length > 0) {
    f.fail('Server', 'Plugins', `are not supported by bfe-ts (got ${plugins.join(', ')})`)
  }
  s.Plugins = []
  // one name per line; blank names skipped, duplicates harmless
  s.Modules = [...new Set(s.Modules.map((m) => m.trim()).filter((m) => m !== ''))]

  const dataPaths = [
    ['HostRuleConf', 'server_data_conf/host_rule.data'],
    ['VipRuleConf', 'server_data_conf/vip_rule.data'],
    ['RouteRuleConf', 'server_data_conf/route_rule.data'],
    ['ClusterConf', 'server_data_conf/cluster_conf.data'],
    ['ClusterTableConf', 'cluster_conf/cluster_table.data'],
    ['GslbConf', 'cluster_conf/gslb.data'],
  ] as const
  for (const [key, def] of dataPaths) {
    s[key] = resolveConfPath(s[key] === '' ? def : s[key], confRoot)
  }
  // NameConf: explicitly empty means "no name conf"
  if (s.NameConf !== '') s.NameConf = resolveConfPath(s.NameConf, confRoot)
}

function checkHttpsBasic(f: Conf, confRoot: string, warnings: string[]): void {
  const h = f.values.HttpsBasic
  h.ServerCertConf = resolveConfPath(
    h.ServerCertConf === '' ? 'tls_conf/server_cert_conf.data' : h.ServerCertConf,
    confRoot,
  )
  h.TlsRuleConf = resolveConfPath(
    h.TlsRuleConf === '' ? 'tls_conf/tls_rule_conf.data' : h.TlsRuleConf,
    confRoot,
  )
  h.ClientCABaseDir = resolveConfPath(
    h.ClientCABaseDir === '' ? 'tls_conf/client_ca' : h.ClientCABaseDir,
    confRoot,
  )
  h.ClientCRLBaseDir = resolveConfPath(
    h.ClientCRLBaseDir === '' ? 'tls_conf/client_crl' : h.ClientCRLBaseDir,
    confRoot,
  )

  const suites = h.CipherSuites.map((l) => l.trim()).filter((l) => l !== '')
  for (const level of suites) {
    for (const name of level.split('|')) {
      const n = name.trim()
      if (!KNOWN_CIPHER_SUITES.includes(n)) {
        f.fail('HttpsBasic', 'CipherSuites', `has an unknown cipher suite "${n}"`)
      }
    }
  }
  h.CipherSuites = suites.length > 0 ? suites : [...DEFAULT_CIPHER_SUITES]

  const curves = h.CurvePreferences.map((c) => c.trim()).filter((c) => c !== '')
  for (const c of curves) {
    if (!KNOWN_CURVES.includes(c)) {
      f.fail('HttpsBasic', 'CurvePreferences', `has an unknown curve "${c}"`)
    }
  }
  h.CurvePreferences = curves.length > 0 ? curves : ['CurveP256']

  for (const key of ['MinTlsVersion', 'MaxTlsVersion'] as const) {
    const v = h[key]
    if (v !== '' && !TLS_VERSIONS.includes(v)) {
      f.fail('HttpsBasic', key, `must be one of ${TLS_VERSIONS.join(', ')}, got "${v}"`)
    }
  }
  if (
    h.MinTlsVersion !== '' &&
    h.MaxTlsVersion !== '' &&
    TLS_VERSIONS.indexOf(h.MaxTlsVersion) < TLS_VERSIONS.indexOf(h.MinTlsVersion)
  ) {
    f.fail('HttpsBasic', 'MaxTlsVersion', `must not be below MinTlsVersion ${h.MinTlsVersion}`)
  }
  if (h.MinTlsVersion === 'VersionSSL30') {
    warnings.push(
      `${f.file}: [HttpsBasic] MinTlsVersion VersionSSL30 is not supported, using TLS 1.0`,
    )
  }
}

function checkSessionCache(f: Conf): void {
  const c = f.values.SessionCache
  if (c.SessionCacheDisabled) return
  if (c.Servers === '') f.fail('SessionCache', 'Servers', 'is required when the cache is enabled')
  if (c.ReadTimeout <= 0) f.fail('SessionCache', 'ReadTimeout', `must be > 0, got ${c.ReadTimeout}`)
  if (c.WriteTimeout <= 0) {
    f.fail('SessionCache', 'WriteTimeout', `must be > 0, got ${c.WriteTimeout}`)
  }
  if (c.MaxIdle <= 0) f.fail('SessionCache', 'MaxIdle', `must be > 0, got ${c.MaxIdle}`)
  if (c.SessionExpire <= 0) {
    f.fail('SessionCache', 'SessionExpire', `must be > 0, got ${c.SessionExpire}`)
  }
}
