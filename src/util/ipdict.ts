/**
 * IP address sets built from single addresses, `start end` ranges and CIDR blocks (BFE's ipdict,
 * used by mod_block's blocklist and mod_trust_clientip's trusted ranges).
 *
 * Ranges are sorted and merged at build time. IPv4 ranges (and IPv4-mapped IPv6 ones) live in two
 * `Uint32Array`s searched by bisection; IPv6 ranges in 16-byte keys, also bisected. `has()` on an
 * IPv4 address allocates nothing.
 */
import { compare16, ipToScratch, parseIpLiteral } from './ip.js'

/** One range of the set, both ends inclusive, as 16-byte addresses (IPv4 as `::ffff:a.b.c.d`). */
export interface IpRange {
  readonly start: Uint8Array
  readonly end: Uint8Array
}

/** Result of parsing one range text: the range, or why it is not one. */
export type RangeParse = { ok: true; range: IpRange } | { ok: false; reason: string }

const MAPPED_FIRST = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0])
const MAPPED_LAST = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255])

function isMapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false
  return b[10] === 0xff && b[11] === 0xff
}

function v4Of(b: Uint8Array): number {
  return (((b[12] ?? 0) << 24) | ((b[13] ?? 0) << 16) | ((b[14] ?? 0) << 8) | (b[15] ?? 0)) >>> 0
}

/** `start`–`end` from two address texts: both valid, same family, start <= end. */
export function rangeOf(startText: string, endText: string): RangeParse {
  const s = parseIpLiteral(startText)
  if (s === undefined) return { ok: false, reason: `"${startText}" is not an IP address` }
  const e = parseIpLiteral(endText)
  if (e === undefined) return { ok: false, reason: `"${endText}" is not an IP address` }
  if (s.family !== e.family)
    return { ok: false, reason: `${startText} and ${endText} must both be IPv4 or both IPv6` }
  if (compare16(s.bytes, e.bytes) > 0)
    return { ok: false, reason: `start ${startText} is greater than end ${endText}` }
  return { ok: true, range: { start: s.bytes, end: e.bytes } }
}

/**
 * A CIDR block (`10.1.0.0/16`, `2001:db8::/32`). Host bits may be set (`192.168.1.250/20` is
 * 192.168.0.0–192.168.15.255), as Go's ParseCIDR allows.
 */
export function cidrOf(text: string): RangeParse {
  const slash = text.indexOf('/')
  const addr = text.slice(0, slash)
  const bitsText = text.slice(slash + 1)
  const ip = parseIpLiteral(addr)
  if (ip === undefined) return { ok: false, reason: `"${addr}" is not an IP address` }
  const v6Text = addr.includes(':')
  const max = v6Text ? 128 : 32
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max)
    return { ok: false, reason: `"${bitsText}" is not a prefix length (0-${max})` }
  const ones = Number(bitsText) + (v6Text ? 0 : 96)
  const start = new Uint8Array(16)
  const end = new Uint8Array(16)
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, ones - i * 8))
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff
    const b = ip.bytes[i] ?? 0
    start[i] = b & mask
    end[i] = (b & mask) | (~mask & 0xff)
  }
  return { ok: true, range: { start, end } }
}

/** A set of IP ranges with fast membership tests. Immutable once built. */
export class IpSet {
  /** Merged IPv4 ranges, sorted by start. */
  private readonly v4Start: Uint32Array
  private readonly v4End: Uint32Array
  /** Merged IPv6 ranges, sorted by start. */
  private readonly v6: readonly IpRange[]
  /** Entries the set was built from (before merging). */
  readonly entries: number

  constructor(ranges: readonly IpRange[]) {
    this.entries = ranges.length
    const v4: [number, number][] = []
    const v6: IpRange[] = []
    for (const r of ranges) {
      if (isMapped(r.start) && isMapped(r.end)) {
        v4.push([v4Of(r.start), v4Of(r.end)])
        continue
      }
      v6.push(r)
      // An IPv6 range over the IPv4-mapped block (`::/0`) also covers those IPv4 addresses.
      if (compare16(r.start, MAPPED_LAST) <= 0 && compare16(r.end, MAPPED_FIRST) >= 0) {
        const s = compare16(r.start, MAPPED_FIRST) < 0 ? MAPPED_FIRST : r.start
        const e = compare16(r.end, MAPPED_LAST) > 0 ? MAPPED_LAST : r.end
        v4.push([v4Of(s), v4Of(e)])
      }
    }
    v4.sort((a, b) => a[0] - b[0])
    const starts: number[] = []
    const ends: number[] = []
    for (const [s, e] of v4) {
      const last = ends.length - 1
      if (last >= 0 && s <= (ends[last] ?? 0) + 1) {
        if (e > (ends[last] ?? 0)) ends[last] = e
      } else {
        starts.push(s)
        ends.push(e)
      }
    }
    this.v4Start = Uint32Array.from(starts)
    this.v4End = Uint32Array.from(ends)
    v6.sort((a, b) => compare16(a.start, b.start))
    const merged: { start: Uint8Array; end: Uint8Array }[] = []
    for (const r of v6) {
      const last = merged[merged.length - 1]
      if (last !== undefined && compare16(r.start, last.end) <= 0) {
        if (compare16(r.end, last.end) > 0) last.end = r.end
      } else merged.push({ start: r.start, end: r.end })
    }
    this.v6 = merged
  }

  /** Merged ranges (what a lookup bisects). */
  get size(): number {
    return this.v4Start.length + this.v6.length
  }

  /** Whether `addr` (socket or PROXY text: `1.2.3.4`, `::ffff:1.2.3.4`, IPv6) is in the set. */
  has(addr: string | undefined): boolean {
    if (addr === undefined || addr === '') return false
    const v = parseV4(addr)
    if (v >= 0) return this.hasV4(v)
    if (this.v6.length === 0 && this.v4Start.length === 0) return false
    const b = ipToScratch(addr)
    if (b === undefined) return false
    if (isMapped(b)) return this.hasV4(v4Of(b))
    return this.hasV6(b)
  }

  private hasV4(v: number): boolean {
    const starts = this.v4Start
    let lo = 0
    let hi = starts.length - 1
    // last range whose start <= v
    let at = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if ((starts[mid] ?? 0) <= v) {
        at = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return at >= 0 && v <= (this.v4End[at] ?? 0)
  }

  private hasV6(b: Uint8Array): boolean {
    const list = this.v6
    let lo = 0
    let hi = list.length - 1
    let at = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (compare16((list[mid] as IpRange).start, b) <= 0) {
        at = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return at >= 0 && compare16(b, (list[at] as IpRange).end) <= 0
  }
}

/** A dotted-quad IPv4 text as an unsigned 32-bit number; -1 when it is not one. */
function parseV4(s: string): number {
  let value = 0
  let part = 0
  let digits = 0
  let acc = 0
  for (let i = 0; i <= s.length; i++) {
    const c = i === s.length ? 46 : s.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48)
      digits++
      if (value > 255 || digits > 3) return -1
      continue
    }
    if (c !== 46 || digits === 0 || part > 3) return -1
    acc = acc * 256 + value
    part++
    value = 0
    digits = 0
  }
  return part === 4 ? acc : -1
}
