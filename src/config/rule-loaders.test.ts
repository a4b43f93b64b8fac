import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { confError } from '../../test/helpers/conf-assert.js'
import { parseHostRule } from './host-rule.js'
import { parseNameConf } from './name-conf.js'
import { parseRouteRule } from './route-rule.js'
import { parseVipRule } from './vip-rule.js'

const H = 'host_rule.data'
const host = (o: unknown) => parseHostRule(H, JSON.stringify(o))

describe('host_rule.data', () => {
  it('reads the config.md example, lower-casing hosts', () => {
    const c = host({
      Version: 'v',
      DefaultProduct: null,
      Hosts: { shopTag: ['Shop.Test', '*.shop.test'], apiTag: ['api.test.'] },
      HostTags: { shop: ['shopTag'], api: ['apiTag'] },
    })
    assert.equal(c.DefaultProduct, undefined)
    assert.deepEqual(c.Hosts.get('shopTag'), ['shop.test', '*.shop.test'])
    assert.deepEqual(c.Hosts.get('apiTag'), ['api.test'])
    assert.deepEqual(c.HostTags.get('shop'), ['shopTag'])
  })

  it('accepts keys in any case and ignores unknown keys', () => {
    const c = host({ version: '', hosts: {}, hosttags: { p: [] }, defaultproduct: 'p', x: 1 })
    assert.equal(c.DefaultProduct, 'p')
  })

  it('validates every field', () => {
    confError(() => parseHostRule(H, '{'), H, '', /not valid JSON/)
    confError(() => host({ Hosts: {}, HostTags: {} }), H, '/Version', /is required/)
    confError(
      () => host({ Version: 1, Hosts: {}, HostTags: {} }),
      H,
      '/Version',
      /must be a string/,
    )
    confError(() => host({ Version: '', HostTags: {} }), H, '/Hosts', /is required/)
    confError(() => host({ Version: '', Hosts: {} }), H, '/HostTags', /is required/)
    confError(
      () => host({ Version: '', Hosts: [], HostTags: {} }),
      H,
      '/Hosts',
      /must be an object/,
    )
    confError(
      () => host({ Version: '', Hosts: { t: null }, HostTags: { p: ['t'] } }),
      H,
      '/Hosts/t',
      /must not be null/,
    )
    confError(
      () => host({ Version: '', Hosts: {}, HostTags: { p: null } }),
      H,
      '/HostTags/p',
      /must not be null/,
    )
    confError(
      () => host({ Version: '', Hosts: { t: ['a'] }, HostTags: { p: ['u'] } }),
      H,
      '/Hosts/t',
      /host tag "t" is not listed in HostTags/,
    )
    confError(
      () => host({ Version: '', Hosts: { t: ['a.b', 'x', 'A.B'] }, HostTags: { p: ['t'] } }),
      H,
      '/Hosts/t/2',
      /host duplicate/,
    )
    confError(
      () => host({ Version: '', Hosts: { t: ['a'], u: ['a'] }, HostTags: { p: ['t', 'u'] } }),
      H,
      '/Hosts/u/0',
      /host duplicate/,
    )
    confError(
      () => host({ Version: '', Hosts: { t: ['a'] }, HostTags: { p: ['t'], q: ['t'] } }),
      H,
      '/HostTags/q/0',
      /already listed under product "p"/,
    )
    confError(
      () => host({ Version: '', Hosts: { t: [''] }, HostTags: { p: ['t'] } }),
      H,
      '/Hosts/t/0',
      /must not be empty/,
    )
    confError(
      () => host({ Version: '', Hosts: { t: ['a.*.b'] }, HostTags: { p: ['t'] } }),
      H,
      '/Hosts/t/0',
      /\* must be the whole first label/,
    )
    confError(
      () => host({ Version: '', Hosts: { t: [3] }, HostTags: { p: ['t'] } }),
      H,
      '/Hosts/t/0',
      /must be a string/,
    )
    confError(
      () => host({ Version: '', DefaultProduct: 'nope', Hosts: {}, HostTags: { p: [] } }),
      H,
      '/DefaultProduct',
      /"nope" is not a product of HostTags/,
    )
  })
})

const V = 'vip_rule.data'
const vip = (o: unknown) => parseVipRule(V, JSON.stringify(o))

describe('vip_rule.data', () => {
  it('normalises addresses', () => {
    const c = vip({ Version: 'v', Vips: { p: ['10.0.0.1', '2001:DB8:0:0::1', '::ffff:1.2.3.4'] } })
    assert.deepEqual(c.Vips.get('p'), ['10.0.0.1', '2001:db8::1', '1.2.3.4'])
    assert.equal(vip({ Version: 'v' }).Vips.size, 0)
  })

  it('validates every field', () => {
    confError(() => vip({ Vips: {} }), V, '/Version', /is required/)
    confError(() => vip({ Version: '' }), V, '/Version', /must not be empty/)
    confError(() => vip({ Version: 'v', Vips: { p: 'x' } }), V, '/Vips/p', /must be an array/)
    confError(
      () => vip({ Version: 'v', Vips: { p: ['10.0.0.1', '10.0.0'] } }),
      V,
      '/Vips/p/1',
      /not a valid IP address/,
    )
    confError(
      () => vip({ Version: 'v', Vips: { p: ['10.0.0.1'], q: ['10.0.0.1'] } }),
      V,
      '/Vips/q/0',
      /already listed under product "p"/,
    )
  })
})

