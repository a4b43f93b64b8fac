import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { loadProductRules } from '../../module/rule-table.js'
import { setCookieString } from './cookie.js'
import { genUid, useridRules } from './index.js'

test('genUid is the hex of <unix nanos>_<random>', () => {
  const now = Date.UTC(2026, 0, 2, 3, 4, 5)
  const id = genUid(now)
  assert.match(id, /^[0-9a-f]+$/)
  const text = Buffer.from(id, 'hex').toString('latin1')
  const m = /^(\d+)_(\d+)$/.exec(text)
  assert.ok(m, text)
  assert.equal(BigInt(m[1] as string) / 1_000_000n, BigInt(now))
  assert.ok(Number(m[2]) < 2 ** 31)
  assert.notEqual(genUid(now), genUid(now))
})

test('Set-Cookie text: attribute order, quoting, dropped bytes', () => {
  const expires = new Date(Date.UTC(2030, 5, 1, 12, 0, 0))
  assert.equal(
    setCookieString({
      name: 'uid',
      value: 'abc',
      path: '/x',
      domain: '.example.org',
      expires,
      maxAge: 60,
      httpOnly: true,
      secure: true,
    }),
    'uid=abc; Path=/x; Domain=example.org; Expires=Sat, 01 Jun 2030 12:00:00 GMT; Max-Age=60; HttpOnly; Secure',
  )
  assert.equal(setCookieString({ name: 'a', value: 'x y' }), 'a="x y"')
  assert.equal(setCookieString({ name: 'a', value: 'x;"\\y', maxAge: -1 }), 'a=xy; Max-Age=0')
  assert.equal(setCookieString({ name: 'a', value: 'v', path: '/p;q', maxAge: 0 }), 'a=v; Path=/pq')
})

test('userid_rule.data: empty product list, missing Params and bad MaxAge are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'userid-'))
  const f = join(dir, 'userid_rule.data')
  const load = (v: unknown) => {
    writeFileSync(f, JSON.stringify(v))
    return loadProductRules(f, useridRules)
  }
  const t = load({
    Version: '1',
    Config: {
      p: [{ Cond: 'default_t()', Params: { Name: 'u', MaxAge: 10 }, Generator: 'default' }],
    },
  })
  assert.equal(t.rules('p')[0]?.Params.Path, '')
  assert.throws(() => load({ Version: '1', Config: { p: [] } }), /\/Config\/p.*must not be empty/)
  assert.throws(
    () => load({ Version: '1', Config: { p: [{ Cond: 'default_t()' }] } }),
    /\/Config\/p\/0\/Params.*required/,
  )
  assert.throws(
    () =>
      load({
        Version: '1',
        Config: { p: [{ Cond: 'default_t()', Params: { Name: 'u', MaxAge: -1 } }] },
      }),
    /\/Config\/p\/0\/Params\/MaxAge/,
  )
})
