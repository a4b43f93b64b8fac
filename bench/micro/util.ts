/**
 * Shared helpers for the mitata micro-benchmarks in bench/micro. Each `*.bench.ts` registers its
 * benchmarks at import time and calls `runIfMain(import.meta.url)` last, so that it can be run on
 * its own (`node dist/bench/micro/wrr.bench.js`); `index.ts` runs every file in its own process.
 */
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { run } from 'mitata'

/** True when the module at `url` is the script node was started with. */
export function isMain(url: string): boolean {
  const argv1 = process.argv[1]
  if (argv1 === undefined) return false
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(url))
  } catch {
    return false
  }
}

/** Runs the registered mitata benchmarks when `url` is the entry point. */
export async function runIfMain(url: string): Promise<void> {
  if (!isMain(url)) return
  await run({ colors: process.stdout.isTTY === true })
}

/** Cycles through `items` so that a benchmark does not see the same input on every call. */
export function cycle<T>(items: readonly T[]): () => T {
  if (items.length === 0) throw new Error('cycle() needs at least one item')
  let i = 0
  return () => {
    const v = items[i]!
    i = i + 1 === items.length ? 0 : i + 1
    return v
  }
}

/**
 * Timings (ms) of `fn`: the first (cold) call, then median, min and max of `runs` calls after
 * `warmup` more untimed calls.
 */
export function timeIt(
  fn: () => void,
  runs = 20,
  warmup = 3,
): { first: number; median: number; min: number; max: number } {
  const t0 = performance.now()
  fn()
  const first = performance.now() - t0
  for (let i = 0; i < warmup; i++) fn()
  const t: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    fn()
    t.push(performance.now() - t0)
  }
  t.sort((a, b) => a - b)
  const h = t.length >> 1
  const median = t.length % 2 === 1 ? t[h]! : (t[h - 1]! + t[h]!) / 2
  return { first, median, min: t[0]!, max: t[t.length - 1]! }
}
