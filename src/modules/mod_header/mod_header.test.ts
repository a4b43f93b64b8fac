import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HeaderList } from '../../basic/header-list.js'
import { BfeRequest } from '../../basic/request.js'
import { Session } from '../../basic/session.js'
import { JsonNode } from '../../config/json-node.js'
import { decodeProductRules } from '../../module/rule-table.js'
import {
  addQuery,
  canonicalHeaderKey,
  reqCookieDel,
  reqCookieSet,
  rspCookieDel,
  rspCookieSet,
  setScheme,
} from './actions.js'
import { headerRules, setDefaultHeaders, splitRules } from './index.js'
import { compileValue, GEO_KEYS, headerValue } from './variables.js'

function req(headers: string[] = ['Host', 'a.test'], uri = '/'): BfeRequest {
  const ses = new Session({ remoteAddr: '10.0.0.1', remotePort: 4000, localAddr: '10.9.9.9' })
  return new BfeRequest(ses, { method: 'GET', rawUri: uri, proto: 'HTTP/1.1', headers })
}

const load = (config: unknown) =>
  decodeProductRules(
    new JsonNode('header_rule.data', '', { Version: 'v', Config: config }),
    headerRules,
  )

describe('mod_header values', () => {
  it('expands variables, %% and literal text', () => {
    const r = req()
    r.clusterName = 'c1'
    const v = compileValue('%bfe_client_ip:%bfe_client_port 100%% %bfe_cluster')
    assert.equal(typeof v === 'object' ? 'error' : headerValue(v, r), '10.0.0.1:4000 100% c1')
    assert.equal(compileValue('plain'), 'plain')
    assert.equal(compileValue('a%%b'), 'a%b')
  })
  it('reports unknown variables and a lone %', () => {
    assert.deepEqual(compileValue('%nope'), { error: 'uses unknown variable %nope' })
    assert.match((compileValue('100%') as { error: string }).error, /no variable name/)
  })
  it('gives BFE defaults for what is unknown and reads mod_geo context keys', () => {
    const r = req()
    const val = (s: string) => {
      const v = compileValue(s)
      return typeof v === 'object' ? v.error : headerValue(v, r)
    }
    assert.equal(val('%bfe_vip|%bfe_bip|%bfe_rip'), 'unknown|unknown|10.9.9.9')
    assert.equal(val('[%bfe_ssl_cipher][%client_cert_subject_common_name]'), '[][]')
    assert.equal(val('%bfe_client_geo_country_iso_code'), '')
    r.context.set(GEO_KEYS.country, 'NZ')
    r.context.set(GEO_KEYS.latitude, -41.3)
    assert.equal(val('%bfe_client_geo_country_iso_code %bfe_client_geo_latitude'), 'NZ -41.3')
    assert.equal(val('%bfe_protocol'), 'HTTP/1.1')
  })
})

describe('mod_header helpers', () => {
  it('canonicalises header names as Go does', () => {
    assert.equal(canonicalHeaderKey('x-bfe-ip'), 'X-Bfe-Ip')
    assert.equal(canonicalHeaderKey('CONTENT-type'), 'Content-Type')
    assert.equal(canonicalHeaderKey('bad name'), 'bad name')
  })
  it('changes the scheme of http(s) URLs only and appends query pairs', () => {
    assert.equal(setScheme('http://a.test/x', 'https'), 'https://a.test/x')
    assert.equal(setScheme('/relative', 'https'), '/relative')
    assert.equal(addQuery('http://a.test/x', 'k=v'), 'http://a.test/x?k=v')
    assert.equal(addQuery('http://a.test/x?a=1#f', 'k=v'), 'http://a.test/x?a=1&k=v#f')
    assert.equal(addQuery('http://a.test/x?', 'k=v'), 'http://a.test/x?k=v')
  })
  it('sets and deletes request cookies', () => {
    const h = new HeaderList(['Cookie', 'a=1; b=2', 'Cookie', 'c=3'])
    reqCookieSet(h, 'b', 'x')
    assert.deepEqual(h.getAll('cookie'), ['a=1; b=x; c=3'])
    reqCookieSet(h, 'd', '4')
    assert.deepEqual(h.getAll('cookie'), ['a=1; b=x; c=3; d=4'])
    reqCookieDel(h, 'a')
    assert.deepEqual(h.getAll('cookie'), ['b=x; c=3; d=4'])
    const empty = new HeaderList()
    reqCookieSet(empty, 'n', 'v')
    assert.equal(empty.get('cookie'), 'n=v')
  })
  it('sets and deletes response cookies by name, domain and path', () => {
    const h = new HeaderList(['Set-Cookie', 'a=1; Path=/; Domain=x.test', 'Set-Cookie', 'b=2'])
    rspCookieSet(h, 'c', 'x.test', '/', 'c=3; Path=/; Domain=x.test')
    assert.equal(h.getAll('set-cookie').length, 3)
    rspCookieSet(h, 'a', 'x.test', '/', 'a=9; Path=/; Domain=x.test')
    assert.deepEqual(h.getAll('set-cookie'), [
      'a=9; Path=/; Domain=x.test',
      'b=2',
      'c=3; Path=/; Domain=x.test',
    ])
    rspCookieDel(h, 'b', 'other', '/')
    assert.equal(h.getAll('set-cookie').length, 3)
    rspCookieDel(h, 'a', 'x.test', '/')
    assert.deepEqual(h.getAll('set-cookie'), ['b=2', 'c=3; Path=/; Domain=x.test'])
  })
})

