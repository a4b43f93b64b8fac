import type { MetricsSnapshot } from '../monitor/types.js'

/**
 * What this process is and how its workers fared, for the monitor (`MaxCpus`, decisions.md D4):
 * - `single`: `MaxCpus = 1`, this process serves alone;
 * - `primary`: forks the workers, owns the monitor port, serves no traffic itself;
 * - `worker`: one of the primary's serving processes.
 * The primary updates `workerRestarts` each time it replaces a worker that died.
 */
export interface ProcessState {
  role: 'single' | 'primary' | 'worker'
  /** Workers configured (1 for `single`). */
  workers: number
  /** Workers ready now (primary only). */
  workersReady: number
  /** Workers that died and were replaced since start-up (primary only). */
  workerRestarts: number
  /** Start time of this process (ms since the epoch). */
  startedAt: number
}

export const processState: ProcessState = {
  role: 'single',
  workers: 1,
  workersReady: 0,
  workerRestarts: 0,
  startedAt: Date.now(),
}

/**
 * `/monitor/process_state` (ours, not BFE's): the role, the workers configured and ready, and the
 * workers replaced since start-up. With several workers the primary answers it from its own state.
 */
export function processStateSnapshot(): MetricsSnapshot {
  const p = processState
  return {
    type: 'metrics',
    prefix: 'process_state',
    counters: { WORKER_RESTARTS: p.workerRestarts },
    gauges: {
      WORKERS: p.workers,
      WORKERS_READY: p.workersReady,
      START_TIME: Math.floor(p.startedAt / 1000),
    },
    states: { ROLE: p.role },
  }
}
