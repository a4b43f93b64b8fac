import { createPrivateKey, X509Certificate } from 'node:crypto'
import { BfeConfError } from '../basic/errors.js'
import { CLUSTER_CONF_BOUNDS } from './cluster-conf-bounds.js'
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
import { checkShape, clusterConfSchema } from './core-schemas.js'
import { readDataFile, readJsonFile } from './data-file.js'
import { JsonNode } from './json-node.js'
import { resolveDataPath } from './paths.js'

/** cluster_conf.data (config.md §4.4): every cluster with BFE's defaults applied. */
export interface ClusterConfFile {
  Version: string
  Config: Map<string, ClusterConf>
  /**
   * Notes for the load log, logged as warnings and shown by `-t`: which base a HTTPSConf path was
   * resolved against (D17), and values clamped to their maximum (D23).
   */
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
  checkShape(clusterConfSchema, root)
  const version = root.get('Version').string()
  const notes: string[] = []
  const config = new Map<string, ClusterConf>()
  const confRoot = opts.confRoot ?? process.cwd()
  for (const [name, node] of root.get('Config').namedEntries('cluster', true)) {
    node.entries()
    const backend = backendConf(node.get('BackendConf'), notes)
    config.set(name, {
      name,
      BackendConf: backend,
      CheckConf: checkConf(node.get('CheckConf'), notes),
      GslbBasic: gslbBasic(node.get('GslbBasic')),
      ClusterBasic: clusterBasic(node.get('ClusterBasic'), notes),
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
  const backend = backendConf(absent, [])
  return {
    name,
    BackendConf: backend,
    CheckConf: checkConf(absent, []),
    GslbBasic: gslbBasic(absent),
    ClusterBasic: clusterBasic(absent, []),
    HTTPSConf: httpsConf(absent, backend.Protocol, process.cwd(), []),
  }
}

export function loadClusterConf(file: string, opts: ClusterConfOptions = {}): ClusterConfFile {
  return decodeClusterConf(readJsonFile(file), opts)
}

/**
 * BFE's values of BackendConf.Protocol. `ws` and `tcp` are accepted as BFE does and forwarded like
 * `http`; `fcgi` loads with a warning and is never forwarded to (D19).
 */
const PROTOCOLS = ['http', 'https', 'h2c', 'ws', 'tcp'] as const

export { CLUSTER_CONF_BOUNDS } from './cluster-conf-bounds.js'

const B = CLUSTER_CONF_BOUNDS

function backendConf(n: JsonNode, w: string[]): BackendConf {
  n.entries()
  const protoNode = n.get('Protocol')
  const protocol = protoNode.string('http').toLowerCase()
  if (protocol === 'fcgi') {
    // Loaded so that BFE's own configurations (which ship a FastCGI cluster) start; requests
    // routed to it are answered 503 BK_NO_BACKEND (decisions.md D19).
    w.push(
      `${n.file}: ${protoNode.pointer} is "fcgi": FastCGI backends are not supported by bfe-ts; requests routed to this cluster get 503`,
    )
  } else if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    protoNode.fail(`must be one of ${PROTOCOLS.join(', ')}, got "${protocol}"`)
  }
  const maxConns = n.get('MaxConnsPerHost').bounded(0, B.MaxConnsPerHost)
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
  const envVars: Record<string, string> = {} // reserved names refused by namedEntries
  for (const [k, v] of fcgi.get('EnvVars').namedEntries('variable')) envVars[k] = v.string()
  return {
    Protocol: protocol,
    TimeoutConnSrv: n.get('TimeoutConnSrv').bounded(2000, B.TimeoutConnSrv, w),
    TimeoutResponseHeader: n
      .get('TimeoutResponseHeader')
      .bounded(60000, B.TimeoutResponseHeader, w),
    MaxIdleConnsPerHost: n.get('MaxIdleConnsPerHost').bounded(2, B.MaxIdleConnsPerHost),
    MaxConnsPerHost: Math.max(maxConns, 0),
    RetryLevel: oneOf(n.get('RetryLevel'), 0, [0, 1]),
    SlowStartTime: n.get('SlowStartTime').bounded(0, B.SlowStartTime),
    OutlierDetectionHttpCode: outlier,
    FCGIConf: { Root: fcgi.get('Root').string(''), EnvVars: envVars },
  }
}

function checkConf(n: JsonNode, w: string[]): CheckConf {
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
  const statusCode = statusNode.bounded(0, B.StatusCode)
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
  const succNum = succNode.bounded(1, B.SuccNum)
  const timeoutNode = n.get('CheckTimeout')
  const checkTimeout = timeoutNode.absent ? undefined : timeoutNode.bounded(0, B.CheckTimeout, w)
  const interval = n.get('CheckInterval').bounded(1000, B.CheckInterval)
  return {
    Schem: schem,
    Uri: uri,
    Host: n.get('Host').string(''),
    HostType: hostType,
    StatusCode: statusCode,
    StatusCodeRange: statusCodeRange,
    FailNum: n.get('FailNum').bounded(5, B.FailNum),
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
    CrossRetry: n.get('CrossRetry').bounded(0, B.CrossRetry),
    RetryMax: n.get('RetryMax').bounded(2, B.RetryMax),
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

function clusterBasic(n: JsonNode, w: string[]): ClusterBasic {
  n.entries()
  return {
    TimeoutReadClient: n.get('TimeoutReadClient').bounded(30000, B.TimeoutReadClient, w),
    TimeoutWriteClient: n.get('TimeoutWriteClient').bounded(60000, B.TimeoutWriteClient, w),
    TimeoutReadClientAgain: n
      .get('TimeoutReadClientAgain')
      .bounded(60000, B.TimeoutReadClientAgain, w),
    ReqWriteBufferSize: n.get('ReqWriteBufferSize').bounded(512, B.ReqWriteBufferSize),
    ReqFlushInterval: n.get('ReqFlushInterval').bounded(0, B.ReqFlushInterval),
    ResFlushInterval: n.get('ResFlushInterval').bounded(-1, B.ResFlushInterval),
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

function oneOf(n: JsonNode, def: number, allowed: readonly number[]): number {
  const v = n.int(def)
  if (!allowed.includes(v)) n.fail(`must be one of ${allowed.join(', ')}, got ${v}`)
  return v
}
