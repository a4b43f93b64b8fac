import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { AsnConvert } from '@peculiar/asn1-schema'
import { CertificateList, id_ce_authorityKeyIdentifier } from '@peculiar/asn1-x509'
import { BfeConfError } from '../basic/errors.js'
import { normalizeIp } from '../util/ip.js'
import { type Bound, bound, checkBound } from './bounds.js'
import { checkShape, tlsRuleConfSchema } from './core-schemas.js'
import { readDataFile } from './data-file.js'
import { JsonNode } from './json-node.js'
import { DEFAULT_CERT_NAME, type ServerCert, type ServerCertConf } from './server-cert-conf.js'

/** Application protocols a TLS rule may list. */
export const TlsProto = {
  Http11: 'http/1.1',
  H2: 'h2',
  Spdy31: 'spdy/3.1',
  Stream: 'stream',
} as const
export type TlsProto = (typeof TlsProto)[keyof typeof TlsProto]
const VALID_PROTOS: readonly string[] = Object.values(TlsProto)

/** Negotiation level of a protocol in NextProtos. */
export const ProtoLevel = { Optional: 0, Negotiatory: 1, Mandatory: 2 } as const
export type ProtoLevel = (typeof ProtoLevel)[keyof typeof ProtoLevel]

/** TLS security grades (protocols.md §1). */
export const TlsGrade = { APlus: 'A+', A: 'A', B: 'B', C: 'C' } as const
export type TlsGrade = (typeof TlsGrade)[keyof typeof TlsGrade]
const GRADES: readonly string[] = Object.values(TlsGrade)

/** One parsed NextProtos item (`name;key=value;…`). */
export interface NextProto {
  readonly proto: TlsProto
  readonly level: ProtoLevel
  /** HTTP/2 max concurrent streams. */
  readonly mcs: number
  /** HTTP/2 initial stream window (server side). */
  readonly isw: number
  /** Presence rate (percent of clients) of an optional protocol. */
  readonly rate: number
  /** `stream` only: PROXY protocol version sent to the backend (0 = none). */
  readonly pp: number
}

/** One rule of tls_rule_conf.data, validated (BFE field names, VIPs normalised). */
export interface TlsRule {
  /** The label in `Config` (usually the product). */
  readonly label: string
  readonly VipConf: readonly string[]
  readonly SniConf: readonly string[]
  readonly CertName: string
  /** As written; empty means DefaultNextProtos. */
  readonly NextProtos: readonly string[]
  /** NextProtos parsed (empty when NextProtos is). */
  readonly protos: readonly NextProto[]
  readonly Grade: TlsGrade
  readonly ClientAuth: boolean
  readonly ClientCAName: string
  readonly Chacha20: boolean
  readonly DynamicRecord: boolean
}

/** tls_rule_conf.data (config.md §6.2). */
export interface TlsRuleConf {
  readonly Version: string
  /** Rules by label, in file order. */
  readonly Config: ReadonlyMap<string, TlsRule>
  /** As written (`["http/1.1"]` when absent or empty). */
  readonly DefaultNextProtos: readonly string[]
  readonly defaultProtos: readonly NextProto[]
  readonly DefaultChacha20: boolean
  readonly DefaultDynamicRecord: boolean
}

/** A client CA of a ClientAuth rule, with its CRLs. */
export interface ClientCa {
  readonly name: string
  readonly file: string
  /** The CA file as read (PEM, may hold several certificates). */
  readonly pem: string
  /** CRL files read from `<ClientCRLBaseDir>/<name>/*.crl`, in name order. */
  readonly crlFiles: readonly string[]
  /** Those CRLs as PEM (DER files converted). */
  readonly crls: readonly string[]
}

export const DEFAULT_NEXT_PROTOS: readonly string[] = [TlsProto.Http11]

const DEFAULT_PARAMS = { level: 0, mcs: 200, isw: 65535, rate: 100, pp: 0 } as const

/** Most HTTP/2 streams a rule may allow per connection (`mcs`): each can hold buffers. */
export const MAX_MCS = 1000

/** The range of each NextProtos parameter (decisions.md D23). */
export const NEXT_PROTO_BOUNDS: Readonly<Record<keyof typeof DEFAULT_PARAMS, Bound>> = {
  level: bound(0, 2),
  mcs: bound(1, MAX_MCS),
  isw: bound(65535, 262144, 'bytes'),
  rate: bound(0, 100),
  pp: bound(0, 2),
}

