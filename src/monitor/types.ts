/**
 * The contract between what the monitor server serves and the parts of the server that own the
 * data. A worker answers monitor and reload requests with plain JSON-able values, so that the
 * primary of a multi-worker run can ask every worker over IPC and combine the answers.
 */

/** A counter group at one instant (BFE's `metrics` package): summed across workers. */
export interface MetricsSnapshot {
  readonly type: 'metrics'
  /** `proxy_state` for every core group (BFE's quirk), the module name for module groups. */
  readonly prefix: string
  /** `total` (absolute values, the default) or `delta` (a `_diff` window: counters only). */
  readonly kind?: 'total' | 'delta'
  readonly counters: Readonly<Record<string, number>>
  readonly gauges: Readonly<Record<string, number>>
  readonly states: Readonly<Record<string, string>>
}

/** A latency histogram (BFE's delay counter): current and past minute, summed across workers. */
export interface HistogramSnapshot {
  readonly type: 'histogram'
  readonly keyPrefix: string
  /** Bucket width in milliseconds; 10 buckets plus one for everything above. */
  readonly bucketSizeMs: number
  readonly currTime: string
  readonly current: HistogramCounts
  readonly pastTime: string
  readonly past: HistogramCounts
}

export interface HistogramCounts {
  readonly count: number
  /** Microseconds. */
  readonly sum: number
  /** 11 counts. */
  readonly counters: readonly number[]
}

/**
 * Any other monitor answer (host_table_status, module_status ...): not summable; the primary
 * shows the first worker's, since every worker runs the same configuration.
 */
export interface ValueSnapshot {
  readonly type: 'value'
  readonly value: unknown
}

export type MonitorSnapshot = MetricsSnapshot | HistogramSnapshot | ValueSnapshot

/** `/monitor/<name>`: the data, before formatting (the monitor server applies `format=`). */
export type MonitorSource = (query: URLSearchParams) => MonitorSnapshot

/**
 * The first half of a reload: everything is read and checked, nothing is switched. Throws a
 * BfeConfError (file, field, reason) when the new data is refused.
 */
export type ReloadPrepare = (query: URLSearchParams) => PreparedReload | Promise<PreparedReload>

/** A checked reload waiting for the word to switch (all workers checked) or to drop it. */
export interface PreparedReload {
  /** Switches to the new data; returns the version text shown to the operator, if any. Never throws. */
  commit(): string | undefined
  /** Drops the new data (another worker refused it). */
  abort(): void
}
