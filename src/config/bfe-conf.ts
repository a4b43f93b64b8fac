import path from 'node:path'
import { bound, clampedBound, INT32_MAX, INT32_MIN, MAX_TIMER_S, TIMEOUT_MS } from './bounds.js'
import { readDataFile } from './data-file.js'
import { type IniFile, type IniValues, ini, parseIni } from './ini.js'
import { resolveConfPath } from './paths.js'
import { parseTraceAllow } from './trace-allow.js'

/**
 * bfe.conf (config.md §3). Keys and defaults are BFE's. Our own keys, not in BFE:
 *
 * - `[Server] CompatErrorStatus` (bool, default false; decisions.md D8): answer forwarding failures
 *   with BFE's 500 instead of 502/503/504.
 * - `[HttpsBasic] MinTlsVersion/MaxTlsVersion` also accept `VersionTLS13`, and their defaults are
 *   empty, meaning "not configured": the TLS layer then uses TLS 1.2–1.3 (decisions.md D6) instead
 *   of BFE's VersionSSL30–VersionTLS12.
 * - `[Server] Plugins` is accepted so BFE files load, but naming a plugin fails (not supported).
 * - `[Server] DecisionTraceToken` (string, default empty = off) and `DecisionTraceAllow` (IPs or
 *   CIDRs, one per line; default loopback): trace on demand (docs/tools/trace.md).
 */
/** Most worker processes `MaxCpus` may ask for (each is a whole Node process). */
export const MAX_WORKERS = 256
/** Largest MaxHeaderBytes / MaxHeaderUriBytes: what one connection's request head may pin. */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024

export const bfeConfSchema = {
  Server: {
    HttpPort: ini.int(8080, bound(1, 65535)),
    HttpsPort: ini.int(8443, bound(1, 65535)),
    HttpAddr: ini.string(''),
    HttpsAddr: ini.string(''),
    // 1-65535, checked only when MonitorEnabled (checkServer)
    MonitorPort: ini.int(8421, bound(INT32_MIN, INT32_MAX)),
    MonitorAddr: ini.string(''),
    MonitorEnabled: ini.bool(true),
    MaxCpus: ini.int(0, bound(0, MAX_WORKERS)),
    AcceptNum: ini.int(1, bound(0, 1024)),
    Layer4LoadBalancer: ini.string(''),
    TlsHandshakeTimeout: ini.int(30, bound(1, 1200, 's')),
    ClientReadTimeout: ini.int(60, clampedBound(1, MAX_TIMER_S, 's')),
    ClientWriteTimeout: ini.int(60, clampedBound(1, MAX_TIMER_S, 's')),
    GracefulShutdownTimeout: ini.int(10, bound(1, 300, 's')),
    MaxHeaderBytes: ini.int(1048576, bound(1, MAX_HEADER_BYTES, 'bytes')),
    MaxHeaderUriBytes: ini.int(8192, bound(1, MAX_HEADER_BYTES, 'bytes')),
    // 0 means 2048; a PROXY v2 header is at most 16 + 65535 bytes
    MaxProxyHeaderBytes: ini.int(0, bound(0, 65551, 'bytes')),
    KeepAliveEnabled: ini.bool(true),
    // <= 0 means the default
    AccessibleBodySize: ini.int(2097152, bound(INT32_MIN, 8388608, 'bytes')),
    // 0 = unlimited; a cap, so large values are harmless
    TotalBodyBufferSize: ini.int(0, bound(0, 2 ** 40, 'bytes')),
    EnableAiGateway: ini.bool(false),
    EstimateToken: ini.bool(false),
    Modules: ini.strings(),
    // our own key: a JavaScript file (ESM) providing modules, relative to the configuration root
    ModuleFile: ini.strings(),
    Plugins: ini.strings(),
    HostRuleConf: ini.string('server_data_conf/host_rule.data'),
    VipRuleConf: ini.string('server_data_conf/vip_rule.data'),
    RouteRuleConf: ini.string('server_data_conf/route_rule.data'),
    ClusterConf: ini.string('server_data_conf/cluster_conf.data'),
    ClusterTableConf: ini.string('cluster_conf/cluster_table.data'),
    GslbConf: ini.string('cluster_conf/gslb.data'),
    NameConf: ini.string('server_data_conf/name_conf.data'),
    // <= 0 means 20, > 60 means 60 (checkServer)
    MonitorInterval: ini.int(20, bound(INT32_MIN, INT32_MAX, 's')),
    DebugServHttp: ini.bool(false),
    DebugBfeRoute: ini.bool(false),
    DebugBal: ini.bool(false),
    DebugHealthCheck: ini.bool(false),
    CompatErrorStatus: ini.bool(false),
    // ours: trace on demand (tools/trace.ts)
    DecisionTraceToken: ini.string(''),
    DecisionTraceAllow: ini.strings(),
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
    ConnectTimeout: ini.int(50, TIMEOUT_MS),
    ReadTimeout: ini.int(0, TIMEOUT_MS),
    WriteTimeout: ini.int(50, TIMEOUT_MS),
    MaxIdle: ini.int(20, bound(0, 1024)),
    SessionExpire: ini.int(3600, clampedBound(0, MAX_TIMER_S, 's')),
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
  const warnings: string[] = [...f.warnings]
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
  // The plain ranges are declared in the schema (D23); what remains are the rules between keys.
  if (s.MonitorEnabled && (s.MonitorPort < 1 || s.MonitorPort > 65535)) {
    f.fail('Server', 'MonitorPort', `must be in [1, 65535], got ${s.MonitorPort}`)
  }
  if (s.AcceptNum === 0) s.AcceptNum = 1
  if (s.Layer4LoadBalancer === '') s.Layer4LoadBalancer = 'NONE'
  if (s.Layer4LoadBalancer !== 'PROXY' && s.Layer4LoadBalancer !== 'NONE') {
    f.fail('Server', 'Layer4LoadBalancer', `must be PROXY or NONE, got "${s.Layer4LoadBalancer}"`)
  }
  if (s.MaxProxyHeaderBytes === 0) s.MaxProxyHeaderBytes = 2048
  if (s.AccessibleBodySize <= 0) s.AccessibleBodySize = 2097152
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
  s.ModuleFile = [
    ...new Set(
      s.ModuleFile.map((m) => m.trim())
        .filter((m) => m !== '')
        .map((m) => resolveConfPath(m, confRoot)),
    ),
  ]

  const traceAllow = parseTraceAllow(s.DecisionTraceAllow)
  if (typeof traceAllow === 'string') f.fail('Server', 'DecisionTraceAllow', traceAllow)
  if (s.DecisionTraceToken !== '' && s.DecisionTraceToken.length < 16)
    f.fail('Server', 'DecisionTraceToken', 'must be at least 16 characters (it guards the trace)')

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
