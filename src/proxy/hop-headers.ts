/*
 * Hop-by-hop header removal, in one place (protocols.md §7). Works on flat raw header arrays.
 */

import { sameName } from '../basic/header-list.js'

/*
 * The hop-by-hop fields (and Host, TE, which requests treat apart), told apart by length first
 * and then compared without case: no lower-cased copy of the name and no hash of it per field.
 * Ids 1-4 are hop-by-hop in both directions, 5-9 in requests only.
 */
const CONNECTION = 1
const KEEP_ALIVE = 2
const TRANSFER_ENCODING = 3
const PROXY_CONNECTION = 4
const PROXY_AUTHENTICATE = 5
const PROXY_AUTHORIZATION = 6
const TRAILERS = 7
const UPGRADE = 8
const EXPECT = 9
const TE = 10
const HOST = 11

/** The id of `name` above, 0 for any other field. */
function fieldId(name: string): number {
  switch (name.length) {
    case 2:
      return sameName(name, 'te') ? TE : 0
    case 4:
      return sameName(name, 'host') ? HOST : 0
    case 6:
      return sameName(name, 'expect') ? EXPECT : 0
    case 7:
      return sameName(name, 'upgrade') ? UPGRADE : 0
    case 8:
      return sameName(name, 'trailers') ? TRAILERS : 0
    case 10:
      return sameName(name, 'connection')
        ? CONNECTION
        : sameName(name, 'keep-alive')
          ? KEEP_ALIVE
          : 0
    case 16:
      return sameName(name, 'proxy-connection') ? PROXY_CONNECTION : 0
    case 17:
      return sameName(name, 'transfer-encoding') ? TRANSFER_ENCODING : 0
    case 18:
      return sameName(name, 'proxy-authenticate') ? PROXY_AUTHENTICATE : 0
    case 19:
      return sameName(name, 'proxy-authorization') ? PROXY_AUTHORIZATION : 0
    default:
      return 0
  }
}

/** A field a proxy does not forward in a response. */
function responseHop(name: string): boolean {
  const id = fieldId(name)
  return id !== 0 && id <= PROXY_CONNECTION
}

/**
 * Connection options that name no header to remove: `close` and `keep-alive` are connection
 * options, `upgrade` names the Upgrade header that `requestHeaders` handles (kept for WebSocket
 * handshakes), and the framing and routing headers are never removed on a client's say-so.
 */
const CONNECTION_KEEP: ReadonlySet<string> = new Set([
  'close',
  'keep-alive',
  'upgrade',
  'connection',
  'host',
  'content-length',
  'transfer-encoding',
])

/**
 * RFC 9110 §7.6.1: the headers a client names in `Connection` are hop-by-hop and are not
 * forwarded. `connection` is the client's Connection value (several lines joined with `,`).
 * Returns `raw` itself when nothing is named (the common case), else a new array without the
 * named headers. The HTTP/1 engine applies this to the client's header list when the request
 * is read, so headers that modules add later (X-Forwarded-For ...) can never be removed this way.
 */
export function dropConnectionNamed(raw: string[], connection: string): string[] {
  let named: string[] | undefined
  for (const part of connection.split(',')) {
    const token = part.trim().toLowerCase()
    if (token === '' || CONNECTION_KEEP.has(token)) continue
    if (named === undefined) named = []
    named.push(token)
  }
  if (named === undefined) return raw
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length > 0 && named.includes(name.toLowerCase())) continue
    out.push(name, raw[i + 1]!)
  }
  return out
}

/**
 * The headers to send to a backend: hop-by-hop ones removed (`TE` kept only when it is exactly
 * `trailers`), `Host` replaced when `hostOverride` is given. Returns a new flat array.
 */
export function outgoingRequestHeaders(
  raw: readonly string[],
  hostOverride: string | undefined,
): string[] {
  const out: string[] = []
  backendRequestHeaders(raw, 0, hostOverride, false, out)
  return out
}

/**
 * The headers of a WebSocket handshake to a backend: as `outgoingRequestHeaders`, except that the
 * client's `Upgrade` header is kept and `Connection` becomes `Upgrade` (a client may send
 * `keep-alive, Upgrade`); both are what the handshake is about (RFC 6455 §4.1).
 */
export function upgradeRequestHeaders(
  raw: readonly string[],
  hostOverride: string | undefined,
): string[] {
  const out: string[] = []
  backendRequestHeaders(raw, 0, hostOverride, true, out)
  return out
}

/**
 * `outgoingRequestHeaders` (or, with `upgrade`, `upgradeRequestHeaders`) appended to `out`, for
 * the pipeline: the first `checked` elements of `raw` are known to be valid field syntax
 * (HeaderList.checked), and the result is how many leading elements of `out` are copies of
 * them, so the HTTP/1 pool checks only the rest. An override of Host is not counted as checked.
 */
export function backendRequestHeaders(
  raw: readonly string[],
  checked: number,
  hostOverride: string | undefined,
  upgrade: boolean,
  out: string[],
): number {
  let outChecked = 0
  let upgradeSeen = false
  let connectionSeen = false
  let hostSeen = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    let value = raw[i + 1]!
    const id = fieldId(name)
    if (id !== 0) {
      if (id <= EXPECT) {
        if (!upgrade) continue
        if (id === UPGRADE && !upgradeSeen) upgradeSeen = true
        else if (id === CONNECTION && !connectionSeen) {
          connectionSeen = true
          value = 'Upgrade'
        } else continue
      } else if (id === TE) {
        if (value.trim().toLowerCase() !== 'trailers') continue
      } else {
        // HOST
        if (hostSeen) continue
        hostSeen = true
        if (hostOverride !== undefined) {
          out.push(name, hostOverride)
          continue
        }
      }
    }
    // A copy of a checked field extends the checked prefix of `out` while it is unbroken.
    if (outChecked === out.length && i + 2 <= checked) outChecked += 2
    out.push(name, value)
  }
  if (!hostSeen && hostOverride !== undefined) out.push('Host', hostOverride)
  return outChecked
}

/**
 * A backend response's raw headers (buffers or strings, as undici's controller holds them) as a
 * flat string array, hop-by-hop headers left out. One pass: a dropped header's value is never
 * converted.
 */
export function responseHeaderStrings(raw: readonly (Buffer | string)[]): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!
    const name = typeof n === 'string' ? n : n.toString('latin1')
    if (responseHop(name)) continue
    const v = raw[i + 1]!
    out.push(name, typeof v === 'string' ? v : v.toString('latin1'))
  }
  return out
}

/** The same from a parsed header object (lower-case names, repeated values as arrays). */
export function responseHeadersFromObject(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): string[] {
  const out: string[] = []
  for (const name of Object.keys(headers)) {
    if (responseHop(name)) continue
    const v = headers[name]
    if (v === undefined) continue
    if (typeof v === 'string') out.push(name, v)
    else for (const x of v) out.push(name, x)
  }
  return out
}
