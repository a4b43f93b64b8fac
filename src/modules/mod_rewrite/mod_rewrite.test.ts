import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BfeRequest } from '../../basic/request.js'
import { Session } from '../../basic/session.js'
import { JsonNode } from '../../config/json-node.js'
import { decodeProductRules } from '../../module/rule-table.js'
import { compileRewrite } from './actions.js'
import { rewriteRules } from './index.js'

function req(uri: string, host = 'a.test'): BfeRequest {
  return new BfeRequest(new Session({ remoteAddr: '10.0.0.1', remotePort: 1 }), {
    method: 'GET',
    rawUri: uri,
    proto: 'HTTP/1.1',
    headers: ['Host', host],
  })
}

function run(cmd: string, params: string[], uri: string, host?: string): BfeRequest {
  const r = req(uri, host)
  compileRewrite(cmd, params)(r)
  return r
}

describe('mod_rewrite actions', () => {
  it('PATH_PREFIX_ADD strips one leading slash and prepends (BFE docs: /service → /v1/service)', () => {
    assert.equal(run('PATH_PREFIX_ADD', ['/v1/'], '/service').uri, '/v1/service')
    assert.equal(run('PATH_PREFIX_ADD', ['/bfe/'], '/rewrite?a=1').uri, '/bfe/rewrite?a=1')
    assert.equal(run('PATH_PREFIX_ADD', ['v1'], '/x').uri, '/v1x')
  })
  it('PATH_PREFIX_TRIM, PATH_SET and re-encoding of the path', () => {
    assert.equal(run('PATH_PREFIX_TRIM', ['/api'], '/api/x').uri, '/x')
    assert.equal(run('PATH_PREFIX_TRIM', ['/api/'], '/api/x').uri, '/x')
    assert.equal(run('PATH_PREFIX_TRIM', ['/none'], '/api/x').uri, '/api/x')
    assert.equal(run('PATH_SET', ['/a b'], '/old?q=1').uri, '/a%20b?q=1')
  })
  it('an untouched request keeps its raw request-target', () => {
    const r = run('QUERY_DEL', ['absent'], '/a%2Fb?x=1')
    assert.equal(r.uri, '/a%2Fb?x=1')
    // A query change keeps the client's path encoding.
    assert.equal(run('QUERY_ADD', ['k', 'v'], '/a%2Fb?x=1').uri, '/a%2Fb?x=1&k=v')
    assert.equal(run('QUERY_DEL', ['x'], '/a%2Fb?x=1').uri, '/a%2Fb')
  })
  it('HOST_SET, HOST_SET_FROM_PATH_PREFIX, HOST_SUFFIX_REPLACE', () => {
    assert.equal(run('HOST_SET', ['b.test'], '/').host, 'b.test')
    const r = run('HOST_SET_FROM_PATH_PREFIX', [], '/h.test/rest/x')
    assert.equal(r.host, 'h.test')
    assert.equal(r.uri, '/rest/x')
    const same = run('HOST_SET_FROM_PATH_PREFIX', [], '/only')
    assert.equal(same.host, 'a.test')
    assert.equal(same.uri, '/only')
    assert.equal(run('HOST_SUFFIX_REPLACE', ['.test', '.example'], '/', 'x.test').host, 'x.example')
    assert.equal(run('HOST_SUFFIX_REPLACE', ['.org', '.example'], '/', 'x.test').host, 'x.test')
  })
  it('query actions work on the raw query', () => {
    assert.equal(run('QUERY_ADD', ['k', 'v'], '/p').uri, '/p?k=v')
    assert.equal(run('QUERY_ADD', ['k', 'v'], '/p?a=1').uri, '/p?a=1&k=v')
    assert.equal(run('QUERY_RENAME', ['a', 'b'], '/p?a=1&c=2&a=3').uri, '/p?b=1&c=2&b=3')
    assert.equal(run('QUERY_RENAME', ['z', 'b'], '/p?a=1').uri, '/p?a=1')
    assert.equal(run('QUERY_DEL', ['a', 'c'], '/p?a=1&b=2&c=3&a=4').uri, '/p?b=2')
    assert.equal(run('QUERY_DEL', ['a'], '/p?a=1').uri, '/p')
    assert.equal(run('QUERY_DEL_ALL_EXCEPT', ['b'], '/p?a=1&b=2&c=3').uri, '/p?b=2')
  })
})

describe('mod_rewrite rule file', () => {
  const load = (config: unknown) =>
    decodeProductRules(
      new JsonNode('rewrite.data', '', { Version: 'v', Config: config }),
      rewriteRules,
    )

  it('upper-cases Cmd and compiles actions', () => {
    const t = load({
      p: [{ Cond: 'default_t()', Actions: [{ Cmd: 'path_set', Params: ['/x'] }], Last: true }],
    })
    const r = req('/a')
    for (const a of t.rules('p')[0]?.Actions ?? []) a(r)
    assert.equal(r.uri, '/x')
  })
  it('refuses unknown commands, wrong parameter counts, empty params and a missing Last', () => {
    assert.throws(
      () =>
        load({ p: [{ Cond: 'default_t()', Actions: [{ Cmd: 'NOPE', Params: [] }], Last: true }] }),
      /rewrite\.data: \/Config\/p\/0\/Actions\/0\/Cmd "NOPE" is not one of/,
    )
    assert.throws(
      () =>
        load({
          p: [{ Cond: 'default_t()', Actions: [{ Cmd: 'PATH_SET', Params: [] }], Last: true }],
        }),
      /\/Config\/p\/0\/Actions\/0\/Params of PATH_SET must have 1 item, got 0/,
    )
    assert.throws(
      () =>
        load({
          p: [{ Cond: 'default_t()', Actions: [{ Cmd: 'QUERY_DEL', Params: [''] }], Last: true }],
        }),
      /\/Config\/p\/0\/Actions\/0\/Params\/0 must not be empty/,
    )
    assert.throws(
      () => load({ p: [{ Cond: 'default_t()', Actions: [{ Cmd: 'PATH_SET', Params: ['/'] }] }] }),
      /\/Config\/p\/0\/Last is required/,
    )
    assert.throws(
      () =>
        load({
          p: [{ Cond: 'req_host_in(', Actions: [{ Cmd: 'PATH_SET', Params: ['/'] }], Last: true }],
        }),
      /\/Config\/p\/0\/Cond/,
    )
  })
})
