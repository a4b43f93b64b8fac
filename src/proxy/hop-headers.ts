/*
 * Hop-by-hop header removal, in one place (protocols.md §7). Works on flat raw header arrays.
 */

const REQUEST_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'trailers',
  'transfer-encoding',
  'upgrade',
  'expect',
  'proxy-connection',
])

const RESPONSE_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'proxy-connection',
])

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
  return requestHeaders(raw, hostOverride, false)
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
  return requestHeaders(raw, hostOverride, true)
}

function requestHeaders(
  raw: readonly string[],
  hostOverride: string | undefined,
  upgrade: boolean,
): string[] {
  const out: string[] = []
  let upgradeSeen = false
  let connectionSeen = false
  let hostSeen = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const value = raw[i + 1]!
    const c = name.charCodeAt(0) | 0x20
    // Only names starting with c, e, h, k, p, t, u can be hop-by-hop or Host: skip the Set probe otherwise.
    if (
      c === 0x63 ||
      c === 0x65 ||
      c === 0x6b ||
      c === 0x70 ||
      c === 0x74 ||
      c === 0x75 ||
      c === 0x68
    ) {
      const lower = name.toLowerCase()
      if (REQUEST_HOP.has(lower)) {
        if (!upgrade) continue
        if (lower === 'upgrade' && !upgradeSeen) {
          upgradeSeen = true
          out.push(name, value)
        } else if (lower === 'connection' && !connectionSeen) {
          connectionSeen = true
          out.push(name, 'Upgrade')
        }
        continue
      }
      if (lower === 'te') {
        if (value.trim().toLowerCase() === 'trailers') out.push(name, value)
        continue
      }
      if (lower === 'host') {
        if (hostSeen) continue
        hostSeen = true
        out.push(name, hostOverride ?? value)
        continue
      }
    }
    out.push(name, value)
  }
  if (!hostSeen && hostOverride !== undefined) out.push('Host', hostOverride)
  return out
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
    const c = name.charCodeAt(0) | 0x20
    if (
      (c === 0x63 || c === 0x6b || c === 0x74 || c === 0x70) &&
      RESPONSE_HOP.has(name.toLowerCase())
    )
      continue
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
    if (RESPONSE_HOP.has(name)) continue
    const v = headers[name]
    if (v === undefined) continue
    if (typeof v === 'string') out.push(name, v)
    else for (const x of v) out.push(name, x)
  }
  return out
}
