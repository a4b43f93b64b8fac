/**
 * Runs every micro-benchmark (`npm run bench:micro`): each compiled `*.bench.js` next to this file
 * in its own Node process, one after the other, so that one benchmark's JIT state and garbage do
 * not leak into the next. `node dist/bench/micro/index.js route wrr` runs only files whose name
 * contains one of the arguments.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const filter = process.argv.slice(2)
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort()
if (files.length === 0) {
  console.error(
    `no *.bench.js files${filter.length > 0 ? ` matching ${filter.join(', ')}` : ''} in ${here}`,
  )
  process.exit(1)
}
let failed = 0
for (const f of files) {
  console.log(`\n=== ${f.replace(/\.js$/, '')} (node ${process.version})\n`)
  const r = spawnSync(process.execPath, [join(here, f)], { stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`${f} failed (exit ${r.status ?? r.signal})`)
    failed++
  }
}
process.exit(failed > 0 ? 1 : 0)
