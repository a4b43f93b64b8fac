import { STATUS_CODES } from 'node:http'
import type { BfeRequest } from '../../basic/request.js'
import type { BfeResponse } from '../../basic/response.js'
import type { Session } from '../../basic/session.js'
import { putByte, putBytes } from './bytes.js'

/**
 * The variables of mod_access templates (spec/modules.md §1). Each is a function of the request
 * (or session) that returns its text; `-` stands for "absent". Variables taking a key (`${Key}name`)
 * are built once per template item with that key. A value is bytes as received (one byte per
 * character: what came from the wire, and what we generate), unless its definition says `text`:
 * configuration text, written as UTF-8 (bytes.ts).
 */

/** How a value is written in the JSON line format: number, boolean or string; `-` is null. */
export type VarKind = 'num' | 'bool' | 'str'

export type RequestVar = (req: BfeRequest, res: BfeResponse | undefined, now: number) => string
export type SessionVar = (ses: Session, now: number) => string
/** Writes a request variable into `buf` from `at` (bytes.ts): the end, or -1 when out of room. */
export type RequestPut = (
  buf: Buffer,
  at: number,
  req: BfeRequest,
  res: BfeResponse | undefined,
  now: number,
) => number

interface RequestVarDef {
  readonly scope: 'request'
  readonly kind: VarKind
  /** Configuration text (UTF-8), not bytes as received. */
  readonly text?: boolean
  /** Builds the variable for a `${Key}` (undefined when written as `$name`). */
  readonly make: (key: string | undefined) => RequestVar
  /** Writes the value without making its string (a value made of several pieces). */
  readonly put?: RequestPut
}
interface SessionVarDef {
  readonly scope: 'session'
  readonly kind: VarKind
  readonly text?: boolean
  readonly make: (key: string | undefined) => SessionVar
}
interface BothVarDef {
  readonly scope: 'both'
  readonly kind: VarKind
  readonly text?: boolean
  readonly req: RequestVar
  readonly ses: SessionVar
}
export type VarDef = RequestVarDef | SessionVarDef | BothVarDef

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n))
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n))