describe('mod_header default headers', () => {
  it('appends forwarding headers and sets the real address and BFE address', () => {
    const r = req(['Host', 'a.test', 'X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2'])
    setDefaultHeaders(r)
    assert.equal(r.headers.get('x-forwarded-for'), '1.1.1.1, 2.2.2.2, 10.0.0.1')
    assert.equal(r.headers.getAll('x-forwarded-for').length, 1)
    assert.equal(r.headers.get('x-forwarded-port'), '4000')
    assert.equal(r.headers.get('x-forwarded-host'), 'a.test')
    assert.equal(r.headers.get('x-real-ip'), '10.0.0.1')
    assert.equal(r.headers.get('x-real-port'), '4000')
    assert.equal(r.headers.get('x-bfe-ip'), '10.9.9.9')
  })
  it('makes the connection fields once per session, as a run the backend writer copies', () => {
    // as the engine makes it: every field from the parser, so known valid
    const r = req()
    r.headers.checked = r.headers.raw.length
    setDefaultHeaders(r)
    const run = r.headers.run
    assert.ok(run !== undefined)
    assert.deepEqual(run.fields, [
      'X-Forwarded-For',
      '10.0.0.1',
      'X-Forwarded-Port',
      '4000',
      'X-Real-Ip',
      '10.0.0.1',
      'X-Real-Port',
      '4000',
      'X-Bfe-Ip',
      '10.9.9.9',
    ])
    assert.equal(run.at(r.headers.raw, 4), true)
    // every field is known valid: the writer checks none of them
    assert.equal(r.headers.checked, r.headers.raw.length)
    // the next request of the connection reuses it
    const next = new BfeRequest(r.session, {
      method: 'GET',
      rawUri: '/',
      proto: 'HTTP/1.1',
      headers: ['Host', 'b.test'],
    })
    setDefaultHeaders(next)
    assert.equal(next.headers.run, run)
    assert.equal(next.headers.get('x-forwarded-host'), 'b.test')
    // a request with another (trusted) client address gets its own fields
    const other = new BfeRequest(r.session, {
      method: 'GET',
      rawUri: '/',
      proto: 'HTTP/1.1',
      headers: ['Host', 'b.test'],
    })
    other.clientAddr = '192.0.2.7'
    other.clientPort = 5555
    setDefaultHeaders(other)
    assert.notEqual(other.headers.run, run)
    assert.equal(other.headers.get('x-real-ip'), '192.0.2.7')
    assert.equal(other.headers.get('x-real-port'), '5555')
    assert.equal(other.headers.get('x-forwarded-for'), '10.0.0.1')
  })
  it('skips X-Forwarded-Host without Host and the real address when unknown', () => {
    const r = req([])
    r.clientAddr = undefined
    setDefaultHeaders(r)
    assert.equal(r.headers.get('x-forwarded-host'), undefined)
    assert.equal(r.headers.get('x-real-ip'), undefined)
  })
})

