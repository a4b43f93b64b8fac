import { DELAY_BUCKET_NUM, DELAY_INTERVAL_SEC } from './delay.js'
import type {
  HistogramCounts,
  HistogramSnapshot,
  MetricsSnapshot,
  MonitorSnapshot,
  ValueSnapshot,
} from './types.js'

/** A formatted monitor answer. */
export interface Formatted {
  readonly contentType: string
  readonly body: string
}

const JSON_TYPE = 'application/json; charset=utf-8'
const TEXT_TYPE = 'text/plain; charset=utf-8'
/** Prometheus text exposition format 0.0.4. */
const PROM_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Thrown for a `format=` the endpoint does not know; the server shows it as `{"error":...}`. */
export class FormatError extends Error {}

/**
 * Formats a snapshot as `format` asks (`json` when absent): `json`, `kv` (alias `noah`) and
 * `prometheus` for every kind of snapshot (decisions.md D15: BFE answers `prometheus` only for
 * counter groups). `endpoint` is the handler name, the metric prefix of value snapshots.
 */
export function formatSnapshot(
  endpoint: string,
  snap: MonitorSnapshot,
  format: string | null,
): Formatted {
  const f = format === null || format === '' ? 'json' : format
  switch (snap.type) {
    case 'metrics':
      return formatMetrics(snap, f)
    case 'histogram':
      return formatHistogram(snap, f)
    default:
      return formatValue(endpoint, snap, f)
  }
}

// ---- counter groups -------------------------------------------------------------------------

function formatMetrics(s: MetricsSnapshot, f: string): Formatted {
  switch (f) {
    case 'json':
      return {
        contentType: JSON_TYPE,
        body: JSON.stringify({
          Prefix: s.prefix,
          Kind: s.kind ?? 'total',
          GaugeData: s.gauges,
          CounterData: s.counters,
          StateData: s.states,
        }),
      }
    case 'kv':
    case 'noah': {
      let out = ''
      for (const [k, v] of Object.entries(s.counters)) out += `${s.prefix}_${k}: ${v}\n`
      for (const [k, v] of Object.entries(s.gauges)) out += `${s.prefix}_${k}: ${v}\n`
      for (const [k, v] of Object.entries(s.states)) out += `${s.prefix}_${k}: ${v}\n`
      return { contentType: TEXT_TYPE, body: out }
    }
    case 'prometheus': {
      const p = new PromWriter()
      // A `_diff` window is not monotonic: a gauge in Prometheus terms.
      const counterType = s.kind === 'delta' ? 'gauge' : 'counter'
      for (const [k, v] of Object.entries(s.counters)) p.sample(`${s.prefix}_${k}`, counterType, v)
      for (const [k, v] of Object.entries(s.gauges)) p.sample(`${s.prefix}_${k}`, 'gauge', v)
      return { contentType: PROM_TYPE, body: p.text() }
    }
    default:
      throw new FormatError(`invalid format: ${f}`)
  }
}

// ---- histograms -----------------------------------------------------------------------------

function summaryJson(c: HistogramCounts, bucketSize: number) {
  return {
    BucketSize: bucketSize,
    BucketNum: DELAY_BUCKET_NUM,
    Count: c.count,
    Sum: c.sum,
    Ave: c.count === 0 ? 0 : Math.trunc(c.sum / c.count),
    Counters: c.counters,
  }
}

function formatHistogram(s: HistogramSnapshot, f: string): Formatted {
  switch (f) {
    case 'json':
    case 'hier_json':
      return {
        contentType: JSON_TYPE,
        body: JSON.stringify({
          Interval: DELAY_INTERVAL_SEC,
          KeyPrefix: s.keyPrefix,
          ProgramName: '',
          CurrTime: s.currTime,
          Current: summaryJson(s.current, s.bucketSizeMs),
          PastTime: s.pastTime,
          Past: summaryJson(s.past, s.bucketSizeMs),
        }),
      }
    case 'kv':
    case 'noah': {
      let out = ''
      for (const [part, c] of [
        ['Current', s.current],
        ['Past', s.past],
      ] as const) {
        const j = summaryJson(c, s.bucketSizeMs)
        const k = `${s.keyPrefix}_${part}`
        out += `${k}_BucketSize:${j.BucketSize}\n${k}_BucketNum:${j.BucketNum}\n`
        out += `${k}_Count:${j.Count}\n${k}_Sum:${j.Sum}\n${k}_Ave:${j.Ave}\n`
        j.Counters.forEach((v, i) => {
          out += `${k}_Counters_${i}:${v}\n`
        })
      }
      return { contentType: TEXT_TYPE, body: out }
    }
    case 'prometheus': {
      const p = new PromWriter()
      for (const [part, c] of [
        ['Current', s.current],
        ['Past', s.past],
      ] as const) {
        // Bucket bounds and the sum in milliseconds, the unit of BucketSize.
        const name = `${s.keyPrefix}_${part}`
        p.type(name, 'histogram')
        let cum = 0
        for (let i = 0; i < DELAY_BUCKET_NUM; i++) {
          cum += c.counters[i] ?? 0
          p.line(`${sanitize(name)}_bucket{le="${(i + 1) * s.bucketSizeMs}"} ${cum}`)
        }
        p.line(`${sanitize(name)}_bucket{le="+Inf"} ${c.count}`)
        p.line(`${sanitize(name)}_sum ${num(c.sum / 1000)}`)
        p.line(`${sanitize(name)}_count ${c.count}`)
      }
      return { contentType: PROM_TYPE, body: p.text() }
    }
    default:
      throw new FormatError(`format not support: ${f}`)
  }
}

