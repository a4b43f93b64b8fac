import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { makeRequest } from '../../test/helpers/condition-cases.js'
import { confError } from '../../test/helpers/conf-assert.js'
import { bound } from './bounds.js'
import { JsonNode } from './json-node.js'
import { type DecodeCx, s, schemaDocument } from './schema.js'

const rule = s.object({
  Cond: s.cond(),
  Name: s.string({ nonEmpty: true }),
  Cmd: s.string({ upper: true, oneOf: ['CLOSE', 'ALLOW'] }),
  Params: s.array(s.string(), { maxItems: 0 }),
  Period: s.int({ bound: bound(1, 3600, 's') }),
  Last: s.bool(false),
  Realm: s.string({ default: 'Restricted' }),
  Extra: s.optional(s.int()),
})

function decode(v: unknown, cx: DecodeCx = { warnings: [] }) {
  return rule.decode(new JsonNode('f.data', '', v), cx)
}

describe('schema: decoding as BFE reads JSON', () => {
  const ok = {
    cond: 'req_path_in("/a", false)',
    NAME: 'r1',
    cmd: 'close',
    Params: [],
    Period: 10,
  }

  it('matches keys case-insensitively, applies defaults, upper-cases, compiles conditions', () => {
    const r = decode(ok)
    assert.equal(r.Name, 'r1')
    assert.equal(r.Cmd, 'CLOSE')
    assert.equal(r.Last, false)
    assert.equal(r.Realm, 'Restricted')
    assert.equal(r.Extra, undefined)
    assert.equal(r.Cond.source, 'req_path_in("/a", false)')
    assert.equal(r.Cond.condition.test(makeRequest({ uri: '/a' })), true)
    assert.equal(r.Cond.condition.test(makeRequest({ uri: '/b' })), false)
  })

  it('null is absent: a required field is refused, an optional one defaults', () => {
    confError(() => decode({ ...ok, NAME: null }), 'f.data', '/NAME', /is required/)
    assert.equal(decode({ ...ok, Last: null }).Last, false)
  })

  it('names the field and the reason', () => {
    confError(() => decode({ ...ok, cond: 'req_path_in(' }), 'f.data', '/cond', /.+/)
    confError(() => decode({ ...ok, NAME: '' }), 'f.data', '/NAME', /must not be empty/)
    confError(() => decode({ ...ok, cmd: 'drop' }), 'f.data', '/cmd', /"DROP" is not one of/)
    confError(() => decode({ ...ok, Params: ['x'] }), 'f.data', '/Params', /exactly 0 items/)
    confError(() => decode({ ...ok, Period: 0 }), 'f.data', '/Period', /\[1, 3600\] s/)
    confError(() => decode({ ...ok, Period: '10' }), 'f.data', '/Period', /integer/)
    confError(() => decode({ ...ok, Last: 'yes' }), 'f.data', '/Last', /boolean/)
    confError(() => decode([]), 'f.data', '', /must be an object/)
  })

  it('collects the D1 warning of a condition with the field', () => {
    const cx: DecodeCx = { warnings: [] }
    decode({ ...ok, cond: 'default_t() && default_t() || default_t()' }, cx)
    assert.equal(cx.warnings.length, 1)
    assert.match(cx.warnings[0] ?? '', /^f\.data: \/cond "&&" and "\|\|" are mixed/)
  })

  it('s.check runs after decoding and reports through the node', () => {
    const even = s.check(s.int(), (v, node) => {
      if (v % 2 !== 0) node.fail('must be even')
    })
    confError(() => even.decode(new JsonNode('f', '/n', 3), { warnings: [] }), 'f', '/n', /even/)
    assert.equal(even.decode(new JsonNode('f', '/n', 4), { warnings: [] }), 4)
  })

  it('s.map refuses reserved names as keys', () => {
    const m = s.map(s.int(), 'product')
    confError(
      () => m.decode(new JsonNode('f', '', JSON.parse('{"__proto__": 1}')), { warnings: [] }),
      'f',
      '/__proto__',
      /reserved/,
    )
  })
})

describe('schema: JSON Schema from the same declaration', () => {
  it('describes types, required fields, enums, ranges and defaults', () => {
    const doc = schemaDocument('mod_x/rule.data', 'mod_x rules', rule)
    assert.equal(doc.$schema, 'https://json-schema.org/draft/2020-12/schema')
    assert.equal(doc.type, 'object')
    assert.deepEqual(doc.required, ['Cond', 'Name', 'Cmd', 'Params', 'Period'])
    const p = doc.properties ?? {}
    assert.equal(p['Cond']?.type, 'string')
    assert.deepEqual(p['Cmd']?.enum, ['CLOSE', 'ALLOW'])
    assert.equal(p['Name']?.minLength, 1)
    assert.deepEqual([p['Period']?.minimum, p['Period']?.maximum], [1, 3600])
    assert.equal(p['Realm']?.default, 'Restricted')
    assert.equal(p['Params']?.maxItems, 0)
    assert.equal(p['Extra']?.type, 'integer')
  })
})

describe('schema: names and enumerated integers', () => {
  const decl = s.object({ Cluster: s.name('cluster'), Level: s.int({ default: 0, oneOf: [0, 1] }) })
  const dec = (v: unknown) => decl.decode(new JsonNode('f.data', '', v), { warnings: [] })

  it('s.name refuses reserved names; s.int oneOf refuses other values', () => {
    assert.deepEqual(dec({ Cluster: 'c1' }), { Cluster: 'c1', Level: 0 })
    confError(
      () => dec({ Cluster: '__proto__' }),
      'f.data',
      '/Cluster',
      /cannot be used as a cluster name/,
    )
    confError(
      () => dec({ Cluster: 'c', Level: 2 }),
      'f.data',
      '/Level',
      /must be one of 0, 1, got 2/,
    )
    confError(() => dec({ Cluster: 'c', Level: 'x' }), 'f.data', '/Level', /must be an integer/)
  })

  it('their JSON Schema says the same', () => {
    const j = decl.jsonSchema()
    assert.deepEqual(j.properties?.['Cluster']?.not, {
      enum: ['__proto__', 'constructor', 'prototype'],
    })
    assert.deepEqual(j.properties?.['Level']?.enum, [0, 1])
    assert.deepEqual(j.required, ['Cluster'])
  })
})
