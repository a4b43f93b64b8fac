import { isFieldValue, isToken } from '../../basic/field-syntax.js'
import type { HeaderList } from '../../basic/header-list.js'
import type { BfeRequest } from '../../basic/request.js'
import type { JsonNode } from '../../config/json-node.js'
import type { DecodeCx, JsonSchema, Schema } from '../../config/schema.js'
import { s } from '../../config/schema.js'
import { compileCookieValue, compileValue, type HeaderValue, headerValue } from './variables.js'

/** The stage an action runs at: request (HandleAfterLocation) or response (HandleReadResponse). */
export type Stage = 'req' | 'rsp'

/** A compiled action: `h` is the request's or the response's header list. */
export interface HeaderAction {
  readonly stage: Stage
  readonly cmd: string
  readonly run: (req: BfeRequest, h: HeaderList) => void
}

/** Parameter count of each command (MOD is checked by its sub-command). */
const PARAMS: Readonly<Record<string, number>> = {
  REQ_HEADER_SET: 2,
  REQ_HEADER_ADD: 2,
  REQ_HEADER_DEL: 1,
  REQ_HEADER_RENAME: 2,
  REQ_HEADER_MOD: -1,
  RSP_HEADER_SET: 2,
  RSP_HEADER_ADD: 2,
  RSP_HEADER_DEL: 1,
  RSP_HEADER_RENAME: 2,
  RSP_HEADER_MOD: -1,
  REQ_COOKIE_SET: 2,
  REQ_COOKIE_DEL: 1,
  RSP_COOKIE_SET: 8,
  RSP_COOKIE_DEL: 3,
}

const rawAction = s.object({
  Cmd: s.string({ oneOf: Object.keys(PARAMS) }),
  Params: s.array(s.string({ nonEmpty: true }), { default: [] }),
})

/** A header action as written in the data file, checked and compiled on load. */
export const headerAction: Schema<HeaderAction> = {
  required: true,
  decode(node: JsonNode, cx: DecodeCx): HeaderAction {
    const a = rawAction.decode(node, cx)
    const params = node.get('Params')
    const want = PARAMS[a.Cmd] ?? 0
    if (want !== -1 && a.Params.length !== want)
      params.fail(
        `of ${a.Cmd} must have ${want} item${want === 1 ? '' : 's'}, got ${a.Params.length}`,
      )
    const stage: Stage = a.Cmd.startsWith('REQ_') ? 'req' : 'rsp'
    return { stage, cmd: a.Cmd, run: compileAction(a.Cmd, a.Params, params) }
  },
  jsonSchema: (): JsonSchema => rawAction.jsonSchema(),
}

function compileAction(
  cmd: string,
  p: readonly string[],
  params: JsonNode,
): (req: BfeRequest, h: HeaderList) => void {
  const p0 = p[0] ?? ''
  const p1 = p[1] ?? ''
  switch (cmd.slice(4)) {
    case 'HEADER_SET':
    case 'HEADER_ADD': {
      const name = canonicalHeaderKey(p0)
      const c = compileValue(p1)
      const v: HeaderValue = typeof c === 'object' ? params.get('1').fail(c.error) : c
      if (typeof v === 'string' && isToken(name) && isFieldValue(v)) {
        // A literal field that is valid syntax: the head writer need not check it again.
        if (cmd.endsWith('SET')) return (_req, h) => h.set(name, v, true)
        return (_req, h) => h.add(name, v, true)
      }
      if (cmd.endsWith('SET')) return (req, h) => h.set(name, headerValue(v, req))
      return (req, h) => h.add(name, headerValue(v, req))
    }
    case 'HEADER_DEL': {
      const name = canonicalHeaderKey(p0)
      return (_req, h) => {
        h.delete(name)
      }
    }
    case 'HEADER_RENAME': {
      const from = canonicalHeaderKey(p0)
      const to = canonicalHeaderKey(p1)
      return (_req, h) => {
        const v = h.get(from)
        if (v === undefined || v === '') return
        const existing = h.get(to)
        if (existing !== undefined && existing !== '') return
        h.set(to, v)
        h.delete(from)
      }
    }
    case 'HEADER_MOD':
      return compileMod(p, params)
    case 'COOKIE_SET': {
      if (cmd === 'REQ_COOKIE_SET') {
        const v = compileCookieValue(p1)
        return (req, h) => reqCookieSet(h, p0, headerValue(v, req))
      }
      const v = compileCookieValue(p1)
      const attrs = cookieAttributes(p, params)
      const domain = p[2] ?? ''
      const path = p[3] ?? ''
      return (req, h) =>
        rspCookieSet(h, p0, domain, path, `${p0}=${cookieValue(headerValue(v, req))}${attrs}`)
    }
    case 'COOKIE_DEL':
      if (cmd === 'REQ_COOKIE_DEL') return (_req, h) => reqCookieDel(h, p0)
      return (_req, h) => rspCookieDel(h, p0, p1, p[2] ?? '')
    default:
      throw new Error(`mod_header: no action ${cmd}`)
  }
}

