import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import {
  BasicOCSPResponse,
  id_pkix_ocsp_basic,
  OCSPResponse,
  OCSPResponseStatus,
} from '@peculiar/asn1-ocsp'
import { AsnConvert } from '@peculiar/asn1-schema'
import { checkShape, serverCertConfSchema } from './core-schemas.js'
import { readDataFile } from './data-file.js'
import { JsonNode } from './json-node.js'

/** Certificate name BFE reserves for the default certificate. */
export const DEFAULT_CERT_NAME = 'BFE_DEFAULT_CERT'

/** One loaded certificate of server_cert_conf.data. */
export interface ServerCert {
  /** Name in `Config.CertConf`. */
  readonly name: string
  readonly certFile: string
  readonly keyFile: string
  /** Certificate file content (leaf first, then any chain), PEM. */
  readonly certPem: string
  readonly keyPem: string
  /** The leaf certificate. */
  readonly x509: X509Certificate
  /** Subject CN and DNS subjectAltNames, lower-cased, in that order, no duplicates. */
  readonly names: readonly string[]
  /** DER OCSP response to staple; undefined when none is configured or it failed the checks. */
  readonly ocspResponse: Buffer | undefined
}

/** server_cert_conf.data (config.md §6.1), validated, with every file read. */
export interface ServerCertConf {
  readonly Version: string
  /** Name of the default certificate (`Config.Default`). */
  readonly Default: string
  /** Certificates by name, in file order. */
  readonly certs: ReadonlyMap<string, ServerCert>
  /** The certificate named by `Default`. */
  readonly defaultCert: ServerCert
  /** OCSP responses ignored (file and reason): the certificate is used without stapling. */
  readonly warnings: string[]
  /** Which base each relative path was resolved against (load log, decisions.md D17). */
  readonly notes: string[]
}

export interface ServerCertConfOptions {
  /** Time used for the OCSP validity window (default: now). */
  now?: Date
}

/** Reads and validates server_cert_conf.data; certificate paths are relative to `confRoot`. */
export function loadServerCertConf(
  file: string,
  confRoot: string,
  opts: ServerCertConfOptions = {},
): ServerCertConf {
  return parseServerCertConf(file, readDataFile(file), confRoot, opts)
}

/** Parses server_cert_conf.data text (`file` is used in messages). Throws BfeConfError. */
export function parseServerCertConf(
  file: string,
  text: string,
  confRoot: string,
  opts: ServerCertConfOptions = {},
): ServerCertConf {
  const now = opts.now ?? new Date()
  const root = JsonNode.parse(file, text)
  checkShape(serverCertConfSchema, root)
  const versionNode = root.get('Version')
  if (versionNode.string('') === '') versionNode.fail('is required (non-empty string)')
  const config = root.get('Config')
  config.entries(true)

  const warnings: string[] = []
  const notes: string[] = []
  const certs = new Map<string, ServerCert>()
  for (const [name, node] of config.get('CertConf').namedEntries('certificate', true)) {
    if (name === DEFAULT_CERT_NAME) node.fail(`certificate name ${DEFAULT_CERT_NAME} is reserved`)
    node.entries(true)
    certs.set(name, loadCert(name, node, confRoot, now, warnings, notes))
  }

  const defNode = config.get('Default')
  const def = defNode.string('')
  const defaultCert = certs.get(def)
  if (defaultCert === undefined) {
    return defNode.fail(`default certificate "${def}" is not a key of /Config/CertConf`)
  }
  return { Version: versionNode.string(), Default: def, certs, defaultCert, warnings, notes }
}

function loadCert(
  name: string,
  node: JsonNode,
  confRoot: string,
  now: Date,
  warnings: string[],
  notes: string[],
): ServerCert {
  const certNode = node.get('ServerCertFile')
  const keyNode = node.get('ServerKeyFile')
  const ocspNode = node.get('OcspResponseFile')
  const certFile = existingFile(certNode, confRoot, notes)
  const keyFile = existingFile(keyNode, confRoot, notes)
  const ocspFile = ocspNode.string('') === '' ? undefined : existingFile(ocspNode, confRoot, notes)

  const certPem = readOrFail(certNode, certFile)
  const keyPem = readOrFail(keyNode, keyFile)
  if (!certPem.includes('-----BEGIN CERTIFICATE-----')) {
    certNode.fail(`${certFile}: no PEM certificate found`)
  }
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(certPem)
  } catch (err) {
    return certNode.fail(`${certFile}: cannot parse the certificate: ${errMsg(err)}`)
  }
  let key: KeyObject
  try {
    key = createPrivateKey(keyPem)
  } catch (err) {
    return keyNode.fail(`${keyFile}: cannot parse the private key: ${errMsg(err)}`)
  }
  if (!x509.checkPrivateKey(key)) {
    keyNode.fail(`${keyFile}: the private key does not match certificate ${certFile}`)
  }

  let ocspResponse: Buffer | undefined
  if (ocspFile !== undefined) {
    const der = readFileSync(ocspFile)
    const bad = checkOcspResponse(der, x509, now)
    if (bad === undefined) ocspResponse = der
    else
      warnings.push(`ignore invalid OCSP response file ${ocspFile} (certificate "${name}"): ${bad}`)
  }
  return { name, certFile, keyFile, certPem, keyPem, x509, names: certNames(x509), ocspResponse }
}

