import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BfeRequest } from '../../basic/request.js'
import { Session } from '../../basic/session.js'
import { authRequestHeaders, parseAuthAddress } from './index.js'

function req(method: string, uri: string, headers: string[]): BfeRequest {
  const ses = new Session({ remoteAddr: '127.0.0.1', remotePort: 1234 })
  return new BfeRequest(ses, { method, rawUri: uri, proto: 'HTTP/1.1', headers })
}

test('subrequest headers: hop-by-hop and Content-Length dropped, Host replaced, X-Forwarded-*', () => {
  const r = req('POST', '/api/items?id=7', [
    'Host',
    'shop.test',
    'Connection',
    'keep-alive',
    'Keep-Alive',
    'timeout=5',
    'Transfer-Encoding',
    'chunked',
    'Content-Length',
    '12',
    'Proxy-Authorization',
    'Basic eA==',
    'Upgrade',
    'h2c',
    'Authorization',
    'Bearer t0k',
    'Cookie',
    'sid=1',
  ])
  const h = authRequestHeaders(r, 'auth.test:9000')
  assert.deepEqual(h, [
    'Host',
    'auth.test:9000',
    'Authorization',
    'Bearer t0k',
    'Cookie',
    'sid=1',
    'X-Forwarded-Method',
    'POST',
    'X-Forwarded-Uri',
    '/api/items?id=7',
  ])
})

test('X-Forwarded-Method and -Uri sent by the client are kept; absolute-form targets shortened', () => {
  const kept = authRequestHeaders(
    req('GET', '/x', ['x-forwarded-method', 'PUT', 'X-Forwarded-Uri', '/orig?q=1']),
    'a',
  )
  assert.deepEqual(kept.slice(-4), ['X-Forwarded-Method', 'PUT', 'X-Forwarded-Uri', '/orig?q=1'])
  const abs = authRequestHeaders(req('GET', 'http://shop.test/p/q?z', ['Host', 'shop.test']), 'a')
  assert.deepEqual(abs.slice(-2), ['X-Forwarded-Uri', '/p/q?z'])
})

test('AuthAddress must be an absolute http(s) URL', () => {
  assert.equal(parseAuthAddress('m.conf', 'http://0.0.0.0').origin, 'http://0.0.0.0')
  assert.equal(parseAuthAddress('m.conf', 'https://a.test:8443/check?x=1').search, '?x=1')
  assert.throws(() => parseAuthAddress('m.conf', ''), /m\.conf: \[Basic\] AuthAddress is required/)
  assert.throws(() => parseAuthAddress('m.conf', 'auth.test'), /not an absolute URL/)
  assert.throws(() => parseAuthAddress('m.conf', 'ftp://a.test'), /must be an http or https URL/)
})