/** `*_HEADER_MOD`: `scheme_set, Referer|Location, http|https` or `query_add, header, key, value`. */
function compileMod(
  p: readonly string[],
  params: JsonNode,
): (req: BfeRequest, h: HeaderList) => void {
  if (p.length !== 3 && p.length !== 4)
    params.fail(`of a HEADER_MOD must have 3 or 4 items, got ${p.length}`)
  const sub = (p[0] ?? '').toUpperCase()
  const name = canonicalHeaderKey(p[1] ?? '')
  if (sub !== 'SCHEME_SET' && sub !== 'QUERY_ADD')
    params.get('0').fail(`"${p[0]}" is not scheme_set or query_add`)
  if (name !== 'Referer' && name !== 'Location')
    params.get('1').fail(`"${p[1]}": ${sub.toLowerCase()} works on Referer or Location only`)
  if (sub === 'SCHEME_SET') {
    if (p.length !== 3) params.fail(`of scheme_set must have 3 items, got ${p.length}`)
    const scheme = p[2] ?? ''
    if (scheme !== 'http' && scheme !== 'https')
      params.get('2').fail(`"${scheme}" is not http or https`)
    return (_req, h) => {
      const v = h.get(name)
      if (v === undefined || v === '') return
      h.set(name, setScheme(v, scheme))
    }
  }
  if (p.length !== 4) params.fail(`of query_add must have 4 items, got ${p.length}`)
  const pair = `${p[2]}=${p[3]}`
  return (_req, h) => {
    const v = h.get(name)
    if (v === undefined || v === '') return
    h.set(name, addQuery(v, pair))
  }
}

/** Replaces the scheme of an `http://` or `https://` URL; other values stay. */
export function setScheme(uri: string, scheme: string): string {
  if (!uri.startsWith('http://') && !uri.startsWith('https://')) return uri
  return scheme + uri.slice(uri.indexOf(':'))
}

/** Appends a raw `key=value` to the query of a URL (before any fragment). */
export function addQuery(uri: string, pair: string): string {
  const hash = uri.indexOf('#')
  const head = hash === -1 ? uri : uri.slice(0, hash)
  const frag = hash === -1 ? '' : uri.slice(hash)
  const q = head.indexOf('?')
  if (q === -1) return `${head}?${pair}${frag}`
  return `${head}${q === head.length - 1 ? '' : '&'}${pair}${frag}`
}

/** Go's canonical header key (`x-bfe-ip` → `X-Bfe-Ip`); names with other characters stay. */
export function canonicalHeaderKey(name: string): string {
  if (!isToken(name)) return name
  let out = ''
  let upper = true
  for (const c of name) {
    out += upper ? c.toUpperCase() : c.toLowerCase()
    upper = c === '-'
  }
  return out
}

// ---- cookies ------------------------------------------------------------------------------

/** `name=value` pairs of the request's Cookie headers, in order. */
function requestCookies(h: HeaderList): [string, string][] {
  const out: [string, string][] = []
  for (const line of h.getAll('cookie')) {
    for (const part of line.split(';')) {
      const t = part.trim()
      if (t === '') continue
      const eq = t.indexOf('=')
      if (eq <= 0) continue
      out.push([t.slice(0, eq), t.slice(eq + 1)])
    }
  }
  return out
}

function writeRequestCookies(h: HeaderList, list: readonly [string, string][]): void {
  if (list.length === 0) h.delete('cookie')
  else h.set('Cookie', list.map(([k, v]) => `${k}=${v}`).join('; '))
}

export function reqCookieSet(h: HeaderList, name: string, value: string): void {
  const list = requestCookies(h)
  let found = false
  for (const c of list)
    if (c[0] === name) {
      c[1] = value
      found = true
    }
  if (found) {
    writeRequestCookies(h, list)
    return
  }
  const prior = h.get('cookie')
  if (prior === undefined || prior === '') h.set('Cookie', `${name}=${value}`)
  else h.set('Cookie', `${prior}; ${name}=${value}`)
}

