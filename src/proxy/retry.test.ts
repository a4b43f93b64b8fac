import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ErrCode } from '../basic/error-code.js'
import { retryAllowed } from './retry.js'

const connect = {
  code: ErrCode.ConnectBackend,
  msg: '',
  backendFault: true,
  connectionClosed: false,
}
const read = { code: ErrCode.ReadRespHeader, msg: '', backendFault: false, connectionClosed: true }
const base = {
  retryLevel: 0,
  method: 'GET',
  hasBody: false,
  bodyStarted: false,
  reusedNoResponse: false,
}

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

test('a reused connection closed before any response byte: idempotent requests retry at RetryLevel 0', () => {
  const race = { ...base, reusedNoResponse: true }
  assert.equal(retryAllowed(read, race), true)
  assert.equal(retryAllowed(read, { ...race, method: 'DELETE' }), true)
  assert.equal(retryAllowed(read, { ...race, method: 'POST' }), false)
  assert.equal(retryAllowed(read, { ...race, method: 'PUT', hasBody: true }), false)
  // a malformed answer is no connection close
  assert.equal(retryAllowed({ ...read, connectionClosed: false }, race), false)
})
