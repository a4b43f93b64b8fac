import { createPrivateKey, X509Certificate } from 'node:crypto'
import { BfeConfError } from '../basic/errors.js'
import type {
  BackendConf,
  CheckConf,
  ClusterBasic,
  ClusterConf,
  GslbBasic,
  HashConf,
  HTTPSConf,
} from './cluster-conf-types.js'
import { HashStrategy } from './cluster-conf-types.js'
import { readDataFile, readJsonFile } from './data-file.js'
import { JsonNode } from './json-node.js'
import { resolveDataPath } from './paths.js'

/** cluster_conf.data (config.md §4.4): every cluster with BFE's defaults applied. */
export interface ClusterConfFile {
  Version: string
  Config: Map<string, ClusterConf>
  /** Notes for the load log (which base a HTTPSConf path was resolved against, D17). */
  notes: string[]
}

export interface ClusterConfOptions {
  /** Configuration root, the second place HTTPSConf files are looked for (D17). */
  confRoot?: string
}

/** Parses and validates cluster_conf.data text. HTTPSConf files are read now. */
export function parseClusterConf(
  file: string,
  text: string,
  opts: ClusterConfOptions = {},
): ClusterConfFile {
  return decodeClusterConf(JsonNode.parse(file, text), opts)
}

/** Validates the parsed JSON of cluster_conf.data (`root.file` names it in errors). */
export function decodeClusterConf(root: JsonNode, opts: ClusterConfOptions = {}): ClusterConfFile {
  if (root.absent) root.fail('is empty')
  root.entries(true)
  const version = root.get('Version').string()
  const notes: string[] = []
  const config = new Map<string, ClusterConf>()
  const confRoot = opts.confRoot ?? process.cwd()
  for (const [name, node] of root.get('Config').entries(true)) {
    node.entries()
    const backend = backendConf(node.get('BackendConf'))
    config.set(name, {
      name,
      BackendConf: backend,
      CheckConf: checkConf(node.get('CheckConf')),
      GslbBasic: gslbBasic(node.get('GslbBasic')),
      ClusterBasic: clusterBasic(node.get('ClusterBasic')),
      HTTPSConf: httpsConf(node.get('HTTPSConf'), backend.Protocol, confRoot, notes),
    })
  }
  return { Version: version, Config: config, notes }
}

/**
 * The settings of a cluster that cluster_conf.data lists with no fields (`"name": {}`): every
 * default applied by the same code that reads the file, so there is one source of BFE's defaults.
 */
export function defaultClusterConf(name: string): ClusterConf {
  const absent = new JsonNode('', '', undefined)
  const backend = backendConf(absent)
  return {
    name,
    BackendConf: backend,
    CheckConf: checkConf(absent),
    GslbBasic: gslbBasic(absent),
    ClusterBasic: clusterBasic(absent),
    HTTPSConf: httpsConf(absent, backend.Protocol, process.cwd(), []),
  }
}

export function loadClusterConf(file: string, opts: ClusterConfOptions = {}): ClusterConfFile {
  return decodeClusterConf(readJsonFile(file), opts)
}

/**
 * BFE's values of BackendConf.Protocol less `fcgi` (D19). `ws` and `tcp` are accepted as BFE does
 * and forwarded like `http`.
 */
const PROTOCOLS = ['http', 'https', 'h2c', 'ws', 'tcp'] as const

function backendConf(n: JsonNode): BackendConf {
  n.entries()
  const protoNode = n.get('Protocol')
  const protocol = protoNode.string('http').toLowerCase()
  if (protocol === 'fcgi') {
    protoNode.fail(
      'is "fcgi", which bfe-ts does not support: FastCGI backends are out of scope (use http, https or h2c)',
    )
  }
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    protoNode.fail(`must be one of ${PROTOCOLS.join(', ')}, got "${protocol}"`)
  }
  const maxConns = n.get('MaxConnsPerHost').int(0)
  const outlierNode = n.get('OutlierDetectionHttpCode')
  const outlier = outlierNode.string('').toLowerCase()
  if (outlier !== '') {
    for (const part of outlier.split('|')) {
      if (!/^([1-5]xx|[1-5]\d\d)$/.test(part.trim())) {
        outlierNode.fail(`has an invalid status code or class "${part}" (use 503 or 5xx)`)
      }
    }
  }
  const fcgi = n.get('FCGIConf')
  fcgi.entries()
  const envVars: Record<string, string> = {}
  for (const [k, v] of fcgi.get('EnvVars').entries()) envVars[k] = v.string()
  return {
    Protocol: protocol,
    TimeoutConnSrv: nonNegative(n.get('TimeoutConnSrv'), 2000),
    TimeoutResponseHeader: nonNegative(n.get('TimeoutResponseHeader'), 60000),
    MaxIdleConnsPerHost: nonNegative(n.get('MaxIdleConnsPerHost'), 2),
    MaxConnsPerHost: Math.max(maxConns, 0),
    RetryLevel: oneOf(n.get('RetryLevel'), 0, [0, 1]),
    SlowStartTime: nonNegative(n.get('SlowStartTime'), 0),
    OutlierDetectionHttpCode: outlier,
    FCGIConf: { Root: fcgi.get('Root').string(''), EnvVars: envVars },
  }
}

