#!/usr/bin/env node
// Runs every compiled test file under dist/ with node:test (Node 20's --test does not expand globs).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

function collect(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) collect(p, out)
    else if (entry.name.endsWith('.test.js')) out.push(p)
  }
  return out
}

const filter = process.argv.slice(2)
let files = collect('dist', []).sort()
if (filter.length > 0) files = files.filter((f) => filter.some((s) => f.includes(s)))
if (files.length === 0) {
  console.error('no test files found under dist/')
  process.exit(1)
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
})
process.exit(r.status ?? 1)
