import type { Backend } from './backend.js'

/**
 * Smooth weighted round robin (balancing.md §5.1). Walks the eligible backends in list order,
 * keeps the first one with the strictly greatest `current`, sums the `current` values seen before
 * this pick, raises every eligible `current` by its weight and finally takes the sum off the
 * chosen one. Ineligible backends are untouched.
 *
 * With `tie` set, only backends whose load ratio equals tie's take part (WLC tie-break, §5.2).
 */
export function wrrPick(backends: readonly Backend[], tie?: Backend): Backend | undefined {
  let best: Backend | undefined
  let bestCurrent = 0
  let total = 0
  for (let i = 0; i < backends.length; i++) {
    const b = backends[i]!
    if (!b.available || b.weight <= 0) continue
    if (tie !== undefined && b.activeRequests * tie.weight !== tie.activeRequests * b.weight)
      continue
    if (best === undefined || b.current > bestCurrent) {
      best = b
      bestCurrent = b.current
    }
    total += b.current
    b.current += b.weight
  }
  if (best !== undefined) best.current -= total
  return best
}
