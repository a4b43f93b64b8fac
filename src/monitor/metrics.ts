import type { MetricsSnapshot } from './types.js'

/**
 * A counter group as the hot path sees it: a plain object of numbers under BFE's UPPER_SNAKE
 * names, incremented in place (`counters.CLIENT_REQ_SERVED++`). The monitor reads it only when
 * asked, so counting costs one property increment.
 */
export type CounterGroup = { [name: string]: number }

/** Default length of a `_diff` window (BFE's `MonitorInterval`), in seconds. */
export const DEFAULT_DIFF_INTERVAL = 20

/**
 * The absolute values of a group (`/monitor/<name>`): every name whose group lists it in `gauges`
 * is a gauge, the rest are counters.
 */
export function totalSnapshot(
  prefix: string,
  groups: readonly CounterGroup[],
  gauges: ReadonlySet<string> = NO_GAUGES,
  states: Readonly<Record<string, string>> = {},
): MetricsSnapshot {
  const counters: Record<string, number> = {}
  const g: Record<string, number> = {}
  for (const group of groups) {
    for (const name of Object.keys(group)) {
      const v = group[name] ?? 0
      if (gauges.has(name)) g[name] = v
      else counters[name] = v
    }
  }
  return { type: 'metrics', prefix, kind: 'total', counters, gauges: g, states: { ...states } }
}

const NO_GAUGES: ReadonlySet<string> = new Set()

/**
 * The `_diff` view of counter groups (BFE's `GetDiff`): the increase of every counter during the
 * last completed window. Windows are `intervalSec` long and aligned to multiples of `intervalSec`
 * of wall-clock seconds; until the first window has completed every value is 0. Gauges have no
 * diff.
 */
export class DiffWindow {
  readonly prefix: string
  readonly intervalSec: number
  private readonly read: () => Record<string, number>
  private last: Record<string, number>
  private diff: Record<string, number>
  /** Index of the window being counted (wall-clock seconds / interval). */
  index: number

  /** `read` returns the current absolute counter values (gauges left out). */
  constructor(
    prefix: string,
    read: () => Record<string, number>,
    intervalSec = DEFAULT_DIFF_INTERVAL,
  ) {
    this.prefix = prefix
    this.read = read
    this.intervalSec = intervalSec > 0 ? intervalSec : DEFAULT_DIFF_INTERVAL
    this.last = read()
    this.diff = {}
    for (const k of Object.keys(this.last)) this.diff[k] = 0
    this.index = Math.floor(Date.now() / 1000 / this.intervalSec)
    diffClock.add(this)
  }

  /** Closes the current window (the clock calls this at every aligned boundary). */
  tick(): void {
    const now = this.read()
    const diff: Record<string, number> = {}
    for (const k of Object.keys(now)) diff[k] = (now[k] ?? 0) - (this.last[k] ?? 0)
    this.last = now
    this.diff = diff
  }

  /** The last completed window, as `/monitor/<name>_diff` shows it. */
  snapshot(): MetricsSnapshot {
    return {
      type: 'metrics',
      prefix: `${this.prefix}_diff`,
      kind: 'delta',
      counters: { ...this.diff },
      gauges: {},
      states: {},
    }
  }

  /** Stops the window (its group is gone). */
  stop(): void {
    diffClock.delete(this)
  }
}

/**
 * One timer for every diff window of the process, firing at each wall-clock second that is a
 * multiple of some window's interval. Windows are held weakly: a module's window that nobody
 * stops goes away with its module. The timer never keeps the process alive.
 */
class DiffClock {
  private readonly windows = new Set<WeakRef<DiffWindow>>()
  private readonly refs = new WeakMap<DiffWindow, WeakRef<DiffWindow>>()
  private timer: NodeJS.Timeout | undefined

  add(w: DiffWindow): void {
    const ref = new WeakRef(w)
    this.refs.set(w, ref)
    this.windows.add(ref)
    if (this.timer === undefined) this.schedule()
  }

  delete(w: DiffWindow): void {
    const ref = this.refs.get(w)
    if (ref !== undefined) this.windows.delete(ref)
    if (this.windows.size === 0 && this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  private schedule(): void {
    const now = Date.now()
    // The next whole second; each window checks whether it is one of its boundaries.
    const wait = 1000 - (now % 1000) + 1
    this.timer = setTimeout(() => this.fire(), wait)
    this.timer.unref()
  }

  private fire(): void {
    const sec = Date.now() / 1000
    for (const ref of this.windows) {
      const w = ref.deref()
      if (w === undefined) {
        this.windows.delete(ref)
        continue
      }
      // A late timer (a busy event loop) still closes the window once.
      const index = Math.floor(sec / w.intervalSec)
      if (index !== w.index) {
        w.index = index
        w.tick()
      }
    }
    if (this.windows.size === 0) {
      this.timer = undefined
      return
    }
    this.schedule()
  }
}

const diffClock = new DiffClock()

/** Sums metric snapshots of the same endpoint (one per worker). */
export function sumMetrics(list: readonly MetricsSnapshot[]): MetricsSnapshot {
  const first = list[0]
  if (first === undefined) throw new Error('no snapshot to sum')
  const counters: Record<string, number> = {}
  const gauges: Record<string, number> = {}
  for (const s of list) {
    for (const [k, v] of Object.entries(s.counters)) counters[k] = (counters[k] ?? 0) + v
    for (const [k, v] of Object.entries(s.gauges)) gauges[k] = (gauges[k] ?? 0) + v
  }
  return { ...first, counters, gauges, states: { ...first.states } }
}
