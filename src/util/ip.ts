/**
 * The one place that parses and normalises IP addresses (ipaddr.js).
 *
 * - `normalizeIp`: canonical text of an address in a config file or a lookup key (IPv4-mapped IPv6
 *   becomes IPv4, IPv6 is compressed, IPv4 must be dotted-quad); undefined when invalid.
 * - `plainIp`: the cheap request-path form of a socket address (only strips `::ffff:`).
 * - `parseIpLiteral`, `ipToScratch`, `compare16`: 16-byte forms (IPv4 as `::ffff:a.b.c.d`) for
 *   range tests. Load-time parsing is strict (dotted-quad IPv4 only); request-time parsing of the
 *   client address fills a scratch buffer and allocates nothing for IPv4.
 * - `ipToBytes16`: the 16-byte form of a client address as BFE's hash key reads it (ipaddr.js's
 *   lenient IPv4 forms accepted).
 */
import ipaddr from 'ipaddr.js'

/**
 * Canonical text of an IP address (IPv4-mapped IPv6 becomes IPv4, IPv6 is compressed);
 * undefined when `s` is not an address.
 */
export function normalizeIp(s: string): string | undefined {
  const t = s.trim()
  if (!ipaddr.isValid(t)) return undefined
  // ipaddr.isValid accepts shorthand IPv4 forms such as "10.1"; require four parts
  if (!t.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(t)) return undefined
  return ipaddr.process(t).toString()
}

/** 16-byte form of an address (IPv4 as `::ffff:a.b.c.d`); undefined when unknown or invalid. */
export function ipToBytes16(addr: string | undefined): Uint8Array | undefined {
  if (addr === undefined || addr === '' || !ipaddr.isValid(addr)) return undefined
  const ip = ipaddr.parse(addr)
  const v6 = ip.kind() === 'ipv4' ? (ip as ipaddr.IPv4).toIPv4MappedAddress() : ip
  return Uint8Array.from(v6.toByteArray())
}

export interface ParsedIp {
  readonly bytes: Uint8Array
  /** 4 for IPv4 (and IPv4-mapped IPv6), 6 otherwise. */
  readonly family: 4 | 6
}

/** Parses an IP literal written in a rule; undefined when it is not a valid address. */
export function parseIpLiteral(text: string): ParsedIp | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    const b = new Uint8Array(16)
    b[10] = 0xff
    b[11] = 0xff
    b.set(ipaddr.IPv4.parse(text).toByteArray(), 12)
    return { bytes: b, family: 4 }
  }
  if (text.includes('%') || !ipaddr.IPv6.isValid(text)) return undefined
  const v6 = ipaddr.IPv6.parse(text)
  const b = Uint8Array.from(v6.toByteArray())
  return { bytes: b, family: v6.isIPv4MappedAddress() ? 4 : 6 }
}

export function compare16(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

const scratch = new Uint8Array(16)
let cacheText = ''
let cacheOk = false
const cacheBytes = new Uint8Array(16)

/**
 * Parses a runtime address (socket or PROXY text) into a shared scratch buffer, valid until the
 * next call; undefined when the text is not an IP.
 */
export function ipToScratch(text: string): Uint8Array | undefined {
  if (parseV4Into(text, text.startsWith('::ffff:') ? 7 : 0, scratch)) return scratch
  // IPv6: rare on the hot path; remember the last one.
  if (text !== cacheText) {
    cacheText = text
    const pct = text.indexOf('%')
    const bare = pct === -1 ? text : text.slice(0, pct)
    cacheOk = ipaddr.IPv6.isValid(bare)
    if (cacheOk) cacheBytes.set(ipaddr.IPv6.parse(bare).toByteArray())
  }
  if (!cacheOk) return undefined
  scratch.set(cacheBytes)
  return scratch
}

/** Dotted-quad decimal from `start` to the end of `s` into `out` as IPv4-mapped; false if not. */
function parseV4Into(s: string, start: number, out: Uint8Array): boolean {
  let part = 0
  let value = 0
  let digits = 0
  for (let i = start; i <= s.length; i++) {
    const c = i === s.length ? 46 /* . */ : s.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48)
      digits++
      if (value > 255 || digits > 3) return false
      continue
    }
    if (c !== 46 || digits === 0 || part > 3) return false
    out[12 + part] = value
    part++
    value = 0
    digits = 0
  }
  if (part !== 4) return false
  out.fill(0, 0, 10)
  out[10] = 0xff
  out[11] = 0xff
  return true
}

/**
 * Text form of a runtime address as Go prints it: IPv4-mapped IPv6 (`::ffff:1.2.3.4`, as Node
 * reports IPv4 clients on a dual-stack socket) becomes `1.2.3.4`; anything else is returned as is.
 * No parsing, no allocation for other forms: meant for the request path.
 */
export function plainIp(addr: string): string {
  if (addr.startsWith('::ffff:') && addr.includes('.')) return addr.slice(7)
  return addr
}