/**
 * Parses one NextProtos item as BFE does: `;` and `&` both separate parameters, parameters are
 * URL-query encoded, each may appear once. Returns the parsed item or the reason it is invalid.
 */
export function parseNextProto(spec: string): NextProto | string {
  const s = spec.replaceAll(';', '&')
  const amp = s.indexOf('&')
  const proto = amp === -1 ? s : s.slice(0, amp)
  const params: Record<keyof typeof DEFAULT_PARAMS, number> = { ...DEFAULT_PARAMS }
  if (amp !== -1) {
    const seen = new Set<string>()
    for (const part of s.slice(amp + 1).split('&')) {
      if (part === '') continue
      const eq = part.indexOf('=')
      const rawKey = eq === -1 ? part : part.slice(0, eq)
      const rawVal = eq === -1 ? '' : part.slice(eq + 1)
      const key = queryUnescape(rawKey)
      const val = queryUnescape(rawVal)
      if (key === undefined || val === undefined) return `invalid proto params: ${s.slice(amp + 1)}`
      if (seen.has(key)) return `invalid proto params: ${s.slice(amp + 1)} (${key} repeated)`
      seen.add(key)
      if (!isParamKey(key)) return `unknown param "${key}"`
      if (!/^[+-]?\d+$/.test(val)) return `invalid ${key}: "${val}"`
      const r = checkBound(Number(val), NEXT_PROTO_BOUNDS[key])
      if (!r.ok) return `${key} ${r.reason}`
      params[key] = r.value
    }
  }
  const { level, mcs, isw, rate, pp } = params
  if (level > 0 && rate !== 100) return 'rate must be 100 if level > 0'
  if (proto === TlsProto.Http11 && rate !== 100) return 'rate for http/1.1 must be 100'
  if (pp !== 0 && proto !== TlsProto.Stream) return 'param pp is only available for stream'
  if (!isProto(proto)) return `protocol "${proto}" is not supported (${VALID_PROTOS.join(', ')})`
  return { proto, level: level as ProtoLevel, mcs, isw, rate, pp }
}

function isParamKey(k: string): k is keyof typeof DEFAULT_PARAMS {
  return Object.hasOwn(DEFAULT_PARAMS, k)
}

function isProto(p: string): p is TlsProto {
  return VALID_PROTOS.includes(p)
}

/** Go's url.QueryUnescape: `+` is a space, `%XX` a byte; undefined on a bad escape. */
function queryUnescape(s: string): string | undefined {
  if (!s.includes('%') && !s.includes('+')) return s
  try {
    return decodeURIComponent(s.replaceAll('+', ' '))
  } catch {
    return undefined
  }
}

/**
 * Parses a NextProtos list (`node` is the array). Checks every item, duplicates, and that a list
 * holds either exactly one mandatory protocol or http/1.1. Empty list → [].
 */
function parseNextProtos(node: JsonNode): { raw: string[]; protos: NextProto[] } {
  const raw: string[] = []
  const protos: NextProto[] = []
  for (const item of node.items()) {
    const spec = item.string()
    const p = parseNextProto(spec)
    if (typeof p === 'string') return item.fail(`invalid proto "${spec}": ${p}`)
    if (protos.some((q) => q.proto === p.proto)) item.fail(`duplicate protocol "${p.proto}"`)
    raw.push(spec)
    protos.push(p)
  }
  if (protos.length === 0) return { raw, protos }
  if (protos.some((p) => p.level === ProtoLevel.Mandatory)) {
    if (protos.length !== 1) {
      node.fail('must contain only one protocol when one is mandatory (level=2)')
    }
  } else if (!protos.some((p) => p.proto === TlsProto.Http11)) {
    node.fail('must contain "http/1.1" when not empty')
  }
  return { raw, protos }
}

