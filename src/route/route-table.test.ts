import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BfeRequest } from '../basic/request.js'
import { Session } from '../basic/session.js'
import { parseRouteRule } from '../config/route-rule.js'
import { compileRouteRule } from './route-rule.js'
import { ERR_NO_MATCH_RULE, ERR_NO_PRODUCT_RULE, RouteTable } from './route-table.js'

function req(host: string, uri: string): BfeRequest {
  const ses = new Session({ remoteAddr: '127.0.0.1', remotePort: 1234 })
  return new BfeRequest(ses, {
    method: 'GET',
    rawUri: uri,
    proto: 'HTTP/1.1',
    headers: ['Host', host],
  })
}

function table(o: object): RouteTable {
  const text = JSON.stringify({ Version: 'v', ...o })
  return new RouteTable(
    compileRouteRule('route_rule.data', parseRouteRule('route_rule.data', text)),
  )
}

type Rule = { Hostname?: string[]; Path?: string[]; ClusterName: string }
const basic = (rules: Rule[]) => table({ BasicRule: { p: rules } })

describe('route table: basic rules', () => {
  it('matches exact paths before prefixes, longest prefix first', () => {
    const t = basic([
      { Hostname: ['a.test'], Path: ['/a/b'], ClusterName: 'exact' },
      { Hostname: ['a.test'], Path: ['/a/b*'], ClusterName: 'ab' },
      { Hostname: ['a.test'], Path: ['/a/*'], ClusterName: 'a' },
      { Hostname: ['a.test'], Path: ['/*'], ClusterName: 'root' },
    ])
    const c = (uri: string) => t.lookup('p', req('a.test', uri))
    assert.equal(c('/a/b'), 'exact')
    assert.equal(c('/a/b/'), 'ab')
    assert.equal(c('/a/b/c/d'), 'ab')
    assert.equal(c('/a/bacon'), 'a')
    assert.equal(c('/a'), 'a')
    assert.equal(c('/a/'), 'a')
    assert.equal(c('/ab'), 'root')
    assert.equal(c('/'), 'root')
    assert.equal(c('/x?q=1'), 'root')
  })

  it('stores /foo* and /foo/* alike; /* does not match the empty path, * does', () => {
    const t = basic([{ Hostname: ['a.test'], Path: ['/foo*'], ClusterName: 'foo' }])
    assert.equal(t.lookup('p', req('a.test', '/foo')), 'foo')
    assert.equal(t.lookup('p', req('a.test', '/foo/x')), 'foo')
    assert.equal(t.lookup('p', req('a.test', '/foobar')), ERR_NO_PRODUCT_RULE)
    const root = basic([{ Hostname: ['a.test'], Path: ['/*'], ClusterName: 'root' }])
    assert.equal(root.lookup('p', req('a.test', 'http://a.test')), 'root') // absolute-form → '/'
    const any = basic([{ Hostname: ['a.test'], Path: ['*'], ClusterName: 'any' }])
    assert.equal(any.lookup('p', req('a.test', '/x/y')), 'any')
    assert.equal(any.lookup('p', req('a.test', '*')), 'any')
  })

  it('matches the decoded path', () => {
    const t = basic([{ Hostname: ['a.test'], Path: ['/a b/*'], ClusterName: 'sp' }])
    assert.equal(t.lookup('p', req('a.test', '/a%20b/c')), 'sp')
  })

  it('chooses host buckets: exact, longest wildcard over one label, catch-all *', () => {
    const t = basic([
      { Hostname: ['www.a.test'], Path: ['/*'], ClusterName: 'www' },
      { Hostname: ['*.a.test'], Path: ['/*'], ClusterName: 'wild' },
      { Hostname: ['*.x.a.test'], Path: ['/*'], ClusterName: 'wildx' },
      { Hostname: ['*'], Path: ['/*'], ClusterName: 'any' },
    ])
    const c = (host: string) => t.lookup('p', req(host, '/'))
    assert.equal(c('WWW.A.TEST:8080'), 'www')
    assert.equal(c('www.a.test.'), 'www')
    assert.equal(c('m.a.test'), 'wild')
    assert.equal(c('y.x.a.test'), 'wildx')
    // two labels before the longest wildcard: only the catch-all, never *.a.test
    assert.equal(c('z.y.x.a.test'), 'any')
    assert.equal(c('p.q.a.test'), 'any')
    assert.equal(c('a.test'), 'any')
    assert.equal(c('other.example'), 'any')
    assert.equal(c(''), 'any')
  })

  it('does not fall back to a less specific host bucket when the path misses', () => {
    const t = basic([
      { Hostname: ['a.test'], Path: ['/only/*'], ClusterName: 'only' },
      { Hostname: ['*.test'], Path: ['/*'], ClusterName: 'wild' },
      { Hostname: ['*'], Path: ['/*'], ClusterName: 'any' },
    ])
    assert.equal(t.lookup('p', req('a.test', '/only/x')), 'only')
    assert.equal(t.lookup('p', req('a.test', '/other')), ERR_NO_PRODUCT_RULE)
    // without a catch-all, a host deeper than the wildcard matches nothing
    const w = basic([{ Hostname: ['*.test'], Path: ['/*'], ClusterName: 'wild' }])
    assert.equal(w.lookup('p', req('a.b.test', '/')), ERR_NO_PRODUCT_RULE)
  })

  it('treats an omitted Hostname or Path as *', () => {
    const t = basic([
      { Path: ['/x/*'], ClusterName: 'x' },
      { Hostname: ['a.test'], ClusterName: 'a' },
    ])
    assert.equal(t.lookup('p', req('any.host', '/x/1')), 'x')
    assert.equal(t.lookup('p', req('a.test', '/whatever')), 'a')
    assert.equal(t.lookup('p', req('a.test', '/x/1')), 'a') // host bucket a.test wins
  })

  it('reports BK_FIND_LOCATION errors', () => {
    const t = basic([{ Hostname: ['a.test'], Path: ['/x'], ClusterName: 'x' }])
    assert.deepEqual(t.lookup('nope', req('a.test', '/x')), {
      code: 'BK_FIND_LOCATION',
      msg: 'no route rule found for product',
    })
    // basic miss and no advanced rules for the product
    assert.equal(t.lookup('p', req('a.test', '/y')), ERR_NO_PRODUCT_RULE)
    const adv = table({
      BasicRule: { p: [{ Hostname: ['a.test'], ClusterName: 'ADVANCED_MODE' }] },
    })
    assert.equal(adv.lookup('p', req('a.test', '/')), ERR_NO_PRODUCT_RULE)
  })
})

