import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { simpleConf, writeConf } from '../../test/helpers/conf.js'
import { CallbackPoint, HandlerResult } from '../module/callback-point.js'
import type { BfeModule } from '../module/types.js'
import { loadDecisionConf } from './decision-conf.js'
import { Explainer } from './explain.js'
import { parseRequestLine, type RequestSpec } from './request-spec.js'

const dirs: { cleanup(): void }[] = []
after(() => {
  for (const d of dirs) d.cleanup()
})

const spec = (url: string, headers: [string, string][] = []): RequestSpec => ({
  method: 'GET',
  url,
  headers,
  cip: '192.0.2.10',
  vip: undefined,
})

/** A module with an explain hook and one filter without one (to see both reported). */
function gate(calls: number[]): BfeModule {
  return {
    name: 'mod_gate',
    init(ctx) {
      ctx.callbacks.addRequestFilter(CallbackPoint.BeforeLocation, () => HandlerResult.GoOn, 'g')
    },
    explain(req, point) {
      calls.push(point)
      if (point !== CallbackPoint.AfterLocation) return undefined
      if (req.path === '/deny') {
        return { summary: 'deny', result: HandlerResult.Finish }
      }
      req.headers.set('X-Gate', 'seen')
      return { summary: 'adds X-Gate', detail: { header: 'X-Gate' } }
    },
  }
}

async function setup() {
  const d = writeConf(
    simpleConf([9001, 9002], {
      server: ['Modules = mod_tag', 'Modules = mod_gate', 'Modules = mod_quiet'],
      routeRule: {
        Version: 't',
        ProductRule: {
          p: [
            { Cond: 'req_tag_match("tier", "gold")', ClusterName: 'gold' },
            { Cond: 'default_t()', ClusterName: 'c' },
          ],
        },
      },
      clusterConf: { Version: 't', Config: { c: {}, gold: {} } },
      clusterTable: {
        c: {
          'c.a': [
            { Port: 9001, Weight: 2 },
            { Port: 9002, Weight: 1 },
          ],
        },
        gold: { 'gold.a': [{ Port: 9003 }] },
      },
      gslb: { c: { 'c.a': 100 }, gold: { 'gold.a': 100 } },
      files: {
        'mod_tag/mod_tag.conf': '[Basic]\nDataPath = mod_tag/tag_rule.data\n',
        'mod_tag/tag_rule.data': JSON.stringify({
          Version: 'v',
          Config: {
            p: [
              {
                Cond: 'req_cookie_value_in("plan", "gold", false)',
                Param: { TagName: 'tier', TagValue: 'gold' },
                Last: true,
              },
              { Cond: 'default_t()', Param: { TagName: 'seen', TagValue: 'yes' } },
            ],
          },
        }),
      },
    }),
  )
  dirs.push(d)
  const calls: number[] = []
  const quiet: BfeModule = {
    name: 'mod_quiet',
    init(ctx) {
      ctx.callbacks.addRequestFilter(CallbackPoint.AfterLocation, () => HandlerResult.GoOn, 'q')
    },
  }
  const dc = await loadDecisionConf(d.root, [gate(calls), quiet])
  return { ex: new Explainer(dc), calls }
}

describe('Explainer', () => {
  test("mod_tag's explain hook tags the request and routing sees the tag", async () => {
    const { ex } = await setup()
    const e = ex.explain(spec('http://p.test/', [['Cookie', 'plan=gold']]))
    assert.equal(e.cluster, 'gold')
    const tag = e.steps.find((s) => s.module === 'mod_tag')
    assert.equal(tag?.point, 'HandleFoundProduct')
    assert.equal(tag?.summary, 'tag tier=gold')
    assert.deepEqual(tag?.['rules'], [
      { index: 0, cond: 'req_cookie_value_in("plan", "gold", false)', matched: true },
      { index: 1, cond: 'default_t()', matched: undefined },
    ])
    const plain = ex.explain(spec('http://p.test/'))
    assert.equal(plain.cluster, 'c')
    assert.equal(plain.steps.find((s) => s.module === 'mod_tag')?.summary, 'tag seen=yes')
  })

  test('module steps in pipeline order; a non-GoOn verdict ends the path there', async () => {
    const { ex, calls } = await setup()
    const e = ex.explain(spec('http://p.test/a'))
    assert.deepEqual(calls, [
      CallbackPoint.Accept,
      CallbackPoint.BeforeLocation,
      CallbackPoint.FoundProduct,
      CallbackPoint.AfterLocation,
      CallbackPoint.Forward,
      CallbackPoint.ReadResponse,
    ])
    assert.deepEqual(
      e.steps.map((s) => `${s.step}${s.module === undefined ? '' : `:${s.module}`}`),
      [
        'product',
        'module:mod_tag',
        'route',
        'module:mod_gate',
        'module:mod_quiet',
        'gslb',
        'backend',
      ],
    )
    // a module with a filter but no hook is shown, not skipped
    assert.equal(
      e.steps.find((s) => s.module === 'mod_quiet')?.summary,
      'has a filter here (mod_quiet.q) but no explain hook: not explained',
    )
    const denied = ex.explain(spec('http://p.test/deny'))
    assert.deepEqual(denied.answeredBy, {
      module: 'mod_gate',
      point: 'HandleAfterLocation',
      result: 'Finish',
    })
    assert.equal(denied.backend, null)
    assert.equal(denied.steps.at(-1)?.step, 'module')
  })

  test('picks come from a private table: first picks, then the WRR sequence; reset starts over', async () => {
    const { ex } = await setup()
    const names = () => ex.explain(spec('http://p.test/x')).backend?.name
    const seq = [names(), names(), names(), names(), names(), names()]
    // weights 2:1, smooth WRR
    assert.deepEqual(seq, ['c.a-0', 'c.a-1', 'c.a-0', 'c.a-0', 'c.a-1', 'c.a-0'])
    ex.reset()
    assert.equal(names(), 'c.a-0')
    const again = await setup()
    assert.equal(again.ex.explain(spec('http://p.test/x')).backend?.name, 'c.a-0')
  })
})

describe('request lines', () => {
  test('METHOD URL [Name: value]... and mod_access JSON lines', () => {
    assert.deepEqual(parseRequestLine('POST http://a.test/x?y=1 X-A: 1 2 Cookie: a=b; c=d'), {
      method: 'POST',
      url: 'http://a.test/x?y=1',
      headers: [
        ['X-A', '1 2'],
        ['Cookie', 'a=b; c=d'],
      ],
      cip: undefined,
      vip: undefined,
    })
    assert.equal(parseRequestLine('  # comment'), undefined)
    assert.deepEqual(
      parseRequestLine(
        JSON.stringify({
          request_line: 'HEAD /p HTTP/1.1',
          host: 'h.test',
          'req_header.X-Env': 'canary',
          'req_header.Referer': '-',
          'req_cookie.uid': 'u1',
          remote_addr: '[2001:db8::1]:443',
          vip: '-',
        }),
      ),
      {
        method: 'HEAD',
        url: '/p',
        headers: [
          ['Host', 'h.test'],
          ['X-Env', 'canary'],
          ['Cookie', 'uid=u1'],
        ],
        cip: '2001:db8::1',
        vip: undefined,
      },
    )
    assert.throws(() => parseRequestLine('GET /x nonsense'), /is not a header/)
  })
})
