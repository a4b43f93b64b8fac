import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BfeRequest } from '../../basic/request.js'
import { Session } from '../../basic/session.js'
import { setTrustedClientAddr } from './client-ip.js'

function req(headers: string[]): BfeRequest {
  const ses = new Session({ remoteAddr: '10.0.0.1', remotePort: 4000 })
  return new BfeRequest(ses, { method: 'GET', rawUri: '/', proto: 'HTTP/1.1', headers })
}
function addr(headers: string[]): [string | undefined, number] {
  const r = req(headers)
  setTrustedClientAddr(r)
  return [r.clientAddr, r.clientPort]
}

test('X-Real-Ip and X-Real-Port win', () => {
  assert.deepEqual(
    addr([
      'X-Real-Ip',
      '203.0.113.9',
      'X-Real-Port',
      '5555',
      'X-Forwarded-For',
      '198.51.100.1',
      'X-Forwarded-Port',
      '80',
    ]),
    ['203.0.113.9', 5555],
  )
})

test('without X-Real-Ip: the first item of X-Forwarded-For and X-Forwarded-Port, trimmed', () => {
  assert.deepEqual(
    addr(['x-forwarded-for', ' 198.51.100.1 , 10.1.1.1', 'x-forwarded-port', ' 8443, 80']),
    ['198.51.100.1', 8443],
  )
  // X-Real-Port without X-Real-Ip is not used
  assert.deepEqual(addr(['X-Real-Port', '1', 'X-Forwarded-For', '2001:DB8::1']), ['2001:db8::1', 0])
})

test('an address that does not parse leaves the client address unknown; a bad port is 0', () => {
  assert.deepEqual(addr(['X-Real-Ip', 'example.com']), [undefined, 0])
  assert.deepEqual(addr(['X-Real-Ip', ' 203.0.113.9']), [undefined, 0])
  assert.deepEqual(addr(['X-Real-Ip', '203.0.113']), [undefined, 0])
  assert.deepEqual(addr(['X-Real-Ip', 'fe80::1%eth0']), [undefined, 0])
  assert.deepEqual(addr(['X-Real-Ip', '::ffff:203.0.113.9', 'X-Real-Port', 'x']), [
    '203.0.113.9',
    0,
  ])
  // no header at all: unknown as well
  assert.deepEqual(addr([]), [undefined, 0])
})
