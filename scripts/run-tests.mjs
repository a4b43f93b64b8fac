#!/usr/bin/env node
// Runs every compiled test file under dist/ with node:test (Node 20's --test does not expand globs).
// Only a dist/**/x.test.js whose source x.test.ts still exists is run: tsc never deletes the output
// of a test that was deleted or renamed, and such a stale file must not run (or fail) again.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

function collect(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) collect(p, out)
    else if (entry.name.endsWith('.test.js')) out.push(p)
  }
  return out
}

/** dist/src/a/x.test.js -> src/a/x.test.ts (tsconfig: rootDir ".", outDir "dist"). */
function sourceOf(file) {
  return relative('dist', file).replace(/\.js$/, '.ts')
}

const filter = process.argv.slice(2)
const compiled = collect('dist', []).sort()
let files = compiled.filter((f) => existsSync(sourceOf(f)))
const stale = compiled.filter((f) => !files.includes(f))
if (stale.length > 0) {
  console.error(`skipping ${stale.length} stale test file(s) without a source:`)
  for (const f of stale) console.error(`  ${f}`)
}
if (filter.length > 0) files = files.filter((f) => filter.some((s) => f.includes(s)))
if (files.length === 0) {
  console.error('no test files found under dist/')
  process.exit(1)
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
})
process.exit(r.status ?? 1)
