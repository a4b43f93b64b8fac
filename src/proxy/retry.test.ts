import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ErrCode } from '../basic/error-code.js'
import { retryAllowed } from './retry.js'

const connect = { code: ErrCode.ConnectBackend, msg: '', backendFault: true }
const read = { code: ErrCode.ReadRespHeader, msg: '', backendFault: true }
const base = { retryLevel: 0, method: 'GET', hasBody: false, bodyStarted: false }

test('connect failures are retried at every RetryLevel', () => {
  assert.equal(retryAllowed(connect, base), true)
  assert.equal(retryAllowed(connect, { ...base, method: 'POST', hasBody: true }), true)
})

test('other failures only at RetryLevel 1, for a GET without body', () => {
  assert.equal(retryAllowed(read, base), false)
  assert.equal(retryAllowed(read, { ...base, retryLevel: 1 }), true)
  assert.equal(retryAllowed(read, { ...base, retryLevel: 1, method: 'POST' }), false)
  assert.equal(retryAllowed(read, { ...base, retryLevel: 1, hasBody: true }), false)
})

test('a body that started to flow is never replayed', () => {
  const facts = { ...base, method: 'POST', hasBody: true, bodyStarted: true }
  assert.equal(retryAllowed(connect, facts), false)
})
