import type { Backend } from './backend.js'

/**
 * Slow start (balancing.md §5.4), run before a WRR/WLC pick in a sub-cluster. A backend flagged
 * `restarted` starts at weight 1 and `current` 1; later picks set its weight to
 * finalWeight × elapsed / SlowStartTime until the final weight is reached.
 *
 * @param slowStartTime seconds; 0 or less = off (restarted flags are simply cleared)
 * @param now milliseconds
 */
export function applySlowStart(backends: readonly Backend[], slowStartTime: number, now: number) {
  for (let i = 0; i < backends.length; i++) {
    const b = backends[i]!
    if (b.restarted) {
      b.restarted = false
      if (slowStartTime > 0 && b.finalWeight > 0) {
        b.weight = 1
        b.current = 1
        b.slowStartBegin = now > 0 ? now : 1
      }
      continue
    }
    if (b.slowStartBegin === 0) continue
    if (slowStartTime <= 0 || b.finalWeight <= 0) {
      b.weight = b.finalWeight
      b.slowStartBegin = 0
      continue
    }
    const w = Math.floor((b.finalWeight * (now - b.slowStartBegin)) / (slowStartTime * 1000))
    if (w >= b.finalWeight) {
      b.weight = b.finalWeight
      b.slowStartBegin = 0
    } else {
      b.weight = Math.max(w, 1)
    }
  }
}
