import assert from 'node:assert/strict'
import { test } from 'node:test'
import { HeaderList } from '../../basic/header-list.js'
import { JsonNode } from '../../config/json-node.js'
import { decodeProductRules } from '../../module/rule-table.js'
import { addVaryOrigin, allowedOrigin, corsRules } from './index.js'

function load(rule: Record<string, unknown>, version = 'v') {
  const doc = { Version: version, Config: { p: [{ Cond: 'default_t()', ...rule }] } }
  return decodeProductRules(new JsonNode('cors.data', '', doc), corsRules)
}
const first = (rule: Record<string, unknown>) => {
  const r = load(rule).rules('p')[0]
  assert.ok(r !== undefined)
  return r
}

test('origin resolution: %origin echoes, * answers *, exact origins echo, others are refused', () => {
  assert.equal(
    allowedOrigin(first({ AccessControlAllowOrigins: ['%origin'] }), 'https://a.test'),
    'https://a.test',
  )
  assert.equal(allowedOrigin(first({ AccessControlAllowOrigins: ['*'] }), 'https://a.test'), '*')
  const exact = first({ AccessControlAllowOrigins: ['https://a.test', 'https://b.test'] })
  assert.equal(allowedOrigin(exact, 'https://b.test'), 'https://b.test')
  assert.equal(allowedOrigin(exact, 'https://c.test'), undefined)
  const nul = first({ AccessControlAllowOrigins: ['null'] })
  assert.equal(allowedOrigin(nul, 'null'), 'null')
})

test('header values are joined with commas and MaxAge kept as text', () => {
  const r = first({
    AccessControlAllowOrigins: ['%origin'],
    AccessControlAllowMethods: ['GET', 'PATCH'],
    AccessControlAllowHeaders: ['X-A', 'X-B'],
    AccessControlExposeHeaders: ['X-C'],
    AccessControlMaxAge: -1,
  })
  assert.equal(r.allowMethods, 'GET,PATCH')
  assert.equal(r.allowHeaders, 'X-A,X-B')
  assert.equal(r.exposeHeaders, 'X-C')
  assert.equal(r.maxAge, '-1')
  assert.equal(first({ AccessControlAllowOrigins: ['*'] }).maxAge, undefined)
})

test('every validation rule of the spec refuses the file, naming the field', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /\/Config\/p\/0\/AccessControlAllowOrigins is required/],
    [{ AccessControlAllowOrigins: [] }, /AccessControlAllowOrigins must not be empty/],
    [{ AccessControlAllowOrigins: ['%host'] }, /AccessControlAllowOrigins\/0 "%host" is not supp/],
    [{ AccessControlAllowOrigins: ['https://*.a.test'] }, /AccessControlAllowOrigins\/0 ".*" is/],
    [
      { AccessControlAllowOrigins: ['*'], AccessControlAllowCredentials: true },
      /AccessControlAllowOrigins\/0 "\*" cannot be used when AccessControlAllowCredentials/,
    ],
    [
      { AccessControlAllowOrigins: ['https://a.test', 'null'] },
      /AccessControlAllowOrigins\/1 "null" must be the only item/,
    ],
    [
      { AccessControlAllowOrigins: ['*', 'https://a.test'] },
      /AccessControlAllowOrigins\/0 "\*" must be the only item/,
    ],
    [
      { AccessControlAllowOrigins: ['*'], AccessControlExposeHeaders: ['X-*'] },
      /AccessControlExposeHeaders\/0 "X-\*" is not supported/,
    ],
    [
      { AccessControlAllowOrigins: ['*'], AccessControlAllowHeaders: ['X-A', '*'] },
      /AccessControlAllowHeaders\/1 "\*" must be the only item/,
    ],
    [
      { AccessControlAllowOrigins: ['*'], AccessControlAllowMethods: ['GET', 'FETCH'] },
      /AccessControlAllowMethods\/1 "FETCH" is not one of GET/,
    ],
    [
      { AccessControlAllowOrigins: ['*'], AccessControlAllowMethods: ['get'] },
      /AccessControlAllowMethods\/0 "get" is not one of/,
    ],
    [
      { AccessControlAllowOrigins: ['*'], AccessControlAllowMethods: ['*', 'GET'] },
      /AccessControlAllowMethods\/0 "\*" must be the only item/,
    ],
    [{ AccessControlAllowOrigins: ['*'], AccessControlMaxAge: 86401 }, /AccessControlMaxAge/],
    [{ AccessControlAllowOrigins: ['*'], AccessControlMaxAge: -2 }, /AccessControlMaxAge/],
    [{ AccessControlAllowOrigins: ['*'], Cond: 'nope(' }, /\/Config\/p\/0\/Cond/],
  ]
  for (const [rule, re] of bad) assert.throws(() => load(rule), re, JSON.stringify(rule))
  assert.throws(() => load({ AccessControlAllowOrigins: ['*'] }, ''), /Version must not be empty/)
  // The allowed shapes load.
  load({ AccessControlAllowOrigins: ['*'], AccessControlAllowMethods: ['*'] })
  load({ AccessControlAllowOrigins: ['%origin'], AccessControlAllowCredentials: true })
})

test('Vary gets Origin: set, kept, appended without a space', () => {
  const v = (raw: string[]) => {
    const h = new HeaderList(raw)
    addVaryOrigin(h)
    return h.getAll('vary')
  }
  assert.deepEqual(v([]), ['Origin'])
  assert.deepEqual(v(['Vary', '*']), ['*'])
  assert.deepEqual(v(['Vary', 'Accept, Origin']), ['Accept, Origin'])
  assert.deepEqual(v(['vary', 'Accept-Encoding']), ['Accept-Encoding,Origin'])
  assert.deepEqual(v(['Vary', 'Accept', 'Vary', 'Cookie']), ['Accept,Origin', 'Cookie'])
})
