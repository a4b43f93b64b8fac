/**
 * Bounds on numbers in configuration (decisions.md D23). Every duration, count, size and weight a
 * loader reads is declared once with its range; a value outside it is refused with the file, the
 * field and the range, or, for a timeout whose larger values only mean "wait longer", clamped to
 * the maximum with a warning. The JSON loaders use `JsonNode.bounded()` and the INI schema
 * `ini.int(def, bound)`; both go through `checkBound()` here.
 */

/**
 * Largest delay Node's timers honour (2^31-1 ms, about 24.8 days). A larger one fires after 1 ms
 * with a TimeoutOverflowWarning, so no duration may exceed it.
 */
export const MAX_TIMER_MS = 2_147_483_647
/** MAX_TIMER_MS in whole seconds (2147483 s), for durations written in seconds. */
export const MAX_TIMER_S = Math.floor(MAX_TIMER_MS / 1000)
/** int32 limits, the range of fields whose out-of-band values keep a BFE meaning of their own. */
export const INT32_MIN = -2_147_483_648
export const INT32_MAX = 2_147_483_647
/**
 * Largest weight of a backend, an instance or a sub-cluster: sums over any realistic number of
 * them stay exact (far below 2^53).
 */
export const MAX_WEIGHT = 1_000_000
/** Attempts per request (RetryMax, CrossRetry): each can wait a full connect timeout. */
export const MAX_RETRIES = 100
/** Connections per backend: more than one source address can open to one port anyway. */
export const MAX_CONNS = 65_535

export interface Bound {
  readonly min: number
  readonly max: number
  /** Unit shown with the range: `ms`, `s`, `bytes`; empty for plain counts. */
  readonly unit: string
  /** Above `max`: refuse (default), or use `max` with a warning (timeouts meaning "forever"). */
  readonly above: 'refuse' | 'clamp'
}

/** A bound: integers in [min, max] (in `unit`), values above max refused. */
export function bound(min: number, max: number, unit = ''): Bound {
  return { min, max, unit, above: 'refuse' }
}

/** A bound whose values above max are used as max, with a warning. */
export function clampedBound(min: number, max: number, unit = ''): Bound {
  return { min, max, unit, above: 'clamp' }
}

/** A TCP port (0 allowed where BFE allows it). */
export const PORT = bound(0, 65535)
/** A name_conf instance weight: 0 takes no traffic. */
export const WEIGHT = bound(0, MAX_WEIGHT)
/**
 * A cluster_table backend or gslb sub-cluster weight. BFE accepts negative ones (a sub-cluster
 * below 0 is not even a cross-retry target), so they stay allowed.
 */
export const SIGNED_WEIGHT = bound(-MAX_WEIGHT, MAX_WEIGHT)

/** Durations in ms that a timer waits for; larger values are clamped (they mean "forever"). */
export const TIMEOUT_MS = clampedBound(0, MAX_TIMER_MS, 'ms')
/** Periods and intervals in ms; larger values are refused. */
export const INTERVAL_MS = bound(0, MAX_TIMER_MS, 'ms')

/** `[min, max] unit`, as shown in messages and in docs/configuration.md. */
export function describeBound(b: Bound): string {
  return `[${b.min}, ${b.max}]${b.unit === '' ? '' : ` ${b.unit}`}`
}

/** The outcome of checking one value: the value to use, or why it is refused. */
export type BoundCheck =
  | { readonly ok: true; readonly value: number; readonly clamped: boolean }
  | { readonly ok: false; readonly reason: string }

/**
 * Checks `v` (any JSON or INI value already read) against `b`: it must be an integer (no fraction,
 * not a string) within the range. Above the range a clamped bound yields `max`.
 */
export function checkBound(v: unknown, b: Bound): BoundCheck {
  const range = describeBound(b)
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    return { ok: false, reason: `must be an integer in ${range}, got ${show(v)}` }
  }
  if (!Number.isInteger(v)) return { ok: false, reason: `must be an integer in ${range}, got ${v}` }
  if (v < b.min) return { ok: false, reason: `must be in ${range}, got ${v}` }
  if (v > b.max) {
    if (b.above === 'clamp') return { ok: true, value: b.max, clamped: true }
    return { ok: false, reason: `must be in ${range}, got ${v}` }
  }
  return { ok: true, value: v, clamped: false }
}

/** The warning for a clamped value; `field` names the file and the field. */
export function clampWarning(field: string, v: number, b: Bound): string {
  return `${field} ${v} is above the maximum ${b.max}${b.unit === '' ? '' : ` ${b.unit}`}, using ${b.max}`
}

function show(v: unknown): string {
  if (typeof v === 'string') return `string "${v}"`
  if (v === null || v === undefined) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return String(v)
  return typeof v
}

/**
 * Names that must not be used as keys of data-file maps (product, cluster, sub-cluster, host tag,
 * backend, label, service names): on a plain object they reach `Object.prototype`. Our loaders
 * use Map throughout; refusing the names keeps any later plain-object use safe too.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
])
