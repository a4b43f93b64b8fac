import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Backend } from './backend.js'
import { applySlowStart } from './slow-start.js'
import { sortByKey, stickyPick } from './sticky.js'
import { wlcPick } from './wlc.js'
import { wrrPick } from './wrr.js'

function mk(spec: Record<string, number>): Backend[] {
  return Object.entries(spec).map(([n, w], i) => new Backend(n, '10.0.0.1', 8000 + i, w, 'sc'))
}

function seq(list: Backend[], n: number, pick = wrrPick): string {
  let out = ''
  for (let i = 0; i < n; i++) out += pick(list)?.name ?? '-'
  return out
}

test('smooth WRR 5/1/1 gives a a b a c a a, repeating', () => {
  const l = mk({ a: 5, b: 1, c: 1 })
  assert.equal(seq(l, 14), 'aabacaaaabacaa')
})

test('smooth WRR other weights', () => {
  assert.equal(seq(mk({ a: 1, b: 1, c: 1 }), 6), 'abcabc')
  assert.equal(seq(mk({ a: 2, b: 1 }), 6), 'abaaba')
  assert.equal(seq(mk({ a: 3, b: 2 }), 10), 'ababaababa')
  assert.equal(seq(mk({ a: 1 }), 3), 'aaa')
})

test('WRR skips unavailable and zero-weight backends and leaves them untouched', () => {
  const l = mk({ a: 5, b: 1, c: 1, z: 0 })
  l[1]!.available = false
  const before = l[1]!.current
  const s = seq(l, 6)
  assert.equal(s.includes('b'), false)
  assert.equal(s.includes('z'), false)
  assert.equal(l[1]!.current, before)
  for (const b of l) b.available = false
  assert.equal(wrrPick(l), undefined)
})

test('WRR keeps current when a weight is reloaded; weight <= 0 resets current', () => {
  const l = mk({ a: 5, b: 1, c: 1 })
  seq(l, 3)
  const cur = l[0]!.current
  l[0]!.setConfWeight(5)
  assert.equal(l[0]!.current, cur)
  l[2]!.setConfWeight(0)
  assert.equal(l[2]!.current, 0)
  assert.equal(seq(l, 6).includes('c'), false)
})

test('WLC picks the least loaded by active/weight, ties by WRR', () => {
  const l = mk({ a: 2, b: 1, c: 1 })
  l[0]!.activeRequests = 4 // 4/2 = 2
  l[1]!.activeRequests = 1 // 1/1 = 1
  l[2]!.activeRequests = 3
  assert.equal(wlcPick(l)?.name, 'b')
  l[1]!.activeRequests = 2 // a: 2, b: 2 -> tie between a and b, WRR picks a first
  const first = wlcPick(l)?.name
  assert.equal(first, 'a')
  // all idle: WLC degrades to WRR over everyone
  const m = mk({ a: 5, b: 1, c: 1 })
  assert.equal(seq(m, 7, wlcPick), 'aabacaa')
  l[1]!.available = false
  l[0]!.available = false
  assert.equal(wlcPick(l)?.name, 'c')
})

test('sticky hash is stable and weighted, sorted by addr:port', () => {
  const l = [
    new Backend('x', '10.0.0.2', 80, 1, 'sc'),
    new Backend('y', '10.0.0.1', 80, 1, 'sc'),
    new Backend('z', '10.0.0.1', 81, 2, 'sc'),
  ]
  const sorted = sortByKey(l)
  assert.deepEqual(
    sorted.map((b) => b.key),
    ['10.0.0.1:80', '10.0.0.1:81', '10.0.0.2:80'],
  )
  // sum = 400 (weights ×100); v = hash mod 400
  assert.equal(stickyPick(sorted, 0n)?.name, 'y') // 0 < 100
  assert.equal(stickyPick(sorted, 150n)?.name, 'z')
  assert.equal(stickyPick(sorted, 399n)?.name, 'x')
  assert.equal(stickyPick(sorted, 12345n)?.name, stickyPick(sorted, 12345n)?.name)
  l[0]!.available = false // sum = 300
  assert.equal(stickyPick(sorted, 399n)?.name, 'y') // 399 mod 300 = 99
})

test('slow start ramps the weight from 1 to the final weight', () => {
  const l = mk({ a: 10, b: 10 })
  const b = l[1]!
  b.restarted = true
  applySlowStart(l, 10, 1000)
  assert.equal(b.weight, 1)
  assert.equal(b.current, 1)
  assert.equal(b.restarted, false)
  applySlowStart(l, 10, 1000 + 5000)
  assert.equal(b.weight, 500) // 1000 × 5 / 10
  applySlowStart(l, 10, 1000 + 9999)
  assert.equal(b.weight, 999)
  applySlowStart(l, 10, 1000 + 10000)
  assert.equal(b.weight, 1000)
  assert.equal(b.slowStartBegin, 0)
  // off: the flag is simply cleared
  b.restarted = true
  applySlowStart(l, 0, 50000)
  assert.equal(b.weight, 1000)
  assert.equal(b.restarted, false)
})

test('slow start: a restarted backend gets few picks at first', () => {
  const l = mk({ a: 1, b: 1 })
  l[1]!.restarted = true
  let now = 1
  let bCount = 0
  for (let i = 0; i < 50; i++) {
    applySlowStart(l, 100, now)
    if (wrrPick(l)?.name === 'b') bCount++
  }
  assert.ok(bCount <= 1, `b picked ${bCount} times`)
  now = 100_001
  applySlowStart(l, 100, now)
  assert.equal(l[1]!.weight, 100)
})
