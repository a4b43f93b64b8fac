import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { BfeRequest } from '../../basic/request.js'
import { Session } from '../../basic/session.js'
import { buildPrisonTable, type PrisonTable } from './index.js'
import { Lru } from './lru.js'
import { PRISON_INFO, type PrisonInfo, type PrisonRule, type RuleState } from './rule.js'

const dir = mkdtempSync(join(tmpdir(), 'bfe-prison-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function rule(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Name: 'r1',
    Cond: 'req_path_prefix_in("/p", false)',
    AccessSignConf: { UseClientIP: true },
    Action: { Cmd: 'close', Params: [] },
    CheckPeriod: 10,
    StayPeriod: 5,
    Threshold: 2,
    AccessDictSize: 100,
    PrisonDictSize: 100,
    ...over,
  }
}

let n = 0
function load(
  rules: unknown[],
  states = new Map<string, RuleState>(),
  current?: PrisonTable,
): { t: PrisonTable; states: Map<string, RuleState> } {
  const f = join(dir, `prison-${n++}.data`)
  writeFileSync(f, JSON.stringify({ Version: 'v', Config: { shop: rules } }))
  return { t: buildPrisonTable(f, states, current).value, states }
}

function first(t: PrisonTable): PrisonRule {
  const r = t.products.get('shop')?.[0]
  assert.ok(r)
  return r
}

function request(opts: { ip?: string; uri?: string; headers?: string[] } = {}): BfeRequest {
  const ses = new Session({ remoteAddr: opts.ip ?? '10.0.0.1', remotePort: 1 })
  return new BfeRequest(ses, {
    method: 'GET',
    rawUri: opts.uri ?? '/p/x',
    proto: 'HTTP/1.1',
    headers: opts.headers ?? ['Host', 'shop.test'],
  })
}

