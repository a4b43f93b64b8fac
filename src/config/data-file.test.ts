import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { confError } from '../../test/helpers/conf-assert.js'
import { readDataFile, readJsonFile } from './data-file.js'

test('readJsonFile: reads and parses; missing file and bad JSON name the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bfe-df-'))
  const good = join(dir, 'good.data')
  const bad = join(dir, 'bad.data')
  writeFileSync(good, '{"Version": "v1"}')
  writeFileSync(bad, '{\n  "Version": \n}')
  const root = readJsonFile(good)
  assert.equal(root.file, good)
  assert.equal(root.get('Version').string(), 'v1')
  assert.equal(readDataFile(good), '{"Version": "v1"}')
  confError(
    () => readJsonFile(join(dir, 'none.data')),
    join(dir, 'none.data'),
    '',
    /cannot be read/,
  )
  confError(() => readJsonFile(bad), bad, '', /is not valid JSON/)
})