/** Parses and validates tls_rule_conf.data text (checks of the file alone). Throws BfeConfError. */
export function parseTlsRuleConf(file: string, text: string): TlsRuleConf {
  const root = JsonNode.parse(file, text)
  checkShape(tlsRuleConfSchema, root)
  const versionNode = root.get('Version')
  const version = versionNode.string('')
  if (version === '') versionNode.fail('is required (non-empty string)')

  const rules = new Map<string, TlsRule>()
  const vipOwner = new Map<string, string>()
  const sniOwner = new Map<string, string>()
  for (const [label, node] of root.get('Config').namedEntries('rule label', true)) {
    if (node.absent) node.fail('must be a rule object, got null')
    node.entries(true)
    const certNode = node.get('CertName')
    const certName = certNode.string('')
    if (certName === '') certNode.fail('is required')
    const { raw, protos } = parseNextProtos(node.get('NextProtos'))

    const gradeNode = node.get('Grade')
    const grade = gradeNode.string('').toUpperCase() || TlsGrade.C
    if (!isGrade(grade)) {
      return gradeNode.fail(`"${grade}" is not a TLS grade (${GRADES.join(', ')})`)
    }
    const clientAuth = node.get('ClientAuth').bool(false)
    const caNode = node.get('ClientCAName')
    const caName = caNode.string('')
    if (clientAuth && caName === '') caNode.fail('is required when ClientAuth is true')

    const vips: string[] = []
    for (const item of node.get('VipConf').items()) {
      const v = item.string()
      const ip = normalizeIp(v)
      if (ip === undefined) return item.fail(`"${v}" is not a valid IP address`)
      const other = vipOwner.get(ip)
      if (other !== undefined) item.fail(`VIP ${ip} is already listed in rule "${other}"`)
      vipOwner.set(ip, label)
      vips.push(ip)
    }
    const snis: string[] = []
    for (const item of node.get('SniConf').items()) {
      const name = item.string()
      const other = sniOwner.get(name)
      if (other !== undefined)
        item.fail(`server name "${name}" is already listed in rule "${other}"`)
      sniOwner.set(name, label)
      snis.push(name)
    }
    rules.set(label, {
      label,
      VipConf: vips,
      SniConf: snis,
      CertName: certName,
      NextProtos: raw,
      protos,
      Grade: grade,
      ClientAuth: clientAuth,
      ClientCAName: caName,
      Chacha20: node.get('Chacha20').bool(false),
      DynamicRecord: node.get('DynamicRecord').bool(false),
    })
  }

  const def = parseNextProtos(root.get('DefaultNextProtos'))
  const hasDefault = def.protos.length > 0
  return {
    Version: version,
    Config: rules,
    DefaultNextProtos: hasDefault ? def.raw : DEFAULT_NEXT_PROTOS,
    defaultProtos: hasDefault ? def.protos : defaultProtos(),
    DefaultChacha20: root.get('DefaultChacha20').bool(false),
    DefaultDynamicRecord: root.get('DefaultDynamicRecord').bool(false),
  }
}

function defaultProtos(): NextProto[] {
  return [{ proto: TlsProto.Http11, ...DEFAULT_PARAMS } as NextProto]
}

function isGrade(g: string): g is TlsGrade {
  return GRADES.includes(g)
}

export function loadTlsRuleConf(file: string): TlsRuleConf {
  return parseTlsRuleConf(file, readDataFile(file))
}

/**
 * Cross-checks the rules against server_cert_conf: every CertName exists (`BFE_DEFAULT_CERT`
 * names the default certificate, as in BFE) and every SniConf name is covered by a name of that
 * certificate. `file` is tls_rule_conf.data (for messages).
 */
export function checkTlsRuleCerts(file: string, conf: TlsRuleConf, certs: ServerCertConf): void {
  for (const rule of conf.Config.values()) {
    const base = `/Config/${escPointer(rule.label)}`
    const cert = ruleCert(rule, certs)
    if (cert === undefined) {
      throw new BfeConfError(
        file,
        `${base}/CertName`,
        `certificate "${rule.CertName}" does not exist in server_cert_conf`,
      )
    }
    rule.SniConf.forEach((name, i) => {
      if (!matchCertNames(cert.names, name.toLowerCase())) {
        throw new BfeConfError(
          file,
          `${base}/SniConf/${i}`,
          `"${name}" is not covered by certificate "${rule.CertName}" (${cert.names.join(', ')})`,
        )
      }
    })
  }
}

/** The certificate a rule names (undefined when it does not exist). */
export function ruleCert(rule: TlsRule, certs: ServerCertConf): ServerCert | undefined {
  return rule.CertName === DEFAULT_CERT_NAME ? certs.defaultCert : certs.certs.get(rule.CertName)
}

/** True when `host` matches one of `names` (see matchHostname). */
export function matchCertNames(names: readonly string[], host: string): boolean {
  return names.some((n) => matchHostname(n, host))
}

