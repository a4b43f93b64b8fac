import { HeaderList } from '../basic/header-list.js'
import { BfeRequest } from '../basic/request.js'
import { Session } from '../basic/session.js'
import { normalizeIp } from '../util/ip.js'

/**
 * A request described without a connection: what `bfe explain` and `bfe simulate` decide on.
 * Built from command-line flags, from a `METHOD URL [Header: value]...` line, or from a mod_access
 * JSON line.
 */
export interface RequestSpec {
  method: string
  /** Request-target: origin form (`/a?b`) or absolute form (`http://host/a`). */
  url: string
  /** Header fields in order (name, value). */
  headers: [string, string][]
  /** Client address (the hash key of `HashStrategy` client IP); undefined = unknown. */
  cip: string | undefined
  /** The VIP the client connected to (product by VIP); undefined = none. */
  vip: string | undefined
}

/** A request line that could not be read: says which line and why. */
export class RequestSpecError extends Error {
  override readonly name = 'RequestSpecError'
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * The synthetic request explain runs: a Session with the client and VIP of `spec`, and a
 * BfeRequest as the HTTP/1 engine would build it (absolute-form authority as Host when the spec
 * has no Host, D21). No socket is involved.
 */
export function buildRequest(spec: RequestSpec): BfeRequest {
  const url = spec.url
  const abs = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(url)
  const headers = new HeaderList()
  for (const [n, v] of spec.headers) headers.add(n, v)
  let target = url
  let secure = false
  if (abs !== null) {
    secure = (abs[1] ?? '').toLowerCase() === 'https'
    const authority = abs[2] ?? ''
    // an absolute-form target wins over Host (RFC 9112 §3.2.2)
    if (authority !== '') headers.set('Host', authority)
    const rest = abs[3] ?? ''
    target = rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}`
  }
  const session = new Session({
    remoteAddr: spec.cip ?? '',
    remotePort: spec.cip === undefined ? 0 : 40000,
    vip: spec.vip,
    isSecure: secure,
  })
  return new BfeRequest(session, {
    method: spec.method.toUpperCase(),
    rawUri: target,
    proto: 'HTTP/1.1',
    headers,
    hasBody: false,
  })
}

/**
 * One line of a requests file: a mod_access JSON line (`{"request_line": "GET /a HTTP/1.1",
 * "host": ..., "req_header.X-Y": ..., "remote_addr": ...}`), or `METHOD URL [Name: value]...`.
 * Blank lines and `#` comments give undefined.
 */
export function parseRequestLine(
  line: string,
  defaults: Partial<RequestSpec> = {},
): RequestSpec | undefined {
  const t = line.trim()
  if (t === '' || t.startsWith('#')) return undefined
  if (t.startsWith('{')) return fromAccessJson(t, defaults)
  const tokens = t.split(/\s+/)
  const method = tokens[0] ?? ''
  const url = tokens[1]
  if (!TOKEN.test(method)) throw new RequestSpecError(`"${method}" is not an HTTP method`)
  if (url === undefined) throw new RequestSpecError('needs a URL after the method')
  const headers: [string, string][] = []
  for (let i = 2; i < tokens.length; i++) {
    const tok = tokens[i] as string
    const cur = headers[headers.length - 1]
    if (tok.endsWith(':') && TOKEN.test(tok.slice(0, -1))) headers.push([tok.slice(0, -1), ''])
    else if (cur !== undefined) cur[1] = cur[1] === '' ? tok : `${cur[1]} ${tok}`
    else throw new RequestSpecError(`"${tok}" is not a header (write Name: value)`)
  }
  return {
    method,
    url,
    headers,
    cip: defaults.cip,
    vip: defaults.vip,
  }
}

/** A `Name: value` header argument (`-H`). */
export function parseHeaderArg(h: string): [string, string] {
  const i = h.indexOf(':')
  const name = i === -1 ? '' : h.slice(0, i).trim()
  if (!TOKEN.test(name)) throw new RequestSpecError(`-H "${h}": write Name: value`)
  return [name, h.slice(i + 1).trim()]
}

function fromAccessJson(text: string, defaults: Partial<RequestSpec>): RequestSpec {
  let o: unknown
  try {
    o = JSON.parse(text)
  } catch (err) {
    throw new RequestSpecError(`not valid JSON: ${err instanceof Error ? err.message : err}`)
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new RequestSpecError('a JSON request line must be an object')
  const rec = o as Record<string, unknown>
  const str = (k: string): string | undefined => {
    const v = rec[k]
    return typeof v === 'string' && v !== '-' && v !== '' ? v : undefined
  }
  const line = str('request_line')?.split(' ')
  const method = str('method') ?? line?.[0] ?? 'GET'
  const url = str('req_uri') ?? line?.[1] ?? str('uri') ?? str('url')
  if (url === undefined) throw new RequestSpecError('has no request_line, req_uri or url')
  const headers: [string, string][] = []
  const host = str('host')
  if (host !== undefined) headers.push(['Host', host])
  const cookies: string[] = []
  for (const [k, v] of Object.entries(rec)) {
    if (typeof v !== 'string' || v === '-') continue
    if (k.startsWith('req_header.')) {
      const name = k.slice(11)
      if (name.toLowerCase() !== 'host' || host === undefined) headers.push([name, v])
    } else if (k.startsWith('req_cookie.')) cookies.push(`${k.slice(11)}=${v}`)
  }
  const hs = rec['headers']
  if (typeof hs === 'object' && hs !== null && !Array.isArray(hs)) {
    for (const [k, v] of Object.entries(hs)) if (typeof v === 'string') headers.push([k, v])
  }
  if (cookies.length > 0) headers.push(['Cookie', cookies.join('; ')])
  const addr = str('client_ip') ?? str('clientip') ?? str('remote_addr')
  return {
    method,
    url,
    headers,
    cip: addr === undefined ? defaults.cip : stripPort(addr),
    vip: str('vip') ?? defaults.vip,
  }
}

/** `1.2.3.4:5678` or `[::1]:80` to the address alone. */
function stripPort(addr: string): string {
  if (normalizeIp(addr) !== undefined) return addr
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(addr) ?? /^([^:]+):\d+$/.exec(addr)
  return m?.[1] ?? addr
}
