import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseProtoSwitches } from './tls-policy.js'

test('enable= items: h2 and spdy switches in order, anything else ignored', () => {
  assert.deepEqual(parseProtoSwitches(''), { switches: [], ignored: [] })
  assert.deepEqual(parseProtoSwitches('-h2, +spdy,h2,,quic,-spdy,spdy'), {
    switches: [
      { proto: 'h2', on: false },
      { proto: 'spdy', on: true },
      { proto: 'h2', on: true },
      { proto: 'spdy', on: false },
      { proto: 'spdy', on: true },
    ],
    ignored: ['quic'],
  })
  assert.deepEqual(parseProtoSwitches('toString,__proto__').ignored, ['toString', '__proto__'])
})
