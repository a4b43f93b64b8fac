import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { type CacheCounters, LocalStickyCache, parseRedisValue } from './cache.js'
import { decodeCookie, encodeCookie, jsonPathText } from './codec.js'
import { loadStickyRules, redisServers } from './index.js'

const BK = { addr: '10.0.0.7', port: 8080, subCluster: 'web.a' }

test('cookie: masked JSON in raw standard base64, decoded with the same mask', () => {
  const v = encodeCookie(BK, 1_900_000_000, 'secretmask')
  assert.match(v, /^[A-Za-z0-9+/]+$/)
  // the mask is a plain XOR over the JSON bytes
  const json = '{"ip":"10.0.0.7","port":8080,"subcluster":"web.a","renewtime":1900000000}'
  const mask = Buffer.from('secretmask')
  const raw = Buffer.from(json).map((b, i) => b ^ (mask[i % mask.length] as number))
  assert.equal(v, Buffer.from(raw).toString('base64').replace(/=+$/, ''))
  assert.deepEqual(decodeCookie(v, 'secretmask'), { ...BK, renewTime: 1_900_000_000 })
  assert.equal(decodeCookie(v, 'othermask'), undefined)
  assert.deepEqual(decodeCookie(encodeCookie(BK, undefined, 'abcd'), 'abcd'), {
    ...BK,
    renewTime: undefined,
  })
})

test('cookie: invalid values decode to nothing', () => {
  assert.equal(decodeCookie('', 'abcd'), undefined)
  assert.equal(decodeCookie('not base64!', 'abcd'), undefined)
  assert.equal(decodeCookie(`${encodeCookie(BK, 1, 'abcd')}==`, 'abcd'), undefined)
  const noPort = Buffer.from('{"ip":"a","subcluster":"b"}').map(
    (b, i) => b ^ (Buffer.from('abcd')[i % 4] as number),
  )
  assert.equal(
    decodeCookie(Buffer.from(noPort).toString('base64').replace(/=+$/, ''), 'abcd'),
    undefined,
  )
})

test('JSON path text', () => {
  const doc = { id: 'r1', n: 5, a: [{ b: true }], o: { x: 1 }, 'd.k': 'dot', z: null }
  assert.equal(jsonPathText(doc, 'id'), 'r1')
  assert.equal(jsonPathText(doc, 'n'), '5')
  assert.equal(jsonPathText(doc, 'a.0.b'), 'true')
  assert.equal(jsonPathText(doc, 'o'), '{"x":1}')
  assert.equal(jsonPathText(doc, 'd\\.k'), 'dot')
  assert.equal(jsonPathText(doc, 'z'), '')
  assert.equal(jsonPathText(doc, 'missing.x'), '')
  assert.equal(jsonPathText(doc, 'a.x'), '')
})

test('local cache: least recently used id goes first', () => {
  const c: CacheCounters = {
    CACHE_HIT: 0,
    CACHE_MISS: 0,
    CACHE_SET: 0,
    CACHE_GET_FAIL: 0,
    CACHE_SET_FAIL: 0,
  }
  const lru = new LocalStickyCache(2, c)
  lru.set('a', BK)
  lru.set('b', { ...BK, port: 2 })
  assert.equal(lru.get('a')?.port, 8080) // a is now the most recent
  lru.set('c', { ...BK, port: 3 })
  assert.equal(lru.get('b'), undefined)
  assert.equal(lru.get('c')?.port, 3)
  assert.equal(lru.length, 2)
  assert.deepEqual([c.CACHE_HIT, c.CACHE_MISS, c.CACHE_SET], [2, 1, 3])
})

test('Redis values in BFE format', () => {
  assert.deepEqual(
    parseRedisValue('{"addr":"1.2.3.4","port":80,"sub_cluster":"s","created_at":1}'),
    { addr: '1.2.3.4', port: 80, subCluster: 's' },
  )
  assert.equal(parseRedisValue('{"addr":"1.2.3.4","port":"80","sub_cluster":"s"}'), undefined)
  assert.equal(parseRedisValue('garbage'), undefined)
})

test('rule file: defaults and checks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sticky-'))
  const f = join(dir, 'session_sticky.data')
  const load = (rule: Record<string, unknown>) => {
    writeFileSync(
      f,
      JSON.stringify({ Version: '1', Config: { p: [{ Cond: 'default_t()', ...rule }] } }),
    )
    return loadStickyRules(f).rules('p')[0]
  }
  const d = load({})
  assert.equal(d?.sticky, false)
  assert.equal(d?.cookieKey, 'bfe_ssbl')
  assert.equal(d?.maxAge, 3600)
  assert.equal(d?.renewWindow, 1800)
  assert.equal(d?.maskCode, 'defaultmask')
  assert.equal(d?.standbyMaskCode, 'standbymask')
  assert.equal(load({ MaxAge: 0 })?.renewWindow, 0)
  assert.equal(load({ RenewWindow: 5 })?.renewWindow, 5)
  assert.throws(() => load({ MaskCode: 'abc' }), /\/Config\/p\/0\/MaskCode.*at least 4/)
  assert.throws(() => load({ StandbyMaskCode: '' }), /\/StandbyMaskCode.*at least 4/)
  assert.throws(() => load({ Type: 'Header' }), /\/Type.*"Header" is not one of/)
  assert.throws(() => load({ Type: 'Sticky' }), /\/CookieKey.*required for a rule of Type "Sticky"/)
  assert.throws(() => load({ CookieKey: '  ' }), /\/CookieKey.*must not be empty/)
  assert.throws(() => load({ Path: 'x' }), /\/Path.*must start with \//)
  assert.throws(() => load({ MaxAge: -1 }), /\/MaxAge/)
  assert.throws(() => load({ Cond: 'req_host_in(' }), /\/Config\/p\/0\/Cond/)
})

test('[Redis] Bns: host:port entries or a service of name_conf.data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sticky-bns-'))
  const nc = join(dir, 'name_conf.data')
  writeFileSync(
    nc,
    JSON.stringify({
      Version: '1',
      Config: {
        'redis.sticky': [
          { Host: '10.0.0.1', Port: 6379, Weight: 1 },
          { Host: '10.0.0.2', Port: 6380, Weight: 1 },
        ],
      },
    }),
  )
  assert.deepEqual(redisServers('127.0.0.1:6379, [::1]:6380', '', 'c.conf'), [
    { host: '127.0.0.1', port: 6379 },
    { host: '::1', port: 6380 },
  ])
  assert.deepEqual(redisServers('redis.sticky', nc, 'c.conf'), [
    { host: '10.0.0.1', port: 6379 },
    { host: '10.0.0.2', port: 6380 },
  ])
  assert.throws(() => redisServers('', nc, 'c.conf'), /c\.conf.*\[Redis\] Bns.*must not be empty/)
  assert.throws(
    () => redisServers('other.name', nc, 'c.conf'),
    /\[Redis\] Bns.*"other\.name" has no instance/,
  )
  assert.throws(
    () => redisServers('BFE.poc-redis', '', 'c.conf'),
    /neither host:port entries nor a name/,
  )
  assert.throws(() => redisServers('127.0.0.1:99999', '', 'c.conf'), /\[Redis\] Bns/)
})
