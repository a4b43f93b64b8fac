import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseHostRule } from '../config/host-rule.js'
import { parseVipRule } from '../config/vip-rule.js'
import { HostTable, normaliseRequestHost } from './host-table.js'

function table(hosts: Record<string, string[]>, tags: Record<string, string[]>, def?: string) {
  const hr = parseHostRule(
    'host_rule.data',
    JSON.stringify({ Version: 'v', DefaultProduct: def ?? null, Hosts: hosts, HostTags: tags }),
  )
  const vr = parseVipRule(
    'vip_rule.data',
    JSON.stringify({ Version: 'v', Vips: { vipP: ['10.0.0.8', '2001:db8::1'] } }),
  )
  return new HostTable(hr, vr)
}

const t = table(
  {
    exactTag: ['www.a.test', 'A.test'],
    wideTag: ['*.a.test'],
    narrowTag: ['*.x.a.test'],
    otherTag: ['b.test'],
  },
  { pa: ['exactTag', 'wideTag'], px: ['narrowTag'], pb: ['otherTag'], vipP: [] },
)
const product = (host: string, vip?: string) => t.lookup(host, vip)?.product

describe('host table', () => {
  it('normalises the request host', () => {
    assert.equal(normaliseRequestHost('WWW.A.Test:8080'), 'www.a.test')
    assert.equal(normaliseRequestHost('a.test.'), 'a.test')
    assert.equal(normaliseRequestHost('a.test.:80'), 'a.test')
  })

  it('matches exact hosts, case-insensitively, ignoring port and trailing dot', () => {
    assert.deepEqual(t.lookup('www.a.test', undefined), { product: 'pa', hostTag: 'exactTag' })
    assert.equal(product('A.TEST:8443'), 'pa')
    assert.equal(t.lookup('a.test.', undefined)?.hostTag, 'exactTag')
    assert.equal(product('b.test'), 'pb')
  })

  it('matches wildcards over one or more labels, most specific first', () => {
    assert.deepEqual(t.lookup('m.a.test', undefined), { product: 'pa', hostTag: 'wideTag' })
    assert.equal(product('p.q.a.test'), 'pa')
    assert.equal(product('y.x.a.test'), 'px')
    assert.equal(product('z.y.x.a.test'), 'px')
    // the wildcard's own suffix is not matched by *.x.a.test but by *.a.test
    assert.equal(product('x.a.test'), 'pa')
    // exact beats wildcard
    assert.equal(t.lookup('www.a.test', undefined)?.hostTag, 'exactTag')
    assert.equal(product('a.test.com'), undefined)
    assert.equal(product('xa.test'), undefined)
  })

  it('falls back to the VIP, then to DefaultProduct', () => {
    assert.deepEqual(t.lookup('nope.test', '10.0.0.8'), { product: 'vipP', hostTag: '' })
    assert.equal(product('', '2001:DB8:0::1'), 'vipP')
    assert.equal(product('nope.test', '10.0.0.9'), undefined)
    assert.equal(product('', undefined), undefined)
    assert.equal(t.lookupVip('10.0.0.8')?.product, 'vipP')
    const d = table({ t: ['a.test'] }, { p: ['t'], dflt: [] }, 'dflt')
    assert.deepEqual(d.lookup('zzz', undefined), { product: 'dflt', hostTag: '' })
    assert.equal(d.lookup('a.test', undefined)?.product, 'p')
    assert.equal(d.defaultProduct, 'dflt')
    assert.deepEqual([...d.products].sort(), ['dflt', 'p'])
  })

  it('answers a repeated host as the first time, a miss and a hit alike, whatever came between', () => {
    const seq = [
      'm.a.test',
      'm.a.test',
      'nope.test',
      'nope.test',
      'www.a.test',
      'm.a.test',
      'y.x.a.test',
    ]
    const fresh = seq.map(
      (h) =>
        table(
          { exactTag: ['www.a.test'], wideTag: ['*.a.test'], narrowTag: ['*.x.a.test'] },
          { pa: ['exactTag', 'wideTag'], px: ['narrowTag'] },
        ).lookupHost(h)?.hostTag,
    )
    const one = table(
      { exactTag: ['www.a.test'], wideTag: ['*.a.test'], narrowTag: ['*.x.a.test'] },
      { pa: ['exactTag', 'wideTag'], px: ['narrowTag'] },
    )
    assert.deepEqual(
      seq.map((h) => one.lookupHost(h)?.hostTag),
      fresh,
    )
    assert.deepEqual(fresh, [
      'wideTag',
      'wideTag',
      undefined,
      undefined,
      'exactTag',
      'wideTag',
      'narrowTag',
    ])
    // the VIP still decides after a host that missed, twice in a row
    assert.equal(t.lookup('nope.test', '10.0.0.8')?.product, 'vipP')
    assert.equal(t.lookup('nope.test', '10.0.0.9')?.product, undefined)
    // an empty host is never taken for the last one
    assert.equal(t.lookup('', '10.0.0.8')?.product, 'vipP')
  })

  it('treats a bare * as any host', () => {
    const a = table({ e: ['e.test'], any: ['*'] }, { pe: ['e'], pany: ['any'] })
    assert.equal(a.lookup('e.test', undefined)?.product, 'pe')
    assert.equal(a.lookup('whatever.example', undefined)?.product, 'pany')
    assert.equal(a.lookup('localhost', undefined)?.product, 'pany')
  })
})
