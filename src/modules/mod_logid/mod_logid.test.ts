import assert from 'node:assert/strict'
import { test } from 'node:test'
import { genLogId } from './index.js'

test('genLogId: 32 lowercase hex characters, different every time (past a pool refill)', () => {
  const seen = new Set<string>()
  for (let i = 0; i < 1000; i++) {
    const id = genLogId()
    assert.match(id, /^[0-9a-f]{32}$/)
    seen.add(id)
  }
  assert.equal(seen.size, 1000)
})