// ---- other values ---------------------------------------------------------------------------

function formatValue(endpoint: string, s: ValueSnapshot, f: string): Formatted {
  switch (f) {
    case 'json':
      return { contentType: JSON_TYPE, body: JSON.stringify(s.value ?? null) }
    case 'kv':
    case 'noah': {
      let out = ''
      flatten(s.value, [], (path, v) => {
        out += `${path.join('_')}:${String(v)}\n`
      })
      return { contentType: TEXT_TYPE, body: out }
    }
    case 'prometheus':
      return { contentType: PROM_TYPE, body: valuePrometheus(endpoint, s.value) }
    default:
      throw new FormatError(`invalid format:${f}`)
  }
}

/**
 * Any JSON value as Prometheus gauges: every number or boolean leaf is a gauge named after its
 * path (`host_table_status_HostTableSize`); every string leaf is an info-style gauge with value 1
 * and the text in a `value` label (`host_table_version_HostTag{value="v1"} 1`); array elements
 * are numbered in the path, except arrays of strings, which become one labelled sample each.
 */
export function valuePrometheus(endpoint: string, value: unknown): string {
  const p = new PromWriter()
  const stringArrays = new Map<string, string[]>()
  flatten(value, [endpoint], (path, v, inStringArray) => {
    if (inStringArray) {
      const key = path.slice(0, -1).join('_')
      const list = stringArrays.get(key) ?? []
      list.push(String(v))
      stringArrays.set(key, list)
      return
    }
    const name = path.join('_')
    if (typeof v === 'string') p.sample(name, 'gauge', 1, { value: v })
    else p.sample(name, 'gauge', typeof v === 'boolean' ? (v ? 1 : 0) : v)
  })
  for (const [name, list] of stringArrays) {
    for (const v of list) p.sample(name, 'gauge', 1, { value: v })
  }
  return p.text()
}

type Leaf = string | number | boolean

/** Calls `leaf` for every scalar in `v` with its path; null and empty containers have none. */
function flatten(
  v: unknown,
  path: string[],
  leaf: (path: string[], v: Leaf, inStringArray: boolean) => void,
): void {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') {
    leaf(path, v, false)
    return
  }
  if (typeof v === 'bigint') {
    leaf(path, Number(v), false)
    return
  }
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every((x) => typeof x === 'string')) {
      v.forEach((x, i) => {
        leaf([...path, String(i)], x as string, true)
      })
      return
    }
    v.forEach((x, i) => {
      flatten(x, [...path, String(i)], leaf)
    })
    return
  }
  if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) flatten(x, [...path, k], leaf)
  }
}

// ---- Prometheus text ------------------------------------------------------------------------

/**
 * Writes Prometheus text exposition: one `# TYPE` line per metric family, followed by all its
 * samples, names reduced to `[a-zA-Z_:][a-zA-Z0-9_:]*`, label values escaped, a repeated series
 * written once.
 */
class PromWriter {
  private readonly families = new Map<
    string,
    { type: string; lines: string[]; seen: Set<string> }
  >()
  private readonly raw: string[] = []

  type(name: string, type: string): void {
    this.raw.push(`# TYPE ${sanitize(name)} ${type}`)
  }

  line(text: string): void {
    this.raw.push(text)
  }

  sample(name: string, type: string, value: number, labels?: Record<string, string>): void {
    const n = sanitize(name)
    let fam = this.families.get(n)
    if (fam === undefined) {
      fam = { type, lines: [], seen: new Set() }
      this.families.set(n, fam)
    }
    const l =
      labels === undefined
        ? ''
        : `{${Object.entries(labels)
            .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
            .join(',')}}`
    if (fam.seen.has(l)) return
    fam.seen.add(l)
    fam.lines.push(`${n}${l} ${num(value)}`)
  }

  text(): string {
    const out: string[] = []
    for (const [n, f] of this.families) out.push(`# TYPE ${n} ${f.type}`, ...f.lines)
    out.push(...this.raw)
    return out.length === 0 ? '' : `${out.join('\n')}\n`
  }
}

/** A valid Prometheus metric name. */
export function sanitize(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, '_')
  return /^[a-zA-Z_:]/.test(s) ? s : `_${s}`
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Number.POSITIVE_INFINITY) return '+Inf'
  if (v === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(v)
}

/** `{"error":"<message>"}` (BFE writes the message unescaped; we keep the JSON valid). */
export function errorJson(message: string): string {
  return `{"error":${JSON.stringify(message)}}`
}