function checkConf(n: JsonNode): CheckConf {
  n.entries()
  const schemNode = n.get('Schem')
  const schem = schemNode.string('http')
  if (schem !== 'http' && schem !== 'https' && schem !== 'tls' && schem !== 'tcp') {
    schemNode.fail(`must be http, https, tls or tcp, got "${schem}"`)
  }
  const uriNode = n.get('Uri')
  const uri = uriNode.string('/health_check')
  const hostTypeNode = n.get('HostType')
  const hostType = hostTypeNode.string('HOST')
  if (hostType !== 'HOST' && hostType !== 'Instance_IP') {
    hostTypeNode.fail(`must be HOST or Instance_IP, got "${hostType}"`)
  }
  const statusNode = n.get('StatusCode')
  const statusCode = statusNode.int(0)
  const rangeNode = n.get('StatusCodeRange')
  const statusCodeRange = rangeNode.string('')
  if (schem === 'http' || schem === 'https') {
    if (!uri.startsWith('/')) uriNode.fail(`must start with "/", got "${uri}"`)
    if (!((statusCode >= 100 && statusCode <= 599) || (statusCode >= 0 && statusCode <= 31))) {
      statusNode.fail(`must be 0, a class mask 1-31 or a status 100-599, got ${statusCode}`)
    }
    const r = statusCodeRange.replace(/ /g, '')
    if (r !== '' && (!/^[0-9xX|]+$/.test(r) || r.split('|').some((p) => p.length !== 3))) {
      rangeNode.fail(`must be "|"-separated 3-character patterns such as "200|3xx", got "${r}"`)
    }
  }
  const succNode = n.get('SuccNum')
  const succNum = succNode.int(1)
  if (succNum < 1) succNode.fail(`must be >= 1, got ${succNum}`)
  const timeoutNode = n.get('CheckTimeout')
  const checkTimeout = timeoutNode.absent ? undefined : nonNegative(timeoutNode, 0)
  const intervalNode = n.get('CheckInterval')
  const interval = intervalNode.int(1000)
  if (interval <= 0) intervalNode.fail(`must be > 0, got ${interval}`)
  return {
    Schem: schem,
    Uri: uri,
    Host: n.get('Host').string(''),
    HostType: hostType,
    StatusCode: statusCode,
    StatusCodeRange: statusCodeRange,
    FailNum: nonNegative(n.get('FailNum'), 5),
    SuccNum: succNum,
    CheckTimeout: checkTimeout,
    CheckInterval: interval,
    ActiveCheck: n.get('ActiveCheck').bool(false),
  }
}

function gslbBasic(n: JsonNode): GslbBasic {
  n.entries()
  const modeNode = n.get('BalanceMode')
  const mode = modeNode.string('WRR').toUpperCase()
  const eppNode = n.get('EPPAddr')
  const epp = eppNode.strings([])
  if (mode === 'EPP') {
    if (epp.length === 0) eppNode.fail('is required (non-empty) with BalanceMode EPP')
  } else if (mode !== 'WRR' && mode !== 'WLC') {
    modeNode.fail(`must be WRR, WLC or EPP, got "${mode}"`)
  }
  return {
    CrossRetry: nonNegative(n.get('CrossRetry'), 0),
    RetryMax: nonNegative(n.get('RetryMax'), 2),
    BalanceMode: mode,
    EPPAddr: epp,
    HashConf: hashConf(n.get('HashConf')),
  }
}

function hashConf(n: JsonNode): HashConf {
  n.entries()
  const strategyNode = n.get('HashStrategy')
  const strategy = oneOf(strategyNode, HashStrategy.ClientIpOnly, [0, 1, 2, 3])
  const headerNode = n.get('HashHeader')
  const header = headerNode.string('')
  if (strategy === HashStrategy.ClientIdOnly || strategy === HashStrategy.ClientIdPreferred) {
    if (header === '') headerNode.fail(`is required with HashStrategy ${strategy}`)
    const colon = header.indexOf(':')
    if (colon !== -1 && header.slice(colon + 1).trim() === '') {
      headerNode.fail(`"${header}" names no cookie (use Cookie:<name>)`)
    }
  }
  return {
    HashStrategy: strategy,
    HashHeader: header,
    SessionSticky: n.get('SessionSticky').bool(false),
  }
}