/** Local time `YYYY-MM-DD HH:MM:SS` (BFE's `$time`), cached per second. */
let timeSec = -1
let timeText = ''
export function localTime(now: number): string {
  const sec = Math.floor(now / 1000)
  if (sec !== timeSec) {
    const d = new Date(now)
    timeText = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
    timeSec = sec
  }
  return timeText
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

function zone(d: Date, colon: boolean): string {
  const off = -d.getTimezoneOffset()
  const a = Math.abs(off)
  return `${off < 0 ? '-' : '+'}${pad2(Math.floor(a / 60))}${colon ? ':' : ''}${pad2(a % 60)}`
}

/** `[02/Jan/2006:15:04:05 -0700]` (common log format), cached per second. */
let clfSec = -1
let clfText = ''
export function clfTime(t: number): string {
  const sec = Math.floor(t / 1000)
  if (sec !== clfSec) {
    const d = new Date(t)
    clfText = `[${pad2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${zone(d, false)}]`
    clfSec = sec
  }
  return clfText
}

/** A session timestamp: local `YYYY-MM-DD HH:MM:SS.mmm +hhmm`. */
export function stampTime(t: number): string {
  const d = new Date(t)
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${pad3(d.getMilliseconds())} ${zone(d, false)}`
}

/** A duration in Go's `time.Duration` text (`0s`, `250ms`, `1.5s`, `2m3.004s`, `1h0m0s`). */
export function goDuration(ms: number): string {
  if (ms <= 0) return '0s'
  if (ms < 1000) return `${ms}ms`
  const h = Math.floor(ms / 3_600_000)
  const m = Math.floor((ms % 3_600_000) / 60_000)
  const sMs = ms % 60_000
  const whole = Math.floor(sMs / 1000)
  const frac = sMs % 1000
  const sec = frac === 0 ? `${whole}s` : `${whole}.${pad3(frac).replace(/0+$/, '')}s`
  if (h > 0) return `${h}h${m}m${sec}`
  if (m > 0) return `${m}m${sec}`
  return sec
}

function errorText(code: string | undefined, msg: string): string {
  if (code === undefined) return '-'
  return msg === '' ? code : `${code},${msg}`
}

function ipPort(ip: string, port: number): string {
  if (ip === '') return '-'
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}

/** Bytes of the response head as written on HTTP/1.1: status line, header lines, blank line. */
function headLength(res: BfeResponse): number {
  const raw = res.headers.raw
  // "HTTP/1.1 200 OK\r\n"
  let n = 15 + (STATUS_CODES[res.statusCode]?.length ?? 0)
  for (let i = 0; i + 1 < raw.length; i += 2)
    n += (raw[i] as string).length + (raw[i + 1] as string).length + 4
  return n + 2
}

function firstSetCookie(res: BfeResponse, name: string): string {
  for (const line of res.headers.getAll('set-cookie')) {
    const semi = line.indexOf(';')
    const pair = semi === -1 ? line : line.slice(0, semi)
    const eq = pair.indexOf('=')
    if (eq === -1) continue
    if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim()
  }
  return '-'
}

const ms = (a: number, b: number): string => String(Math.max(0, a - b))

function req(kind: VarKind, fn: RequestVar): RequestVarDef {
  return { scope: 'request', kind, make: () => fn }
}
function reqKeyed(kind: VarKind, make: (key: string) => RequestVar): RequestVarDef {
  return { scope: 'request', kind, make: (key) => make(key ?? '') }
}
function ses(kind: VarKind, fn: SessionVar): SessionVarDef {
  return { scope: 'session', kind, make: () => fn }
}
/** A variable whose value is configuration text (names from the configuration, our messages). */
function text<D extends RequestVarDef | SessionVarDef>(def: D): D {
  return { ...def, text: true }
}

function putRequestLine(buf: Buffer, at: number, r: BfeRequest): number {
  let o = putBytes(buf, at, r.method)
  o = putByte(buf, o, 32)
  o = putBytes(buf, o, r.rawUri)
  o = putByte(buf, o, 32)
  return putBytes(buf, o, r.proto)
}

/** Every variable by name. */
export const VARS: ReadonlyMap<string, VarDef> = new Map<string, VarDef>([
  [
    'time',
    {
      scope: 'both',
      kind: 'str',
      req: (_r, _s, now) => localTime(now),
      ses: (_s, now) => localTime(now),
    },
  ],

  ['request_time', req('str', (r) => clfTime(r.stat.readStart))],
  [
    'request_line',
    { ...req('str', (r) => `${r.method} ${r.rawUri} ${r.proto}`), put: putRequestLine },
  ],
  ['host', req('str', (r) => r.host)],
  ['url', req('str', (r) => r.uri)],
  ['req_uri', req('str', (r) => r.rawUri)],
  ['status_code', req('num', (_r, res) => (res === undefined ? '-' : String(res.statusCode)))],
  [
    'res_proto',
    req('str', (r, res) =>
      res === undefined ? '-' : r.proto === 'HTTP/2.0' ? 'HTTP/2.0' : 'HTTP/1.1',
    ),
  ],
  [
    'res_len',
    req('num', (r, res) => {
      if (res === undefined) return '-'
      // the HTTP/1 writer counts its head; on HTTP/2 the head is sized as HTTP/1.1 would write it
      const head = r.stat.headerLenOut > 0 ? r.stat.headerLenOut : headLength(res)
      return String(head + r.stat.bodyLenOut)
    }),
  ],
  [
    'req_body_len',
    req('num', (r) => {
      if (r.body === undefined) return '0'
      const cl = r.headers.get('content-length')
      return cl === undefined ? '-' : cl
    }),
  ],
  ['res_body_len', req('num', (r) => String(r.stat.bodyLenOut))],
  [
    'req_header',
    reqKeyed('str', (key) => (r) => {
      const v = r.headers.get(key)
      return v === undefined || v === '' ? '-' : v
    }),
  ],
  [
    'res_header',
    reqKeyed('str', (key) => (_r, res) => {
      if (res === undefined) return '-'
      const all = res.headers.getAll(key)
      return all.length === 0 ? '-' : all.join(',')
    }),
  ],
  ['req_cookie', reqKeyed('str', (key) => (r) => r.cookies().get(key) ?? '-')],
  [
    'res_cookie',
    reqKeyed('str', (key) => (_r, res) => (res === undefined ? '-' : firstSetCookie(res, key))),
  ],
  ['log_id', req('str', (r) => r.logId)],
  ['product', text(req('str', (r) => (r.product === '' ? '-' : r.product)))],
  [
    'cluster_name',
    text(
      req('str', (r) => {
        const c = r.backend.clusterName === '' ? r.clusterName : r.backend.clusterName
        return c === '' ? '-' : c
      }),
    ),
  ],
  ['subcluster', text(req('str', (r) => r.backend.subclusterName))],
  [
    'backend',
    text(
      req('str', (r) => {
        const b = r.backend
        return `${b.clusterName},${b.subclusterName},${b.backendAddr},${b.backendName}`
      }),
    ),
  ],
  ['vip', req('str', (r) => r.session.vip ?? '-')],
  ['remote_addr', req('str', (r) => (r.session.remoteAddr === '' ? '-' : r.session.remoteAddr))],
  ['server_addr', req('str', (r) => serverAddr(r.session))],
  ['is_trust_clientip', req('bool', (r) => (r.session.isTrustIp ? 'true' : 'false'))],
  ['req_nth', req('num', (r) => String(r.serial))],
  ['retry_num', req('num', (r) => String(r.retryTime))],
  [
    'redirect',
    req('str', (r) => (r.redirect === undefined ? '-' : `${r.redirect.url},${r.redirect.code}`)),
  ],
  ['error', text(req('str', (r) => errorText(r.errCode, r.errMsg)))],
  ['all_time', req('num', (r, _res, now) => ms(now, r.stat.readStart))],
  ['read_req_duration', req('num', (r) => ms(r.stat.readEnd, r.stat.readStart))],
  [
    'proxy_delay',
    req('num', (r) => (r.stat.backendFirst === 0 ? '-' : ms(r.stat.backendFirst, r.stat.readEnd))),
  ],
  [
    'connect_time',
    req('num', (r) => (r.stat.backendConnectMs < 0 ? '-' : String(r.stat.backendConnectMs))),
  ],
  [
    'cluster_duration',
    req('num', (r) =>
      r.stat.backendFirst === 0 ? '0' : ms(r.stat.backendEnd, r.stat.backendFirst),
    ),
  ],
  [
    'last_backend_duration',
    req('num', (r) =>
      r.stat.backendStart === 0 ? '0' : ms(r.stat.backendEnd, r.stat.backendStart),
    ),
  ],
  [
    'write_serve_time',
    req('num', (r) =>
      r.stat.backendStart === 0 ? '0' : ms(r.stat.backendEnd, r.stat.backendStart),
    ),
  ],
  [
    'readwrite_serve_time',
    req('num', (r, _res, now) => (r.stat.backendStart === 0 ? '-' : ms(now, r.stat.backendStart))),
  ],
  [
    'response_duration',
    req('num', (r) =>
      r.stat.responseStart === 0 ? '0' : ms(r.stat.responseEnd, r.stat.responseStart),
    ),
  ],
  ['since_ses_start_time', req('num', (r, _res, now) => ms(now, r.session.startTime))],

  ['ses_clientip', ses('str', (s) => ipPort(s.remoteAddr, s.remotePort))],
  ['ses_start_time', ses('str', (s) => stampTime(s.startTime))],
  ['ses_end_time', ses('str', (s, now) => stampTime(s.endTime === 0 ? now : s.endTime))],
  [
    'ses_overhead',
    ses('str', (s, now) => goDuration((s.endTime === 0 ? now : s.endTime) - s.startTime)),
  ],
  ['ses_error', text(ses('str', (s) => errorText(s.errCode, s.errMsg)))],
  ['ses_is_secure', ses('bool', (s) => (s.isSecure ? 'true' : 'false'))],
  ['ses_keepalive_num', ses('num', (s) => String(s.keepAliveNum))],
  ['ses_read_total', ses('num', (s) => String(s.bytesRead))],
  ['ses_write_total', ses('num', (s) => String(s.bytesWritten))],
  ['ses_use100', ses('bool', (s) => (s.useExpect100 ? 'true' : 'false'))],
  [
    'ses_tls_client_random',
    ses('str', (s) => (s.tlsClientRandom === '' ? '-' : s.tlsClientRandom)),
  ],
  [
    'ses_tls_server_random',
    ses('str', (s) => (s.tlsServerRandom === '' ? '-' : s.tlsServerRandom)),
  ],
])

/** Variable names, longest first (a `$` takes the longest name that follows it). */
export const VAR_NAMES: readonly string[] = [...VARS.keys()].sort((a, b) => b.length - a.length)

/** The local `ip:port` of the connection (`[ip]:port` for IPv6), `-` when unknown. */
function serverAddr(ses: Session): string {
  const ip = ses.localAddr
  if (ip === '') return '-'
  return ip.includes(':') ? `[${ip}]:${ses.localPort}` : `${ip}:${ses.localPort}`
}
