import assert from 'node:assert/strict'
import { test } from 'node:test'
import { confError } from '../../../test/helpers/conf-assert.js'
import { JsonNode } from '../../config/json-node.js'
import { decodeKeepAlive } from './index.js'

const F = 'tcp_keepalive.data'
const decode = (v: unknown) => decodeKeepAlive(new JsonNode(F, '', v))

test('rules by product and VIP (canonical text); parameters default to 0', () => {
  const t = decode({
    Version: '2026-11-27',
    Config: {
      p1: [
        { VipConf: ['192.0.2.10', '2001:DB8::10'], KeepAliveParam: { KeepIdle: 70 } },
        { VipConf: ['192.0.2.11'], KeepAliveParam: { Disable: true } },
      ],
      p2: [{ VipConf: ['192.0.2.12'] }],
    },
  })
  assert.equal(t.version, '2026-11-27')
  assert.deepEqual(t.products.get('p1')?.get('192.0.2.10'), {
    Disable: false,
    KeepIdle: 70,
    KeepIntvl: 0,
    KeepCnt: 0,
  })
  assert.equal(t.products.get('p1')?.get('2001:db8::10')?.KeepIdle, 70)
  assert.equal(t.products.get('p1')?.get('192.0.2.11')?.Disable, true)
  assert.equal(t.products.get('p2')?.get('192.0.2.12')?.KeepIdle, 0)
  assert.equal(t.unapplied, false)
  const withIntvl = decode({
    Version: 'v',
    Config: { p: [{ VipConf: ['192.0.2.1'], KeepAliveParam: { KeepIntvl: 9 } }] },
  })
  assert.equal(withIntvl.unapplied, true)
})

test('negative or oversized values, bad or duplicate VIPs, empty Version are refused', () => {
  const one = (rule: unknown) => ({ Version: 'v', Config: { p: [rule] } })
  confError(
    () => decode(one({ VipConf: ['192.0.2.1'], KeepAliveParam: { KeepIdle: -1 } })),
    F,
    '/Config/p/0/KeepAliveParam/KeepIdle',
    /./,
  )
  confError(
    () => decode(one({ VipConf: ['192.0.2.1'], KeepAliveParam: { KeepCnt: 1000 } })),
    F,
    '/Config/p/0/KeepAliveParam/KeepCnt',
    /./,
  )
  confError(
    () => decode(one({ VipConf: ['192.0.2.1'], KeepAliveParam: { KeepIntvl: 'x' } })),
    F,
    '/Config/p/0/KeepAliveParam/KeepIntvl',
    /integer/,
  )
  confError(() => decode(one({ VipConf: ['vip'] })), F, '/Config/p/0/VipConf/0', /not an IP/)
  confError(
    () => decode(one({ VipConf: ['192.0.2.1', '::ffff:192.0.2.1'] })),
    F,
    '/Config/p/0/VipConf/1',
    /appears twice/,
  )
  confError(() => decode({ Version: '', Config: {} }), F, '/Version', /must not be empty/)
  confError(() => decode({ Version: 'v', Config: { '': [] } }), F, '/Config/', /product name/)
})