function clusterBasic(n: JsonNode): ClusterBasic {
  n.entries()
  const resFlush = n.get('ResFlushInterval')
  const resFlushInterval = resFlush.int(-1)
  if (resFlushInterval < -1) resFlush.fail(`must be >= -1, got ${resFlushInterval}`)
  return {
    TimeoutReadClient: nonNegative(n.get('TimeoutReadClient'), 30000),
    TimeoutWriteClient: nonNegative(n.get('TimeoutWriteClient'), 60000),
    TimeoutReadClientAgain: nonNegative(n.get('TimeoutReadClientAgain'), 60000),
    ReqWriteBufferSize: nonNegative(n.get('ReqWriteBufferSize'), 512),
    ReqFlushInterval: nonNegative(n.get('ReqFlushInterval'), 0),
    ResFlushInterval: resFlushInterval,
    CancelOnClientClose: n.get('CancelOnClientClose').bool(false),
    DisableHostHeader: n.get('DisableHostHeader').bool(false),
    DisableHealthCheck: n.get('DisableHealthCheck').bool(false),
  }
}

/**
 * HTTPSConf: only read for `https` backends, as BFE does. Files are resolved per D17 and read now,
 * so a missing or unreadable file fails the load (and `bfe -t`) instead of the first request.
 */
function httpsConf(n: JsonNode, protocol: string, confRoot: string, notes: string[]): HTTPSConf {
  n.entries()
  const skip = n.get('RSInsecureSkipVerify').bool(false)
  const conf: HTTPSConf = {
    RSHost: n.get('RSHost').string(''),
    RSInsecureSkipVerify: skip,
    RSCAList: [],
    BFECert: undefined,
    BFEKey: undefined,
  }
  const caNode = n.get('RSCAList')
  const caFiles = caNode.strings([])
  const certNode = n.get('BFECertFile')
  const keyNode = n.get('BFEKeyFile')
  const certFile = certNode.string('')
  const keyFile = keyNode.string('')
  if (protocol !== 'https') return conf
  // BFE reads the CA files only when it verifies the backend.
  if (!skip) {
    caFiles.forEach((f, i) => {
      const node = caNode.get(String(i))
      const pem = readPem(node, f, confRoot, notes)
      const blocks = pem.match(PEM_CERT) ?? []
      if (blocks.length === 0) node.fail(`${f} holds no PEM certificate`)
      blocks.forEach((b, j) => {
        try {
          new X509Certificate(b)
        } catch (err) {
          failWith(node, `${f}: certificate ${j + 1} cannot be parsed`, err)
        }
      })
      conf.RSCAList.push(pem)
    })
  }
  // Either file alone is read (a missing one fails) and then unused, as in BFE.
  const cert = certFile === '' ? undefined : readPem(certNode, certFile, confRoot, notes)
  const key = keyFile === '' ? undefined : readPem(keyNode, keyFile, confRoot, notes)
  if ((cert === undefined) !== (key === undefined)) {
    const [set, unset] = cert === undefined ? [keyNode, 'BFECertFile'] : [certNode, 'BFEKeyFile']
    notes.push(
      `${set.file}: ${set.pointer} is set without ${unset}: no client certificate is sent to the backend`,
    )
  }
  if (cert !== undefined && key !== undefined) {
    let matches = false
    try {
      matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))
    } catch (err) {
      failWith(certNode, 'with BFEKeyFile is not a valid key pair', err)
    }
    if (!matches) certNode.fail('does not match BFEKeyFile')
    conf.BFECert = cert
    conf.BFEKey = key
  }
  return conf
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g

function failWith(node: JsonNode, reason: string, err: unknown): never {
  const msg = err instanceof Error ? err.message : String(err)
  throw new BfeConfError(node.file, node.pointer, `${reason}: ${msg}`, { cause: err })
}

function readPem(node: JsonNode, p: string, confRoot: string, notes: string[]): string {
  const r = resolveDataPath(p, confRoot)
  if (!r.exists) node.fail(`file ${p} not found (tried the working directory and ${confRoot})`)
  notes.push(`${node.file}: ${node.pointer} ${p} resolved against ${r.base}: ${r.path}`)
  try {
    return readDataFile(r.path)
  } catch (err) {
    failWith(node, `cannot read ${p}`, err)
  }
}

function nonNegative(n: JsonNode, def: number): number {
  const v = n.int(def)
  if (v < 0) n.fail(`must be >= 0, got ${v}`)
  return v
}

function oneOf(n: JsonNode, def: number, allowed: readonly number[]): number {
  const v = n.int(def)
  if (!allowed.includes(v)) n.fail(`must be one of ${allowed.join(', ')}, got ${v}`)
  return v
}
