import type { HistogramCounts, HistogramSnapshot } from './types.js'

/** Number of buckets of BFE's delay counters; one more bucket takes everything above. */
export const DELAY_BUCKET_NUM = 10
/** The current minute becomes the past one every this many seconds (aligned to wall clock). */
export const DELAY_INTERVAL_SEC = 60

/**
 * A latency histogram for the current and the previous minute (BFE's delay counter): `BucketNum`
 * buckets `bucketSizeMs` wide plus one for samples of `BucketNum * bucketSizeMs` and more. Adding
 * a sample is a few array writes; no timer runs (the minute is switched when a sample comes or the
 * histogram is read).
 */
export class DelayHistogram {
  readonly keyPrefix: string
  readonly bucketSizeMs: number
  private readonly bucketUs: number
  private minute: number
  private count: number
  private sum: number
  private readonly counters: number[]
  private past: HistogramCounts

  constructor(keyPrefix: string, bucketSizeMs: number, now = Date.now()) {
    this.keyPrefix = keyPrefix
    this.bucketSizeMs = bucketSizeMs
    this.bucketUs = bucketSizeMs * 1000
    this.minute = minuteOf(now)
    this.count = 0
    this.sum = 0
    this.counters = new Array<number>(DELAY_BUCKET_NUM + 1).fill(0)
    this.past = emptyCounts()
  }

  /** Adds one sample of `us` microseconds (negative samples are ignored). */
  add(us: number, now = Date.now()): void {
    if (!(us >= 0)) return
    this.roll(now)
    this.count++
    this.sum += us
    const slot = Math.floor(us / this.bucketUs)
    const c = this.counters
    if (slot < DELAY_BUCKET_NUM) c[slot] = (c[slot] ?? 0) + 1
    else c[DELAY_BUCKET_NUM] = (c[DELAY_BUCKET_NUM] ?? 0) + 1
  }

  /** Adds the time from `startMs` to `endMs` (Date.now() values). */
  addSince(startMs: number, endMs = Date.now()): void {
    this.add((endMs - startMs) * 1000, endMs)
  }

  snapshot(now = Date.now()): HistogramSnapshot {
    this.roll(now)
    const m = this.minute
    return {
      type: 'histogram',
      keyPrefix: this.keyPrefix,
      bucketSizeMs: this.bucketSizeMs,
      currTime: timeText(m * DELAY_INTERVAL_SEC * 1000),
      current: { count: this.count, sum: this.sum, counters: this.counters.slice() },
      pastTime: timeText((m - 1) * DELAY_INTERVAL_SEC * 1000),
      past: { count: this.past.count, sum: this.past.sum, counters: this.past.counters.slice() },
    }
  }

  /** Moves "current" to "past" when `now` is in a later minute. */
  private roll(now: number): void {
    const m = minuteOf(now)
    if (m === this.minute) return
    this.past =
      m === this.minute + 1
        ? { count: this.count, sum: this.sum, counters: this.counters.slice() }
        : emptyCounts()
    this.minute = m
    this.count = 0
    this.sum = 0
    this.counters.fill(0)
  }
}

function minuteOf(ms: number): number {
  return Math.floor(ms / 1000 / DELAY_INTERVAL_SEC)
}

function emptyCounts(): HistogramCounts {
  return { count: 0, sum: 0, counters: new Array<number>(DELAY_BUCKET_NUM + 1).fill(0) }
}

/** `2006-01-02 15:04:05` in local time, as BFE prints it. */
export function timeText(ms: number): string {
  const d = new Date(ms)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/** The five histograms of a server (spec/monitor.md §2.4). */
export interface ProxyDelays {
  /** Request header read → first backend attempt, requests without a body (1 ms buckets). */
  readonly proxy: DelayHistogram
  /** The same for requests with a body. */
  readonly proxyPost: DelayHistogram
  /** TLS handshakes, all / full / resumed (100 ms buckets). */
  readonly handshake: DelayHistogram
  readonly handshakeFull: DelayHistogram
  readonly handshakeResume: DelayHistogram
}

export function newProxyDelays(): ProxyDelays {
  return {
    proxy: new DelayHistogram('proxy_delay', 1),
    proxyPost: new DelayHistogram('proxy_post_delay', 1),
    handshake: new DelayHistogram('proxy_handshake_delay', 100),
    handshakeFull: new DelayHistogram('proxy_handshake_full_delay', 100),
    handshakeResume: new DelayHistogram('proxy_handshake_resume_delay', 100),
  }
}

/** Sums histograms of the same endpoint (one per worker). */
export function sumHistograms(list: readonly HistogramSnapshot[]): HistogramSnapshot {
  const first = list[0]
  if (first === undefined) throw new Error('no histogram to sum')
  const add = (a: HistogramCounts, b: HistogramCounts): HistogramCounts => ({
    count: a.count + b.count,
    sum: a.sum + b.sum,
    counters: a.counters.map((v, i) => v + (b.counters[i] ?? 0)),
  })
  let out = first
  for (const s of list.slice(1)) {
    out = {
      ...out,
      currTime: s.currTime > out.currTime ? s.currTime : out.currTime,
      pastTime: s.pastTime > out.pastTime ? s.pastTime : out.pastTime,
      current: add(out.current, s.current),
      past: add(out.past, s.past),
    }
  }
  return out
}