const R = 'route_rule.data'
const route = (o: unknown) => parseRouteRule(R, JSON.stringify(o))

describe('route_rule.data (basic rules)', () => {
  it('reads basic rules, omitted lists staying empty', () => {
    const c = route({
      Version: 'v',
      BasicRule: {
        p: [
          { Hostname: ['a.test'], ClusterName: 'c1' },
          { Path: ['/x/*'], ClusterName: 'c2' },
        ],
      },
    })
    const rules = c.BasicRule.get('p') ?? []
    assert.deepEqual(rules[0]?.Path, [])
    assert.deepEqual(rules[1]?.Hostname, [])
    assert.equal(rules[1]?.pointer, '/BasicRule/p/1')
    assert.equal(c.ProductRule.size, 0)
  })

  it('validates every field', () => {
    confError(() => route({ BasicRule: {} }), R, '/Version', /is required/)
    confError(() => route({ Version: 'v' }), R, '', /needs BasicRule or ProductRule/)
    confError(
      () => route({ Version: 'v', BasicRule: { p: {} } }),
      R,
      '/BasicRule/p',
      /must be an array/,
    )
    confError(
      () => route({ Version: 'v', BasicRule: { p: [{ Hostname: ['a'] }] } }),
      R,
      '/BasicRule/p/0/ClusterName',
      /is required/,
    )
    confError(
      () => route({ Version: 'v', BasicRule: { p: [{ ClusterName: 'c' }] } }),
      R,
      '/BasicRule/p/0',
      /needs a Hostname or a Path/,
    )
    confError(
      () => route({ Version: 'v', BasicRule: { p: [{ Hostname: 'a.test', ClusterName: 'c' }] } }),
      R,
      '/BasicRule/p/0/Hostname',
      /must be an array/,
    )
    const bad = (field: string, v: string, ptr: string, re: RegExp) =>
      confError(
        () => route({ Version: 'v', BasicRule: { p: [{ [field]: ['ok', v], ClusterName: 'c' }] } }),
        R,
        ptr,
        re,
      )
    bad('Hostname', '', '/BasicRule/p/0/Hostname/1', /hostname must not be empty/)
    bad('Hostname', '*.*.a', '/BasicRule/p/0/Hostname/1', /only one \*/)
    bad('Hostname', 'a*.b', '/BasicRule/p/0/Hostname/1', /must be \* or start with \*\./)
    bad('Hostname', '*a.b', '/BasicRule/p/0/Hostname/1', /must be \* or start with \*\./)
    bad('Path', '', '/BasicRule/p/0/Path/1', /path must not be empty/)
    bad('Path', '/a*/b*', '/BasicRule/p/0/Path/1', /only one \*/)
    bad('Path', '/a*/b', '/BasicRule/p/0/Path/1', /last character/)
  })

  it('rejects the same normalised path twice under one host of a product', () => {
    confError(
      () =>
        route({
          Version: 'v',
          BasicRule: {
            p: [
              { Hostname: ['A.test'], Path: ['/foo*'], ClusterName: 'c1' },
              { Hostname: ['a.test'], Path: ['/foo/*'], ClusterName: 'c2' },
            ],
          },
        }),
      R,
      '/BasicRule/p/1',
      /path duplicated/,
    )
    confError(
      () =>
        route({
          Version: 'v',
          BasicRule: {
            p: [{ Path: ['/x'] }, { Path: ['/x'] }].map((r) => ({ ...r, ClusterName: 'c' })),
          },
        }),
      R,
      '/BasicRule/p/1',
      /path duplicated/,
    )
    // same path under different hosts, or exact vs prefix, or other products: fine
    route({
      Version: 'v',
      BasicRule: {
        p: [
          { Hostname: ['a'], Path: ['/x'], ClusterName: 'c' },
          { Hostname: ['b'], Path: ['/x', '/x*'], ClusterName: 'c' },
        ],
        q: [{ Hostname: ['a'], Path: ['/x'], ClusterName: 'c' }],
      },
    })
  })
})

const N = 'name_conf.data'
const name = (o: unknown) => parseNameConf(N, JSON.stringify(o))

describe('name_conf.data', () => {
  it('reads instances', () => {
    const c = name({
      Version: 'v',
      Config: { redis: [{ Host: '10.0.0.1', Port: 6379, Weight: 1 }] },
    })
    assert.deepEqual(c.Config.get('redis'), [{ Host: '10.0.0.1', Port: 6379, Weight: 1 }])
  })

  it('validates every field', () => {
    confError(() => name({ Config: {} }), N, '/Version', /is required/)
    confError(() => name({ Version: 'v' }), N, '/Config', /is required/)
    confError(() => name({ Version: 'v', Config: { s: null } }), N, '/Config/s', /must not be null/)
    const inst = (o: object, ptr: string, re: RegExp) =>
      confError(
        () => name({ Version: 'v', Config: { s: [{ Host: 'h', Port: 1, Weight: 1, ...o }] } }),
        N,
        `/Config/s/0${ptr}`,
        re,
      )
    inst({ Host: '' }, '/Host', /must not be empty/)
    inst({ Host: null }, '/Host', /is required/)
    inst({ Port: 65536 }, '/Port', /must be in \[0, 65535\]/)
    inst({ Port: 'x' }, '/Port', /must be an integer/)
    inst({ Weight: -1 }, '/Weight', /must be in \[0, 1000000\], got -1/)
  })
})