describe('mod_header rule file', () => {
  it('splits actions by stage and keeps Last per stage', () => {
    const t = load({
      p: [
        {
          Cond: 'default_t()',
          Actions: [
            { Cmd: 'REQ_HEADER_SET', Params: ['x-a', '1'] },
            { Cmd: 'RSP_HEADER_SET', Params: ['x-b', '2'] },
          ],
          Last: false,
        },
        {
          Cond: 'default_t()',
          Actions: [{ Cmd: 'RSP_HEADER_ADD', Params: ['x-b', '3'] }],
          Last: true,
        },
        {
          Cond: 'default_t()',
          Actions: [{ Cmd: 'REQ_HEADER_ADD', Params: ['x-a', '4'] }],
          Last: false,
        },
      ],
    })
    const split = splitRules(t.rules('p'))
    assert.equal(split.req.length, 2)
    assert.equal(split.rsp.length, 2)
    assert.equal(split.rsp[1]?.last, true)
  })
  it('refuses what BFE refuses, naming the field', () => {
    const rule = (a: unknown, extra: object = { Last: true }) => ({
      p: [{ Cond: 'default_t()', Actions: [a], ...extra }],
    })
    assert.throws(
      () => load(rule({ Cmd: 'REQ_HEADER_SET', Params: ['x'] })),
      /\/Config\/p\/0\/Actions\/0\/Params of REQ_HEADER_SET must have 2 items, got 1/,
    )
    assert.throws(
      () => load(rule({ Cmd: 'REQ_HEADER_SET', Params: ['x', '%nope'] })),
      /\/Actions\/0\/Params\/1 uses unknown variable %nope/,
    )
    assert.throws(
      () => load(rule({ Cmd: 'REQ_HEADER_SET', Params: ['x', 'y'] }, {})),
      /\/Config\/p\/0\/Last is required/,
    )
    assert.throws(
      () => load(rule({ Cmd: 'HEADER_SET', Params: ['x', 'y'] })),
      /Cmd "HEADER_SET" is not one of/,
    )
    assert.throws(
      () => load(rule({ Cmd: 'REQ_HEADER_MOD', Params: ['scheme_set', 'Host', 'http'] })),
      /Params\/1 "Host": scheme_set works on Referer or Location only/,
    )
    assert.throws(
      () => load(rule({ Cmd: 'RSP_HEADER_MOD', Params: ['query_add', 'location', 'k'] })),
      /query_add must have 4 items/,
    )
    assert.throws(
      () =>
        load(
          rule({
            Cmd: 'RSP_COOKIE_SET',
            Params: ['n', 'v', 'd', '/', 'tomorrow', '1', 'true', 'false'],
          }),
        ),
      /Params\/4 expires must be an RFC 1123 date/,
    )
    assert.throws(
      () =>
        load(
          rule({
            Cmd: 'RSP_COOKIE_SET',
            Params: ['n', 'v', 'd', '/', 'Mon, 02 Jan 2006 15:04:05 GMT', 'x', 'true', 'false'],
          }),
        ),
      /Params\/5 max-age must be an integer/,
    )
    assert.throws(
      () =>
        load(
          rule({
            Cmd: 'RSP_COOKIE_SET',
            Params: ['n', 'v', 'd', '/', 'Mon, 02 Jan 2006 15:04:05 GMT', '1', 'yes', 'false'],
          }),
        ),
      /Params\/6 httpOnly must be a boolean/,
    )
    assert.throws(
      () => load(rule({ Cmd: 'REQ_HEADER_DEL', Params: [''] })),
      /Params\/0 must not be empty/,
    )
  })
  it('builds RSP_COOKIE_SET cookies as Go writes them', () => {
    const t = load({
      p: [
        {
          Cond: 'default_t()',
          Actions: [
            {
              Cmd: 'RSP_COOKIE_SET',
              Params: [
                'sid',
                'a b',
                '.x.test',
                '/',
                'Mon, 02 Jan 2006 15:04:05 GMT',
                '60',
                'true',
                'true',
              ],
            },
          ],
          Last: true,
        },
      ],
    })
    const h = new HeaderList()
    t.rules('p')[0]?.Actions[0]?.run(req(), h)
    assert.equal(
      h.get('set-cookie'),
      'sid="a b"; Path=/; Domain=x.test; Expires=Mon, 02 Jan 2006 15:04:05 GMT; Max-Age=60; HttpOnly; Secure',
    )
  })
})
