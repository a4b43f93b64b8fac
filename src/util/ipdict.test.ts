import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cidrOf, type IpRange, IpSet, rangeOf } from './ipdict.js'

function r(a: string, b = a): IpRange {
  const x = rangeOf(a, b)
  if (!x.ok) throw new Error(x.reason)
  return x.range
}
function c(text: string): IpRange {
  const x = cidrOf(text)
  if (!x.ok) throw new Error(x.reason)
  return x.range
}

test('IpSet: singles, ranges and CIDRs, ends inclusive', () => {
  const set = new IpSet([r('10.0.0.5'), r('172.20.1.1', '172.20.1.9'), c('198.51.100.0/24')])
  for (const yes of ['10.0.0.5', '172.20.1.1', '172.20.1.5', '172.20.1.9', '198.51.100.0'])
    assert.ok(set.has(yes), yes)
  assert.ok(set.has('198.51.100.255'))
  for (const no of ['10.0.0.4', '10.0.0.6', '172.20.1.0', '172.20.1.10', '198.51.101.0', ''])
    assert.ok(!set.has(no), no)
  assert.ok(!set.has(undefined))
  assert.ok(!set.has('not-an-ip'))
})

test('IpSet: IPv4-mapped IPv6 addresses match IPv4 entries, and the other way round', () => {
  const set = new IpSet([r('10.1.2.3'), r('::ffff:192.0.2.7')])
  assert.ok(set.has('::ffff:10.1.2.3'))
  assert.ok(set.has('192.0.2.7'))
  assert.ok(!set.has('::ffff:10.1.2.4'))
})

test('IpSet: IPv6 ranges and CIDRs', () => {
  const set = new IpSet([c('2001:db8:1::/48'), r('2001:db8:9::1', '2001:db8:9::ff')])
  assert.ok(set.has('2001:db8:1::1'))
  assert.ok(set.has('2001:db8:1:ffff:ffff:ffff:ffff:ffff'))
  assert.ok(!set.has('2001:db8:2::'))
  assert.ok(set.has('2001:db8:9::80'))
  assert.ok(!set.has('2001:db8:9::100'))
  assert.ok(!set.has('10.0.0.1'))
})

test('IpSet: overlapping and adjacent ranges are merged', () => {
  const set = new IpSet([
    r('10.0.0.10', '10.0.0.20'),
    r('10.0.0.15', '10.0.0.30'),
    r('10.0.0.31', '10.0.0.40'),
    r('10.0.0.1', '10.0.0.2'),
    r('10.0.0.12'),
  ])
  assert.equal(set.entries, 5)
  assert.equal(set.size, 2)
  assert.ok(set.has('10.0.0.40'))
  assert.ok(!set.has('10.0.0.3'))
  assert.ok(set.has('10.0.0.2'))
  assert.ok(!set.has('10.0.0.41'))
})

test('IpSet: many ranges are found by bisection', () => {
  const ranges: IpRange[] = []
  for (let i = 0; i < 2000; i++)
    ranges.push(r(`10.${i >> 8}.${i & 255}.0`, `10.${i >> 8}.${i & 255}.9`))
  const set = new IpSet(ranges)
  assert.equal(set.size, 2000)
  assert.ok(set.has('10.3.100.5'))
  assert.ok(!set.has('10.3.100.10'))
  assert.ok(set.has('10.7.207.9'))
  assert.ok(!set.has('10.7.208.0'))
})

test('cidrOf: host bits are cleared; bad prefixes and mixed families are refused', () => {
  const x = c('192.168.1.250/20')
  const set = new IpSet([x])
  assert.ok(set.has('192.168.0.0'))
  assert.ok(set.has('192.168.15.255'))
  assert.ok(!set.has('192.168.16.0'))
  assert.ok(new IpSet([c('0.0.0.0/0')]).has('255.255.255.255'))
  assert.equal(cidrOf('10.0.0.0/33').ok, false)
  assert.equal(cidrOf('10.0.0.0/').ok, false)
  assert.equal(cidrOf('10.0.0/8').ok, false)
})

test('IpSet: an IPv6 range over the IPv4-mapped block covers those IPv4 addresses', () => {
  const set = new IpSet([c('::/0')])
  assert.ok(set.has('203.0.113.1'))
  assert.ok(set.has('2001:db8::1'))
  const part = new IpSet([r('::ffff:0:0', '::ffff:a00:0')])
  assert.ok(part.has('9.255.255.255'))
  assert.ok(!part.has('10.0.0.1'))
})

test('rangeOf: both ends valid, one family, start <= end', () => {
  const bad = rangeOf('10.0.0.9', '10.0.0.1')
  assert.ok(!bad.ok && /greater than/.test(bad.reason))
  const mixed = rangeOf('10.0.0.1', '2001:db8::1')
  assert.ok(!mixed.ok && /both be IPv4 or both IPv6/.test(mixed.reason))
  const junk = rangeOf('10.0.0', '10.0.0.1')
  assert.ok(!junk.ok && /not an IP address/.test(junk.reason))
})
