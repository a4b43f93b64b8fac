import type { Backend } from './backend.js'
import { wrrPick } from './wrr.js'

/**
 * Weighted least connections (balancing.md §5.2): the eligible backend with the smallest
 * activeRequests / weight, compared by cross-multiplication; ties go to smooth WRR.
 */
export function wlcPick(backends: readonly Backend[]): Backend | undefined {
  let best: Backend | undefined
  for (let i = 0; i < backends.length; i++) {
    const b = backends[i]!
    if (!b.available || b.weight <= 0) continue
    if (best === undefined || b.activeRequests * best.weight < best.activeRequests * b.weight) {
      best = b
    }
  }
  if (best === undefined) return undefined
  return wrrPick(backends, best)
}
