#!/usr/bin/env node
// Writes the JSON Schema of every data file kind to schemas/ (shipped in the package, named by the
// bundled conf files' "$schema"). Generated from the s.* declarations the loaders validate with;
// test/e2e/tools-commands checks that the committed files are up to date. Run after a build:
//   npx tsc -p . && node scripts/write-schemas.mjs
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const { allSchemas } = await import(join(root, 'dist/src/tools/schemas.js'))
const dir = join(root, 'schemas')
mkdirSync(dir, { recursive: true })
for (const [name, doc] of allSchemas()) {
  writeFileSync(join(dir, name), `${JSON.stringify(doc, null, 2)}\n`)
  console.log(`schemas/${name}`)
}
