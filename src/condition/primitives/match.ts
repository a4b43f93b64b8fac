/**
 * Load-time builders of string matchers: a list is split on `|` (no trimming) and turned into a Set
 * (membership) or an array (prefix / suffix / substring scans), case-folded once when the rule is
 * case-insensitive. The returned closures allocate nothing, except `toUpperCase` of the value when
 * folding.
 */
import { murmur3ModString } from '../../util/murmur3.js'
import type { BuildArgs } from './types.js'

export type StrMatch = (v: string) => boolean
export type MatchMode = 'in' | 'prefix' | 'suffix' | 'contain'

export function splitList(s: string): string[] {
  return s.split('|')
}

/** Upper-cases (Unicode-aware), as BFE folds both sides. */
export function fold(s: string): string {
  return s.toUpperCase()
}

export function makeMatcher(list: string, ci: boolean, mode: MatchMode): StrMatch {
  const items = splitList(list).map((s) => (ci ? fold(s) : s))
  if (mode === 'in') {
    if (ci && items.length <= 8) return foldInSmall(items)
    if (items.length === 1) {
      const only = items[0] ?? ''
      return ci ? (v) => fold(v) === only : (v) => v === only
    }
    const set = new Set(items)
    return ci ? (v) => set.has(fold(v)) : (v) => set.has(v)
  }
  if (ci && mode !== 'contain') return foldScan(items, mode)
  const scan = scanner(items, mode)
  return ci ? (v) => scan(fold(v)) : scan
}

/**
 * True when v[from, from + upper.length) upper-cases to `upper`, comparing ASCII letters without
 * building a string; undefined when a non-ASCII character is met (the caller then folds).
 */
function asciiFoldEq(v: string, from: number, upper: string): boolean | undefined {
  const n = upper.length
  for (let i = 0; i < n; i++) {
    let c = v.charCodeAt(from + i)
    if (c >= 128) return undefined
    if (c >= 97 && c <= 122) c -= 32
    if (c !== upper.charCodeAt(i)) return false
  }
  return true
}

function isAscii(v: string): boolean {
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) >= 128) return false
  return true
}

/** Case-insensitive membership in a short list: no allocation for ASCII values. */
function foldInSmall(items: string[]): StrMatch {
  const n = items.length
  const set = new Set(items)
  return (v) => {
    for (let i = 0; i < n; i++) {
      const it = items[i] as string
      if (it.length !== v.length) continue
      const eq = asciiFoldEq(v, 0, it)
      if (eq === undefined) return set.has(fold(v))
      if (eq) return true
    }
    // Non-ASCII characters can change length when upper-cased (ß → SS).
    return isAscii(v) ? false : set.has(fold(v))
  }
}

/** Case-insensitive prefix / suffix scan: no allocation for ASCII values. */
function foldScan(items: string[], mode: 'prefix' | 'suffix'): StrMatch {
  const n = items.length
  const slow = scanner(items, mode)
  return (v) => {
    if (!isAscii(v)) return slow(fold(v))
    for (let i = 0; i < n; i++) {
      const it = items[i] as string
      if (it.length > v.length) continue
      if (asciiFoldEq(v, mode === 'prefix' ? 0 : v.length - it.length, it) === true) return true
    }
    return false
  }
}

function scanner(items: string[], mode: Exclude<MatchMode, 'in'>): StrMatch {
  const n = items.length
  switch (mode) {
    case 'prefix':
      return (v) => {
        for (let i = 0; i < n; i++) if (v.startsWith(items[i] as string)) return true
        return false
      }
    case 'suffix':
      return (v) => {
        for (let i = 0; i < n; i++) if (v.endsWith(items[i] as string)) return true
        return false
      }
    case 'contain':
      return (v) => {
        for (let i = 0; i < n; i++) if (v.includes(items[i] as string)) return true
        return false
      }
  }
}

/** Number of hash buckets (condition.md §5). */
export const HASH_BUCKETS = 10000

/**
 * Parses a bucket list (`"0-499|1000|2000 - 2099"`) into a bitmap, or fails the load.
 */
export function parseBuckets(list: string, a: BuildArgs, argIndex: number): Uint8Array {
  const map = new Uint8Array(HASH_BUCKETS)
  for (const raw of splitList(list)) {
    const item = raw.replace(/ /g, '')
    const m = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(item)
    if (m === null)
      a.fail(`${a.name}: bad hash bucket "${raw}" (want N or N-M, 0 <= N <= M <= 9999)`, argIndex)
    const lo = Number(m[1])
    const hi = m[2] === undefined ? lo : Number(m[2])
    if (hi < lo) a.fail(`${a.name}: bad hash bucket range "${raw}" (start > end)`, argIndex)
    map.fill(1, lo, hi + 1)
  }
  return map
}

/** Bucket test on the UTF-8 of `v` (lower-cased first when `lower`). */
export function makeHashMatcher(buckets: Uint8Array, lower: boolean): StrMatch {
  return lower
    ? (v) => buckets[murmur3ModString(v.toLowerCase(), HASH_BUCKETS)] === 1
    : (v) => buckets[murmur3ModString(v, HASH_BUCKETS)] === 1
}

/** First value of a header (case-insensitive name) straight from the raw list, or undefined. */
export function headerValue(raw: readonly string[], lowerName: string): string | undefined {
  const len = lowerName.length
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i] as string
    if (k.length === len && (k === lowerName || lowerAsciiEq(k, lowerName))) return raw[i + 1]
  }
  return undefined
}

/** `k.toLowerCase() === lower` for equal-length strings, without allocating for ASCII names. */
function lowerAsciiEq(k: string, lower: string): boolean {
  for (let i = 0; i < k.length; i++) {
    let c = k.charCodeAt(i)
    if (c >= 128) return k.toLowerCase() === lower
    if (c >= 65 && c <= 90) c += 32
    if (c !== lower.charCodeAt(i)) return false
  }
  return true
}