/**
 * Resolves a path of server_cert_conf.data: against the configuration root as BFE does; if no
 * file is there, against the working directory (decisions.md D17, the other way round because
 * BFE's base here is the root). A missing file is an error naming the field.
 */
function existingFile(node: JsonNode, confRoot: string, notes: string[]): string {
  const p = node.string('')
  if (p === '') node.fail('is required')
  if (path.isAbsolute(p)) {
    if (!existsSync(p)) node.fail(`file not found: ${p}`)
    return p
  }
  const fromRoot = path.resolve(confRoot, p)
  if (existsSync(fromRoot)) return fromRoot
  const fromCwd = path.resolve(p)
  if (existsSync(fromCwd)) {
    notes.push(`${node.file}: ${node.pointer} ${p} not under ${confRoot}, using ${fromCwd}`)
    return fromCwd
  }
  return node.fail(`file not found: ${fromRoot}`)
}

function readOrFail(node: JsonNode, file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    return node.fail(`${file} cannot be read: ${errMsg(err)}`)
  }
}

/** Subject CN (if any) and DNS subjectAltNames of `cert`, lower-cased, without duplicates. */
export function certNames(cert: X509Certificate): string[] {
  const names: string[] = []
  let cn = ''
  for (const line of cert.subject.split('\n')) {
    if (line.startsWith('CN=')) cn = line.slice(3) // like Go, the last CN wins
  }
  if (cn !== '') names.push(cn.toLowerCase())
  for (const dns of dnsAltNames(cert.subjectAltName ?? '')) {
    const n = dns.toLowerCase()
    if (!names.includes(n)) names.push(n)
  }
  return names
}

/**
 * DNS entries of Node's subjectAltName text (`DNS:a, DNS:b, IP Address:…`). Values that contain
 * separators are written by Node as JSON strings (`DNS:"a, b"`).
 */
function dnsAltNames(san: string): string[] {
  const out: string[] = []
  let i = 0
  while (i < san.length) {
    const colon = san.indexOf(':', i)
    if (colon === -1) break
    const kind = san.slice(i, colon)
    let value: string
    let next: number
    if (san[colon + 1] === '"') {
      let j = colon + 2
      while (j < san.length && san[j] !== '"') j += san[j] === '\\' ? 2 : 1
      try {
        value = JSON.parse(san.slice(colon + 1, j + 1)) as string
      } catch {
        value = san.slice(colon + 2, j)
      }
      next = san.indexOf(', ', j)
    } else {
      next = san.indexOf(', ', colon)
      value = san.slice(colon + 1, next === -1 ? san.length : next)
    }
    if (kind === 'DNS') out.push(value)
    if (next === -1) break
    i = next + 2
  }
  return out
}

/**
 * Checks a DER OCSP response for `cert` the way BFE does before stapling it: it parses, is a
 * successful basic response, has a response for the certificate's serial number, the status is
 * good and `now` lies within [thisUpdate, nextUpdate]. Returns the reason it fails, or undefined.
 * (BFE additionally shrinks that window by one hour at each end; we do not, see the docs.)
 */
export function checkOcspResponse(
  der: Uint8Array,
  cert: X509Certificate,
  now: Date = new Date(),
): string | undefined {
  let basic: BasicOCSPResponse
  try {
    const resp = AsnConvert.parse(der, OCSPResponse)
    if (resp.responseStatus !== OCSPResponseStatus.successful) {
      return `OCSP response status is ${OCSPResponseStatus[resp.responseStatus] ?? resp.responseStatus}`
    }
    const bytes = resp.responseBytes
    if (bytes === undefined) return 'OCSP response has no response bytes'
    if (bytes.responseType !== id_pkix_ocsp_basic) {
      return `not a basic OCSP response (${bytes.responseType})`
    }
    basic = AsnConvert.parse(bytes.response.buffer, BasicOCSPResponse)
  } catch (err) {
    return `cannot parse the OCSP response: ${errMsg(err)}`
  }
  const responses = basic.tbsResponseData.responses
  if (responses.length === 0) return 'OCSP response contains no certificate status'
  const serial = BigInt(`0x${cert.serialNumber}`)
  const single = responses.find((r) => bytesToBigInt(r.certID.serialNumber) === serial)
  if (single === undefined) return 'OCSP serial number does not match the certificate'
  if (single.certStatus.good === undefined) {
    return `OCSP certificate status is ${single.certStatus.revoked !== undefined ? 'revoked' : 'unknown'}`
  }
  const t = now.getTime()
  if (single.thisUpdate.getTime() > t) {
    return `OCSP response is not valid yet (thisUpdate ${single.thisUpdate.toISOString()})`
  }
  if (single.nextUpdate === undefined) return 'OCSP response has no nextUpdate'
  if (single.nextUpdate.getTime() <= t) {
    return `OCSP response has expired (nextUpdate ${single.nextUpdate.toISOString()})`
  }
  return undefined
}

function bytesToBigInt(buf: ArrayBuffer): bigint {
  const hex = Buffer.from(buf).toString('hex')
  return hex === '' ? 0n : BigInt(`0x${hex}`)
}

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
