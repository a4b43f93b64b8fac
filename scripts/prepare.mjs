#!/usr/bin/env node
// `npm prepare`: builds dist/src (tsconfig.build.json: the sources without their tests), so that
// bfe-ts installs from git (`npm install github:owner/bfe-ts`, `npm install git+file:///path`),
// where npm installs the devDependencies, runs this and packs the result.
// `npm install /path/to/folder` links the folder and runs this without installing the folder's
// devDependencies: run `npm ci` in that folder first (which builds, too).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
let tsc
try {
  tsc = require.resolve('typescript/bin/tsc')
} catch {
  if (existsSync('dist/src/main.js')) {
    console.error('bfe-ts: typescript is not installed; using the dist/ already built')
    process.exit(0)
  }
  console.error(
    'bfe-ts: building needs the devDependencies (typescript). Run `npm ci` in this folder ' +
      'first, or install from git (npm install git+file:///path/to/bfe-ts), which installs them.',
  )
  process.exit(1)
}
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
process.exit(r.status ?? 1)
