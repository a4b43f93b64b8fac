import type { Backend } from './backend.js'

/** Backends sorted by their `addr:port` key in byte order (the order of §5.3). */
export function sortByKey(backends: readonly Backend[]): Backend[] {
  return [...backends].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}

/**
 * Instance-level sticky hash (balancing.md §5.3): over the eligible backends of `sorted` (sorted by
 * key), `v = hash mod sum(weights)`, then the first backend whose weight takes `v` below zero.
 */
export function stickyPick(sorted: readonly Backend[], hash: bigint): Backend | undefined {
  let sum = 0
  for (let i = 0; i < sorted.length; i++) {
    const b = sorted[i]!
    if (b.available && b.weight > 0) sum += b.weight
  }
  if (sum <= 0) return undefined
  let v = Number(hash % BigInt(sum))
  for (let i = 0; i < sorted.length; i++) {
    const b = sorted[i]!
    if (!b.available || b.weight <= 0) continue
    v -= b.weight
    if (v < 0) return b
  }
  return undefined
}
