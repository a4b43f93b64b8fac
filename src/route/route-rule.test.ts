import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { confError } from '../../test/helpers/conf-assert.js'
import { parseRouteRule } from '../config/route-rule.js'
import { compileRouteRule } from './route-rule.js'

const R = 'route_rule.data'
const route = (o: unknown) => compileRouteRule(R, parseRouteRule(R, JSON.stringify(o)))

describe('route_rule.data (advanced rules; needs the condition compiler)', () => {
  it('compiles conditions and keeps order', () => {
    const c = route({
      Version: 'v',
      ProductRule: {
        p: [
          { Cond: 'req_host_in("a.test")', ClusterName: 'c1' },
          { Cond: 'default_t()', ClusterName: 'c2' },
        ],
        q: [],
      },
    })
    const rules = c.ProductRule.get('p') ?? []
    assert.equal(rules.length, 2)
    assert.equal(rules[1]?.ClusterName, 'c2')
    assert.deepEqual(c.ProductRule.get('q'), [])
  })

  it('reports condition errors with the pointer of Cond', () => {
    confError(
      () => route({ Version: 'v', ProductRule: { p: [{ Cond: 'default_t(', ClusterName: 'c' }] } }),
      R,
      '/ProductRule/p/0/Cond',
      /./,
    )
    confError(
      () => route({ Version: 'v', ProductRule: { p: [{ ClusterName: 'c' }] } }),
      R,
      '/ProductRule/p/0/Cond',
      /is required/,
    )
    confError(
      () => route({ Version: 'v', ProductRule: { p: [{ Cond: 'default_t()' }] } }),
      R,
      '/ProductRule/p/0/ClusterName',
      /is required/,
    )
  })

  it('collects && / || warnings naming file and rule (D1)', () => {
    const c = route({
      Version: 'v',
      ProductRule: {
        p: [
          {
            Cond: 'default_t() && req_host_in("a") || req_path_prefix_in("/x", false)',
            ClusterName: 'c',
          },
        ],
      },
    })
    assert.equal(c.warnings.length, 1)
    assert.match(c.warnings[0] ?? '', /^route_rule\.data: \/ProductRule\/p\/0\/Cond /)
  })
})
