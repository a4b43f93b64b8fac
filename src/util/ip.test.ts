import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ipToBytes16, normalizeIp, plainIp } from './ip.js'

test('normalizeIp: canonical text, IPv4-mapped to IPv4, invalid to undefined', () => {
  assert.equal(normalizeIp('10.0.0.1'), '10.0.0.1')
  assert.equal(normalizeIp(' 10.0.0.1 '), '10.0.0.1')
  assert.equal(normalizeIp('::ffff:10.0.0.1'), '10.0.0.1')
  assert.equal(normalizeIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1')
  assert.equal(normalizeIp('10.1'), undefined)
  assert.equal(normalizeIp('300.0.0.1'), undefined)
  assert.equal(normalizeIp('example.com'), undefined)
  assert.equal(normalizeIp(''), undefined)
})

test('plainIp: strips ::ffff: from a mapped IPv4 only', () => {
  assert.equal(plainIp('::ffff:127.0.0.1'), '127.0.0.1')
  assert.equal(plainIp('127.0.0.1'), '127.0.0.1')
  assert.equal(plainIp('::ffff:7f00:1'), '::ffff:7f00:1')
  assert.equal(plainIp('::1'), '::1')
})

test('ipToBytes16: IPv4 as ::ffff:a.b.c.d, undefined when unknown', () => {
  assert.deepEqual(
    [...(ipToBytes16('1.2.3.4') ?? [])],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4],
  )
  assert.equal(ipToBytes16(undefined), undefined)
  assert.equal(ipToBytes16(''), undefined)
  assert.equal(ipToBytes16('nope'), undefined)
})