describe('mod_prison rules', () => {
  it('jails a visitor over Threshold within CheckPeriod until StayPeriod plus the rest of the window', () => {
    const r = first(load([rule()]).t)
    const t0 = 1_000_000
    assert.equal(r.check(request(), t0), false)
    assert.equal(r.check(request(), t0 + 1000), false)
    // The third request within 10 s is over the threshold of 2: jailed until t0 + 10 s + 5 s.
    const third = request()
    assert.equal(r.check(third, t0 + 2000), true)
    const info = third.context.get(PRISON_INFO) as PrisonInfo
    assert.equal(info.prisonName, 'r1')
    assert.equal(info.action, 'CLOSE')
    assert.equal(info.freeTime.getTime(), t0 + 15_000)
    assert.equal(info.isExpired, false)
    // Another visitor is not affected.
    assert.equal(r.check(request({ ip: '10.0.0.2' }), t0 + 2000), false)
    assert.equal(r.check(request(), t0 + 14_999), true)
    // Released: counting starts again.
    const back = request()
    assert.equal(r.check(back, t0 + 15_000), false)
    assert.equal((back.context.get(PRISON_INFO) as PrisonInfo).isExpired, true)
  })

  it('starts a new window when CheckPeriod has passed', () => {
    const r = first(load([rule()]).t)
    assert.equal(r.check(request(), 0), false)
    assert.equal(r.check(request(), 1000), false)
    assert.equal(r.check(request(), 10_001), false)
    assert.equal(r.check(request(), 10_002), false)
    assert.equal(r.check(request(), 10_003), true)
  })

  it('builds the visitor signature from the selected parts and skips requests that lack one', () => {
    const r = first(
      load([
        rule({
          AccessSignConf: {
            UseHost: true,
            UsePath: true,
            UrlRegexp: '/p/(\\w+)',
            Query: ['a|b'],
            Header: ['X-Key'],
            Cookie: ['uid'],
          },
        }),
      ]).t,
    )
    const full = request({
      uri: '/p/item?b=2',
      headers: ['Host', 'h.test', 'X-Key', 'k1', 'Cookie', 'uid=7'],
    })
    assert.equal(
      r.signText(full),
      '&label=req_path_prefix_in("/p", false)&host=h.test&path=/p/item&urlpattern=item&X-Key=k1&uid=7&a|b=2',
    )
    assert.equal(r.signText(request({ uri: '/p/item?b=2', headers: ['X-Key', 'k1'] })), undefined)
    assert.equal(
      r.signText(request({ uri: '/p/item', headers: ['X-Key', 'k1', 'Cookie', 'uid=7'] })),
      undefined,
    )
    assert.equal(
      r.signText(request({ uri: '/q', headers: ['X-Key', 'k1', 'Cookie', 'uid=7'] })),
      undefined,
    )
  })

  it('skips a request without a client address when the rule signs by client IP', () => {
    const r = first(load([rule()]).t)
    const req = request()
    req.clientAddr = undefined
    for (let i = 0; i < 5; i++) assert.equal(r.check(req, i), false)
  })

  it('keeps counters and jail across a reload under the same product and name', () => {
    const a = load([rule()])
    const r1 = first(a.t)
    r1.check(request(), 0)
    r1.check(request(), 1)
    assert.equal(r1.check(request(), 2), true)
    const b = load(
      [rule({ Threshold: 3, AccessDictSize: 500 }), rule({ Name: 'r2' })],
      a.states,
      a.t,
    )
    const r2 = first(b.t)
    assert.equal(r2.state, r1.state)
    assert.equal(r2.state.access.capacity, 500)
    assert.equal(r2.check(request(), 3), true)
    // A renamed rule starts empty, and the state of a rule no table uses any more is dropped.
    const c = load([rule({ Name: 'other' })], b.states, b.t)
    assert.notEqual(first(c.t).state, r1.state)
    const d = load([rule({ Name: 'other' })], c.states, c.t)
    assert.deepEqual([...d.states.keys()], ['shop\nother'])
  })

  it('refuses bad rules naming the field', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [rule({ Cond: 'req_path_in(' }), /\/Config\/shop\/0\/Cond/],
      [rule({ Action: { Cmd: 'DROP' } }), /\/Config\/shop\/0\/Action\/Cmd "DROP" is not one of/],
      [
        rule({ Action: { Cmd: 'REQ_HEADER_SET', Params: ['X-Bfe-A'] } }),
        /Action\/Params REQ_HEADER_SET takes 2 parameters, got 1/,
      ],
      [
        rule({ Action: { Cmd: 'REQ_HEADER_SET', Params: ['X-Other', 'v'] } }),
        /must start with X-Bfe-/,
      ],
      [rule({ Action: { Cmd: 'CLOSE', Params: ['x'] } }), /CLOSE takes no parameters/],
      [rule({ CheckPeriod: 0 }), /\/Config\/shop\/0\/CheckPeriod/],
      [rule({ Threshold: -1 }), /\/Config\/shop\/0\/Threshold/],
      [rule({ StayPeriod: 'long' }), /\/Config\/shop\/0\/StayPeriod/],
      [rule({ AccessDictSize: 0 }), /\/Config\/shop\/0\/AccessDictSize/],
      [rule({ PrisonDictSize: null }), /\/Config\/shop\/0\/PrisonDictSize is required/],
      [rule({ AccessSignConf: null }), /\/Config\/shop\/0\/AccessSignConf/],
      [
        rule({ AccessSignConf: { UrlRegexp: '/p/\\w+' } }),
        /UrlRegexp must have at least one capture group/,
      ],
      [rule({ AccessSignConf: { UrlRegexp: '(' } }), /UrlRegexp/],
    ]
    for (const [r, re] of cases) {
      assert.throws(() => load([r]), re, `${JSON.stringify(r)} should fail with ${re}`)
    }
    assert.throws(() => load([rule(), rule()]), /\/Config\/shop\/1\/Name "r1" is used twice/)
    assert.throws(() => load([rule({ Name: undefined })]), /\/Config\/shop\/0\/Name is required/)
  })

  it('reads keys case-insensitively as BFE does (the shipped file writes them in lower case)', () => {
    const r = first(
      load([
        {
          name: 'lower',
          cond: 'default_t()',
          accessSignConf: { url: false, Cookie: ['UID'] },
          action: { cmd: 'close', params: [] },
          checkPeriod: 1,
          stayPeriod: 1,
          threshold: 0,
          accessDictSize: 1,
          prisonDictSize: 1,
        },
      ]).t,
    )
    assert.equal(r.name, 'lower')
    assert.equal(r.cmd, 'CLOSE')
  })
})

describe('Lru', () => {
  it('evicts the least recently used entry and can grow', () => {
    const l = new Lru<number>(2)
    l.set('a', 1)
    l.set('b', 2)
    assert.equal(l.get('a'), 1)
    l.set('c', 3)
    assert.equal(l.get('b'), undefined)
    assert.equal(l.get('a'), 1)
    l.enlarge(3)
    l.enlarge(1)
    assert.equal(l.capacity, 3)
    l.set('d', 4)
    assert.equal(l.size, 3)
  })
})
