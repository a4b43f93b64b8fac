import {
  type Bound,
  bound,
  INT32_MAX,
  INT32_MIN,
  INTERVAL_MS,
  MAX_CONNS,
  MAX_RETRIES,
  MAX_TIMER_MS,
  MAX_TIMER_S,
  TIMEOUT_MS,
} from './bounds.js'

/**
 * The range of every number in cluster_conf.data (decisions.md D23), declared once. Timeouts clamp
 * above the timer limit (larger values only mean "wait longer"); the rest are refused out of range.
 */
export const CLUSTER_CONF_BOUNDS = {
  TimeoutConnSrv: TIMEOUT_MS,
  TimeoutResponseHeader: TIMEOUT_MS,
  MaxIdleConnsPerHost: bound(0, MAX_CONNS),
  // negative means 0 (unlimited), as in BFE
  MaxConnsPerHost: bound(INT32_MIN, MAX_CONNS),
  SlowStartTime: bound(0, MAX_TIMER_S, 's'),
  // 0, a class mask 1-31 or a status 100-599 for http(s) checks (checkConf); ignored by tcp/tls
  StatusCode: bound(INT32_MIN, INT32_MAX),
  FailNum: bound(0, 65535),
  SuccNum: bound(1, 65535),
  CheckTimeout: TIMEOUT_MS,
  CheckInterval: bound(1, MAX_TIMER_MS, 'ms'),
  CrossRetry: bound(0, MAX_RETRIES),
  RetryMax: bound(0, MAX_RETRIES),
  TimeoutReadClient: TIMEOUT_MS,
  TimeoutWriteClient: TIMEOUT_MS,
  TimeoutReadClientAgain: TIMEOUT_MS,
  ReqWriteBufferSize: bound(0, 1024 * 1024, 'bytes'),
  ReqFlushInterval: INTERVAL_MS,
  ResFlushInterval: bound(-1, MAX_TIMER_MS, 'ms'),
} as const satisfies Record<string, Bound>
