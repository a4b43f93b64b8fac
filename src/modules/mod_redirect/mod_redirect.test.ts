import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BfeRequest } from '../../basic/request.js'
import { Session } from '../../basic/session.js'
import { JsonNode } from '../../config/json-node.js'
import { decodeProductRules } from '../../module/rule-table.js'
import { compileRedirect, requestUri } from './actions.js'
import { redirectRules } from './index.js'

function req(uri: string, host = 'shop.test'): BfeRequest {
  return new BfeRequest(new Session({ remoteAddr: '10.0.0.1', remotePort: 1 }), {
    method: 'GET',
    rawUri: uri,
    proto: 'HTTP/1.1',
    headers: ['Host', host],
  })
}

describe('mod_redirect actions', () => {
  it('computes the URL of each command', () => {
    assert.equal(compileRedirect('URL_SET', 'https://x.test/')(req('/a')), 'https://x.test/')
    assert.equal(
      compileRedirect('URL_FROM_QUERY', 'to')(req('/a?to=http%3A%2F%2Fy.test%2F')),
      'http://y.test/',
    )
    assert.equal(compileRedirect('URL_FROM_QUERY', 'to')(req('/a')), '')
    assert.equal(
      compileRedirect('URL_PREFIX_ADD', 'http://z.test')(req('/a?b=1')),
      'http://z.test/a?b=1',
    )
    assert.equal(
      compileRedirect('SCHEME_SET', 'https')(req('/a?b=1', 'shop.test:8080')),
      'https://shop.test:8080/a?b=1',
    )
  })
  it('reads path and query of an absolute-form target', () => {
    assert.equal(requestUri(req('http://h.test/p?q=1')), '/p?q=1')
    assert.equal(requestUri(req('http://h.test')), '/')
    assert.equal(requestUri(req('http://h.test?q')), '/?q')
    assert.equal(
      compileRedirect('SCHEME_SET', 'https')(req('http://h.test:81/p', 'other')),
      'https://h.test:81/p',
    )
  })
})

describe('mod_redirect rule file', () => {
  const load = (rule: unknown) =>
    decodeProductRules(
      new JsonNode('redirect.data', '', { Version: 'v', Config: { p: [rule] } }),
      redirectRules,
    )
  const ok = {
    Cond: 'default_t()',
    Actions: [{ Cmd: 'SCHEME_SET', Params: ['HTTPS'] }],
    Status: 301,
  }

  it('loads a rule and lower-cases the scheme', () => {
    const r = load(ok).rules('p')[0]
    assert.equal(r?.Status, 301)
    assert.equal(r?.Actions[0]?.(req('/x')), 'https://shop.test/x')
  })
  it('refuses bad rules naming the field', () => {
    assert.throws(() => load({ ...ok, Status: undefined }), /\/Config\/p\/0\/Status is required/)
    assert.throws(() => load({ ...ok, Status: 0 }), /\/Config\/p\/0\/Status/)
    assert.throws(
      () => load({ ...ok, Actions: [{ Cmd: 'SCHEME_SET', Params: ['ftp'] }] }),
      /\/Config\/p\/0\/Actions\/0\/Params\/0 "ftp" is not a supported scheme/,
    )
    assert.throws(
      () => load({ ...ok, Actions: [{ Cmd: 'URL_SET', Params: ['a', 'b'] }] }),
      /\/Actions\/0\/Params must have exactly 1 item, got 2/,
    )
    assert.throws(
      () => load({ ...ok, Actions: [ok.Actions[0], ok.Actions[0]] }),
      /\/Config\/p\/0\/Actions must have exactly 1 item/,
    )
    assert.throws(
      () => load({ ...ok, Actions: [{ Cmd: 'url_set', Params: ['a'] }] }),
      /Cmd "url_set" is not one of/,
    )
  })
})
