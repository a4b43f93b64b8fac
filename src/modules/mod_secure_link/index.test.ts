import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { BfeRequest } from '../../basic/request.js'
import { Session } from '../../basic/session.js'
import { loadProductRules } from '../../module/rule-table.js'
import { checksumOf, type SecureLinkRule, secureLinkRules, signedUri, verify } from './index.js'

function req(uri: string, headers: string[] = [], addr = '10.1.2.3'): BfeRequest {
  const ses = new Session({ remoteAddr: addr, remotePort: 5555 })
  return new BfeRequest(ses, {
    method: 'GET',
    rawUri: uri,
    proto: 'HTTP/1.1',
    headers: ['Host', 'dl.test', ...headers],
  })
}

function rules(nodes: unknown[], extra: Record<string, unknown> = {}): SecureLinkRule {
  const dir = mkdtempSync(join(tmpdir(), 'securelink-'))
  const f = join(dir, 'secure_link.data')
  writeFileSync(
    f,
    JSON.stringify({
      Version: '1',
      Config: { p: [{ Cond: 'default_t()', ExpressionNodes: nodes, ...extra }] },
    }),
  )
  return loadProductRules(f, secureLinkRules).rules('p')[0] as SecureLinkRule
}

test('checksum: base64url without padding of MD5', () => {
  const want = createHash('md5')
    .update('abc')
    .digest('base64')
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
  assert.equal(checksumOf('abc'), want)
})

test('uri node: path plus query without the checksum parameter (D11)', () => {
  assert.equal(signedUri('/f/a.zip', 'md5'), '/f/a.zip')
  assert.equal(signedUri('/f/a.zip?md5=xx', 'md5'), '/f/a.zip')
  assert.equal(signedUri('/f/a.zip?e=10&md5=xx&b=%20', 'md5'), '/f/a.zip?e=10&b=%20')
  assert.equal(signedUri('/f?m%64%35=xx&k', 'md5'), '/f?k')
})

test('verify: every outcome, with nodes of each type', () => {
  const r = rules(
    [
      { Type: 'label', Param: 'secret-' },
      { Type: 'QUERY', Param: 'e' },
      { Type: 'header', Param: 'x-user' },
      { Type: 'host' },
      { Type: 'uri' },
      { Type: 'remote_addr' },
    ],
    { ChecksumKey: 'sig', ExpiresKey: 'e' },
  )
  const now = 1_800_000_000
  const text = `secret-${now + 60}alicedl.test/f/a?e=${now + 60}10.1.2.3:5555`
  const sig = checksumOf(text)
  const ok = req(`/f/a?e=${now + 60}&sig=${sig}`, ['X-User', 'alice'])
  assert.equal(verify(r, ok, now), 'REQ_ACCEPT')
  assert.equal(
    verify(r, req(`/f/a?e=${now + 60}&sig=${sig}`, ['X-User', 'bob']), now),
    'REQ_INVALID_CHECKSUM',
  )
  assert.equal(verify(r, req(`/f/a?sig=${sig}`), now), 'REQ_WITHOUT_EXPIRES_KEY')
  assert.equal(verify(r, req(`/f/a?e=soon&sig=${sig}`), now), 'REQ_INVALID_EXPIRES_VALUE')
  assert.equal(verify(r, req(`/f/a?e=${now - 1}&sig=${sig}`), now), 'REQ_EXPIRED')
  assert.equal(verify(r, req(`/f/a?e=${now + 60}`), now), 'REQ_WITHOUT_CHECKSUM_KEY')
  // IPv6 peers are written in brackets
  const v6 = rules([{ Type: 'remote_addr' }])
  const r6 = req(`/x?md5=${checksumOf('[::1]:5555')}`, [], '::1')
  assert.equal(verify(v6, r6, now), 'REQ_ACCEPT')
})

test('secure_link.data checks: node type, empty ChecksumKey, missing nodes', () => {
  assert.equal(rules([]).ChecksumKey, 'md5')
  assert.throws(
    () => rules([{ Type: 'cookie', Param: 'x' }]),
    /ExpressionNodes\/0\/Type.*"cookie" is not one of/,
  )
  assert.throws(() => rules([], { ChecksumKey: '' }), /\/ChecksumKey.*must not be empty/)
  assert.throws(() => rules(undefined as unknown as unknown[]), /\/ExpressionNodes.*required/)
})