describe('route table: advanced rules (needs the condition compiler)', () => {
  it('falls through ADVANCED_MODE and basic misses to advanced rules in order', () => {
    const t = table({
      BasicRule: {
        shop: [
          { Hostname: ['shop.test'], Path: ['/img/*'], ClusterName: 'img' },
          { Hostname: ['*.shop.test'], Path: ['*'], ClusterName: 'ADVANCED_MODE' },
        ],
      },
      ProductRule: {
        shop: [
          { Cond: 'req_host_in("m.shop.test")', ClusterName: 'mobile' },
          { Cond: 'req_path_prefix_in("/api", false)', ClusterName: 'api' },
          { Cond: 'default_t()', ClusterName: 'web' },
        ],
        empty: [],
      },
    })
    assert.equal(t.lookup('shop', req('shop.test', '/img/a.png')), 'img')
    assert.equal(t.lookup('shop', req('m.shop.test', '/img/a.png')), 'mobile')
    assert.equal(t.lookup('shop', req('x.shop.test', '/api/v1')), 'api')
    assert.equal(t.lookup('shop', req('x.shop.test', '/')), 'web')
    assert.equal(t.lookup('shop', req('shop.test', '/other')), 'web') // basic miss
    assert.equal(t.lookup('empty', req('shop.test', '/')), ERR_NO_MATCH_RULE)
  })

  it('reports no rule match when no condition is true', () => {
    const t = table({ ProductRule: { p: [{ Cond: 'req_host_in("a.test")', ClusterName: 'a' }] } })
    assert.equal(t.lookup('p', req('a.test', '/')), 'a')
    assert.deepEqual(t.lookup('p', req('b.test', '/')), {
      code: 'BK_FIND_LOCATION',
      msg: 'no rule match for this req',
    })
  })
})

describe('route table: explain', () => {
  it('answers as lookup does, naming the basic rule chosen and each advanced rule', () => {
    const t = table({
      BasicRule: {
        p: [
          { Hostname: ['a.test'], Path: ['/a/*'], ClusterName: 'a' },
          { Hostname: ['*.w.test'], Path: ['/x'], ClusterName: 'wx' },
          { Hostname: [], Path: ['*'], ClusterName: 'ADVANCED_MODE' },
        ],
      },
      ProductRule: {
        p: [
          { Cond: 'req_path_prefix_in("/v2/", false)', ClusterName: 'v2' },
          { Cond: 'default_t()', ClusterName: 'web' },
        ],
      },
    })
    const cases: [string, string][] = [
      ['a.test', '/a/1'],
      ['b.w.test', '/x'],
      ['b.w.test', '/y'],
      ['c.test', '/v2/z'],
      ['c.test', '/q'],
    ]
    for (const [host, uri] of cases) {
      const r = req(host, uri)
      const e = t.explain('p', r)
      assert.equal(e.cluster, t.lookup('p', r), `${host}${uri}`)
    }
    const a = t.explain('p', req('a.test', '/a/1'))
    assert.deepEqual(
      a.basic.map((b) => b.matched),
      [true, false, false],
    )
    assert.deepEqual(a.advanced, [])
    const v2 = t.explain('p', req('c.test', '/v2/z'))
    assert.equal(v2.advancedMode, true)
    assert.deepEqual(
      v2.advanced.map((x) => [x.index, x.matched]),
      [
        [0, true],
        [1, undefined],
      ],
    )
    const none = t.explain('q', req('c.test', '/'))
    assert.equal(none.error, ERR_NO_PRODUCT_RULE)
  })
})
