// Smooth weighted round robin pick (src/balance/wrr.ts) over 4 and 32 backends.
import { bench, do_not_optimize, group, summary } from 'mitata'
import { Backend } from '../../src/balance/backend.js'
import { wrrPick } from '../../src/balance/wrr.js'
import { runIfMain } from './util.js'

function backends(n: number, weights: (i: number) => number): Backend[] {
  return Array.from(
    { length: n },
    (_, i) => new Backend(`b${i}`, '127.0.0.1', 8000 + i, weights(i), 'c.all'),
  )
}

group('wrr pick', () => {
  summary(() => {
    const eq4 = backends(4, () => 1)
    bench('4 backends, equal weights', () => do_not_optimize(wrrPick(eq4)))
    const w4 = backends(4, (i) => i + 1)
    bench('4 backends, weights 1..4', () => do_not_optimize(wrrPick(w4)))
    const w32 = backends(32, (i) => 1 + (i % 5))
    bench('32 backends, weights 1..5', () => do_not_optimize(wrrPick(w32)))
    const down32 = backends(32, (i) => 1 + (i % 5))
    for (let i = 0; i < 32; i += 4) down32[i]!.available = false
    bench('32 backends, 1 in 4 down', () => do_not_optimize(wrrPick(down32)))
  })
})

await runIfMain(import.meta.url)
