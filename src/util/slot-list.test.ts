import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SlotList } from './slot-list.js'

interface Item {
  name: string
  slotA: number
  slotB: number
}
const item = (name: string): Item => ({ name, slotA: -1, slotB: -1 })
const names = (l: SlotList<'slotA', Item>): string[] =>
  l
    .toArray()
    .map((x) => x.name)
    .sort()

test('add, has, delete and size agree with a Set through a random sequence', () => {
  const pool = Array.from({ length: 20 }, (_, i) => item(`i${i}`))
  const l = new SlotList<'slotA', Item>('slotA')
  const s = new Set<Item>()
  let seed = 7
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n
  }
  for (let step = 0; step < 5000; step++) {
    const x = pool[rand(pool.length)] as Item
    if (rand(2) === 0) {
      l.add(x)
      s.add(x)
    } else assert.equal(l.delete(x), s.delete(x))
    assert.equal(l.size, s.size)
    for (const y of pool) assert.equal(l.has(y), s.has(y), `step ${step}: ${y.name}`)
  }
  assert.deepEqual(names(l), [...s].map((x) => x.name).sort())
})

test('adding a member twice keeps one; deleting a non-member is false and changes nothing', () => {
  const l = new SlotList<'slotA', Item>('slotA')
  const a = item('a')
  const b = item('b')
  l.add(a)
  l.add(a)
  assert.equal(l.size, 1)
  assert.equal(l.delete(b), false)
  assert.equal(l.size, 1)
  assert.equal(l.has(a), true)
  assert.equal(a.slotA, 0)
  assert.equal(l.delete(a), true)
  assert.equal(a.slotA, -1)
  assert.equal(l.size, 0)
})

test('an object can be in two lists through two fields', () => {
  const la = new SlotList<'slotA', Item>('slotA')
  const lb = new SlotList<'slotB', Item>('slotB')
  const xs = ['a', 'b', 'c'].map(item)
  for (const x of xs) {
    la.add(x)
    lb.add(x)
  }
  la.delete(xs[0] as Item)
  assert.equal(la.has(xs[0] as Item), false)
  assert.equal(lb.has(xs[0] as Item), true)
  assert.equal(lb.size, 3)
})

test('a member of another list with the same field is not taken for a member', () => {
  const l1 = new SlotList<'slotA', Item>('slotA')
  const l2 = new SlotList<'slotA', Item>('slotA')
  const a = item('a')
  const b = item('b')
  l1.add(a)
  l2.add(b)
  // both hold position 0 in their own list
  assert.equal(l1.has(b), false)
  assert.equal(l1.delete(b), false)
  assert.equal(l1.size, 1)
})

test('walking from the end while deleting visits every member that stays, and each deleted one at most twice', () => {
  const l = new SlotList<'slotA', Item>('slotA')
  const xs = Array.from({ length: 10 }, (_, i) => item(`i${i}`))
  for (const x of xs) l.add(x)
  const seen = new Map<string, number>()
  for (let i = l.size - 1; i >= 0; i--) {
    const x = l.at(i)
    if (x === undefined) continue
    seen.set(x.name, (seen.get(x.name) ?? 0) + 1)
    // every even member deletes itself and the first member
    if (Number(x.name.slice(1)) % 2 === 0) {
      l.delete(x)
      const first = l.at(0)
      if (first !== undefined && first !== x) l.delete(first)
    }
  }
  for (const x of l.toArray()) assert.ok((seen.get(x.name) ?? 0) >= 1, `${x.name} was skipped`)
  for (const n of seen.values()) assert.ok(n <= 2)
})

test('clear empties the list and frees every member for another add', () => {
  const l = new SlotList<'slotA', Item>('slotA')
  const xs = ['a', 'b'].map(item)
  for (const x of xs) l.add(x)
  l.clear()
  assert.equal(l.size, 0)
  for (const x of xs) {
    assert.equal(x.slotA, -1)
    assert.equal(l.has(x), false)
  }
  l.add(xs[1] as Item)
  assert.deepEqual(names(l), ['b'])
})

test('at() beyond the size is undefined', () => {
  const l = new SlotList<'slotA', Item>('slotA')
  l.add(item('a'))
  l.delete(l.at(0) as Item)
  assert.equal(l.at(0), undefined)
})
