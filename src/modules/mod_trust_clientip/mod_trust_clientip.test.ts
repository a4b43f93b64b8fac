import assert from 'node:assert/strict'
import { test } from 'node:test'
import { confError } from '../../../test/helpers/conf-assert.js'
import { JsonNode } from '../../config/json-node.js'
import { decodeProductRules } from '../../module/rule-table.js'
import { trustData, trustSet } from './index.js'

const F = 'trust_client_ip.data'
const decode = (v: unknown) => trustSet(decodeProductRules(new JsonNode(F, '', v), trustData))

test('trusted ranges from every label; Begin = End is one address', () => {
  const set = decode({
    Version: 'v1',
    Config: {
      lb: [{ Begin: '192.0.2.0', End: '192.0.2.127' }],
      office: [
        { begin: '198.51.100.4', end: '198.51.100.4' },
        { Begin: '2001:db8::', End: '2001:db8::ff' },
      ],
    },
  })
  assert.ok(set.has('192.0.2.127'))
  assert.ok(!set.has('192.0.2.128'))
  assert.ok(set.has('198.51.100.4'))
  assert.ok(!set.has('198.51.100.5'))
  assert.ok(set.has('2001:db8::10'))
  assert.ok(!decode({ Version: '', Config: {} }).has('192.0.2.1'))
})

test('bad scopes are refused naming the field', () => {
  const one = (s: unknown) => ({ Version: 'v', Config: { lb: [s] } })
  confError(() => decode(one({ Begin: '192.0.2.1' })), F, '/Config/lb/0/End', /is required/)
  confError(
    () => decode(one({ Begin: '192.0.2', End: '192.0.2.1' })),
    F,
    '/Config/lb/0/Begin',
    /not an IP address/,
  )
  confError(
    () => decode(one({ Begin: '192.0.2.9', End: '192.0.2.1' })),
    F,
    '/Config/lb/0',
    /greater than/,
  )
  confError(
    () => decode(one({ Begin: '192.0.2.1', End: '2001:db8::1' })),
    F,
    '/Config/lb/0',
    /both be IPv4 or both IPv6/,
  )
  confError(() => decode({ Version: 'v' }), F, '/Config', /is required/)
  confError(() => decode({ Config: {} }), F, '/Version', /is required/)
})