export function reqCookieDel(h: HeaderList, name: string): void {
  const list = requestCookies(h)
  const kept = list.filter((c) => c[0] !== name)
  if (kept.length !== list.length) writeRequestCookies(h, kept)
}

/** Name, Domain and Path of a Set-Cookie value. */
function setCookieKey(line: string): { name: string; domain: string; path: string } {
  const parts = line.split(';')
  const first = parts[0] ?? ''
  const eq = first.indexOf('=')
  const name = (eq === -1 ? first : first.slice(0, eq)).trim()
  let domain = ''
  let path = ''
  for (let i = 1; i < parts.length; i++) {
    const a = (parts[i] as string).trim()
    const e = a.indexOf('=')
    const k = (e === -1 ? a : a.slice(0, e)).toLowerCase()
    const v = e === -1 ? '' : a.slice(e + 1)
    if (k === 'domain') domain = v
    else if (k === 'path') path = v
  }
  return { name, domain, path }
}

function hasSetCookie(h: HeaderList, name: string, domain: string, path: string): boolean {
  for (const line of h.getAll('set-cookie')) {
    const k = setCookieKey(line)
    if (k.name === name && k.domain === domain && k.path === path) return true
  }
  return false
}

/** Adds a Set-Cookie; when one with the same name, domain and path exists, replaces every one of that name. */
export function rspCookieSet(
  h: HeaderList,
  name: string,
  domain: string,
  path: string,
  cookie: string,
): void {
  if (!hasSetCookie(h, name, domain, path)) {
    h.add('Set-Cookie', cookie)
    return
  }
  const lines = h.getAll('set-cookie')
  h.delete('set-cookie')
  for (const line of lines) h.add('Set-Cookie', setCookieKey(line).name === name ? cookie : line)
}

/** Removes every Set-Cookie of `name` when one with that name, domain and path exists. */
export function rspCookieDel(h: HeaderList, name: string, domain: string, path: string): void {
  if (!hasSetCookie(h, name, domain, path)) return
  const lines = h.getAll('set-cookie')
  h.delete('set-cookie')
  for (const line of lines) if (setCookieKey(line).name !== name) h.add('Set-Cookie', line)
}

const RFC1123 =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) ([A-Za-z]{1,5})$/
const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True'])
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False'])

function goBool(v: string, node: JsonNode, what: string): boolean {
  if (GO_TRUE.has(v)) return true
  if (GO_FALSE.has(v)) return false
  return node.fail(`${what} must be a boolean (true or false), got "${v}"`)
}

/**
 * The attributes of an RSP_COOKIE_SET cookie (params: name, value, domain, path, expires
 * (RFC 1123), max-age, httpOnly, secure), serialised as Go's `Cookie.String()` does.
 */
function cookieAttributes(p: readonly string[], params: JsonNode): string {
  const [, , domain = '', path = '', expires = '', maxAge = '', httpOnly = '', secure = ''] = p
  const m = RFC1123.exec(expires)
  const when =
    m === null ? Number.NaN : Date.parse(`${expires.slice(0, expires.lastIndexOf(' '))} GMT`)
  if (Number.isNaN(when))
    params
      .get('4')
      .fail(`expires must be an RFC 1123 date (Mon, 02 Jan 2006 15:04:05 GMT), got "${expires}"`)
  if (!/^[+-]?\d{1,15}$/.test(maxAge))
    params.get('5').fail(`max-age must be an integer, got "${maxAge}"`)
  const age = Number(maxAge)
  const http = goBool(httpOnly, params.get('6'), 'httpOnly')
  const sec = goBool(secure, params.get('7'), 'secure')
  let out = `; Path=${path}`
  out += `; Domain=${domain.startsWith('.') ? domain.slice(1) : domain}`
  if (new Date(when).getUTCFullYear() >= 1601) out += `; Expires=${new Date(when).toUTCString()}`
  if (age > 0) out += `; Max-Age=${age}`
  else if (age < 0) out += '; Max-Age=0'
  if (http) out += '; HttpOnly'
  if (sec) out += '; Secure'
  return out
}

/** A cookie value as Go writes it: quoted when it holds a space or a comma. */
function cookieValue(v: string): string {
  return v.includes(' ') || v.includes(',') ? `"${v}"` : v
}
