import assert from 'node:assert/strict'
import { test } from 'node:test'
import { murmur3Sum32 } from './murmur3-32.js'

test('murmur3Sum32: reference vectors of MurmurHash3_x86_32', () => {
  const s = (t: string, seed = 0) => murmur3Sum32(Buffer.from(t), seed)
  assert.equal(s(''), 0)
  assert.equal(s('', 1), 0x514e28b7)
  assert.equal(s('hello'), 0x248bfa47)
  assert.equal(s('hello, world'), 0x149bbb7f)
  assert.equal(s('The quick brown fox jumps over the lazy dog'), 0x2e4ff723)
  assert.equal(murmur3Sum32(new Uint8Array([0, 0, 0, 0])), 0x2362f9de)
  assert.equal(murmur3Sum32(new Uint8Array([0x21, 0x43, 0x65, 0x87])), 0xf55b516b)
  assert.equal(murmur3Sum32(new Uint8Array([0x21, 0x43, 0x65])), 0x7e4a8634)
  assert.equal(murmur3Sum32(new Uint8Array([0x21, 0x43])), 0xa0f7b07a)
  assert.equal(murmur3Sum32(new Uint8Array([0x21])), 0x72661cf4)
})
