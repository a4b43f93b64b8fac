import assert from 'node:assert/strict'
import { test } from 'node:test'
import { holdClock, now, releaseClock } from './clock.js'

function spin(ms: number): void {
  const end = Date.now() + ms
  while (Date.now() < end) {
    // wait for the wall clock to move
  }
}

test('outside a hold, now() follows the wall clock', () => {
  const a = now()
  spin(5)
  assert.ok(now() >= a + 5)
})

test('inside a hold, now() keeps the reading taken by holdClock; release lets it move again', () => {
  const before = Date.now()
  const prev = holdClock()
  assert.equal(prev, 0)
  const held = now()
  assert.ok(held >= before)
  spin(5)
  assert.equal(now(), held)
  releaseClock(prev)
  assert.ok(now() >= held + 5)
})

test('a nested hold takes a fresh reading and gives the outer one back', () => {
  const outer = holdClock()
  const t1 = now()
  spin(3)
  const inner = holdClock()
  assert.equal(inner, t1)
  const t2 = now()
  assert.ok(t2 >= t1 + 3)
  releaseClock(inner)
  assert.equal(now(), t1)
  releaseClock(outer)
  spin(2)
  assert.ok(now() > t1)
})