/**
 * BFE's certificate name match: same number of labels, each label equal or `*` in the pattern
 * (so `*` matches exactly one label, in any position). Case-sensitive; callers lower-case.
 */
export function matchHostname(pattern: string, host: string): boolean {
  if (pattern === '' || host === '') return false
  const p = pattern.split('.')
  const h = host.split('.')
  if (p.length !== h.length) return false
  for (let i = 0; i < p.length; i++) {
    if (p[i] !== '*' && p[i] !== h[i]) return false
  }
  return true
}

/**
 * Loads `<caDir>/<ClientCAName>.crt` for every ClientAuth rule and its CRLs from
 * `<crlDir>/<ClientCAName>/*.crl` (PEM or DER; other names ignored; no sub-directory = no CRL).
 * `crlDir` must be an existing directory even when no rule uses client auth (as in BFE).
 * `file` is tls_rule_conf.data and `bfeConfFile` bfe.conf (for messages).
 */
export function loadClientCas(
  file: string,
  conf: TlsRuleConf,
  caDir: string,
  crlDir: string,
  bfeConfFile = 'bfe.conf',
): Map<string, ClientCa> {
  let isDir = false
  try {
    isDir = statSync(crlDir).isDirectory()
  } catch {
    isDir = false
  }
  if (!isDir) {
    throw new BfeConfError(
      bfeConfFile,
      '[HttpsBasic] ClientCRLBaseDir',
      `${crlDir} does not exist or is not a directory`,
    )
  }
  const cas = new Map<string, ClientCa>()
  for (const rule of conf.Config.values()) {
    if (!rule.ClientAuth || cas.has(rule.ClientCAName)) continue
    const field = `/Config/${escPointer(rule.label)}/ClientCAName`
    const caFile = path.join(caDir, `${rule.ClientCAName}.crt`)
    let pem: string
    try {
      pem = readFileSync(caFile, 'utf8')
    } catch (err) {
      throw new BfeConfError(file, field, `client CA file ${caFile} cannot be read: ${errMsg(err)}`)
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new BfeConfError(file, field, `client CA file ${caFile} holds no PEM certificate`)
    }
    const { crlFiles, crls } = loadCrls(file, field, path.join(crlDir, rule.ClientCAName))
    cas.set(rule.ClientCAName, { name: rule.ClientCAName, file: caFile, pem, crlFiles, crls })
  }
  return cas
}

function loadCrls(
  file: string,
  field: string,
  dir: string,
): { crlFiles: string[]; crls: string[] } {
  let names: string[]
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => !e.isDirectory() && e.name.endsWith('.crl'))
      .map((e) => e.name)
      .sort()
  } catch {
    return { crlFiles: [], crls: [] } // no sub-directory: no CRL
  }
  const crlFiles: string[] = []
  const crls: string[] = []
  for (const name of names) {
    const f = path.join(dir, name)
    let data: Buffer
    try {
      data = readFileSync(f)
    } catch (err) {
      throw new BfeConfError(file, field, `CRL ${f} cannot be read: ${errMsg(err)}`)
    }
    const ders = crlDers(data)
    if (ders.length === 0) throw new BfeConfError(file, field, `CRL ${f}: no CRL found`)
    for (const der of ders) {
      let crl: CertificateList
      try {
        crl = AsnConvert.parse(der, CertificateList)
      } catch (err) {
        throw new BfeConfError(file, field, `CRL ${f} cannot be parsed: ${errMsg(err)}`)
      }
      const aki = crl.tbsCertList.crlExtensions?.some(
        (e) => e.extnID === id_ce_authorityKeyIdentifier,
      )
      if (aki !== true) {
        throw new BfeConfError(file, field, `CRL ${f} has no AuthorityKeyIdentifier extension`)
      }
      crls.push(toPem(der, 'X509 CRL'))
    }
    crlFiles.push(f)
  }
  return { crlFiles, crls }
}

/** DER CRLs in `data`: every `X509 CRL` PEM block, or the whole file when it is not PEM. */
function crlDers(data: Buffer): Buffer[] {
  const text = data.toString('latin1')
  if (!text.includes('-----BEGIN')) return [data]
  const out: Buffer[] = []
  const re = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g
  for (const m of text.matchAll(re))
    out.push(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'))
  return out
}

function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`
}

function escPointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1')
}

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
