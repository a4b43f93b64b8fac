/**
 * User regexes (decisions D2, D22): every entry point accepts BFE's RE2 syntax, refuses what RE2
 * refuses with a load error, and matches in linear time, so that no pattern and no input can stall
 * a worker. Entry points: `compileUserRegex`, the six `*_regmatch` condition primitives, and
 * route_rule.data conditions loaded by the real server-data loader and served end to end.
 *
 * Timings are asserted with a generous bound (1 s per match, where a backtracking engine takes
 * from 8 s to minutes on the same input), not a tight timer.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { BfeConfError } from '../../src/basic/errors.js'
import { BfeRequest } from '../../src/basic/request.js'
import { Session } from '../../src/basic/session.js'
import { ConditionError, UserRegexError } from '../../src/condition/errors.js'
import { compileCondition, compileUserRegex, MAX_REGEX_INPUT } from '../../src/condition/index.js'
import { loadBfeConf } from '../../src/config/bfe-conf.js'
import { serverDataPaths } from '../../src/config/server-data.js'
import { loadServerDataConf } from '../../src/route/server-data.js'
import { get } from '../helpers/client.js'
import { simpleConf, writeConf } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

/** Generous bound for one match on adversarial input (backtracking takes 8–80+ s here). */
const BOUND_MS = 1000

/** Patterns Go's regexp (BFE) accepts; each must compile at every entry point. */
const RE2_VALID: readonly string[] = [
  '^/v[0-9]+/items$',
  '(?P<id>\\d+)',
  '(?P<year>\\d{4})-(?P<month>\\d{2})',
  '(?<name>[a-z]+)', // Go 1.22+
  '(?i)^www\\.',
  '(?s)a.b',
  '(?m)^b$',
  '(?U)a+',
  '(?i-s)x.y',
  'a(?i)b',
  '(?i:a)b',
  '(?:ab)*?c',
  '\\Aabc\\z',
  '\\Q*.+?\\E',
  '\\x41\\x{263a}\\101\\0',
  '\\pL\\p{Greek}\\PN\\p{^Lu}\\p{Han}',
  '[\\p{L}\\p{N}_-]+',
  '[[:alpha:]][[:^digit:]][[:word:]]',
  '[]a]',
  'a{,3}', // literal in RE2
  'a}',
  'a]',
  'a{2,5}b{3}c{1,}',
  'a{1000}',
  '\\b\\B',
  '\\#\\-\\!\\_\\/',
  '\\a\\f\\t\\n\\r\\v',
  '[\\d-z]',
  '(a+)+$',
  '(?:a|b+)*c',
  '(a|a)*$',
  '(.*a){12}$',
  '\\d*\\d*\\d*\\d*\\d*\\d*x',
  '^(\\w+\\s?)*$',
  '',
  '(|a)',
  '.',
  '😀+',
]

/** Patterns Go's regexp refuses: each must fail the load with the reason. */
const RE2_INVALID: readonly [string, RegExp][] = [
  ['(a)\\1', /backreferences/],
  ['(?P<n>a)(?P=n)', /backreferences/],
  ['a(?=b)', /lookahead/],
  ['a(?!b)', /lookahead/],
  ['(?<=a)b', /lookbehind/],
  ['(?<!a)b', /lookbehind/],
  ['(?>a)', /atomic/],
  ['a*+', /possessive/],
  ['\\C', /\\C/],
  ['a**', /nested repetition/],
  ['a{1001}', /invalid repeat count/],
  ['[a', /missing closing \]/],
  ['(a', /missing closing \)/],
  ['\\Z', /invalid escape/],
  ['\\p{Nope}', /invalid character class range/],
]

/** Adversarial cases from issue 13: pattern, input. */
const ADVERSARIAL: readonly [string, string][] = [
  ['(a|a)*$', `${'a'.repeat(32)}!`],
  ['(a|a)*$', `${'a'.repeat(MAX_REGEX_INPUT)}!`],
  ['(.*a){12}$', `${'a'.repeat(32)}!`],
  ['(.*a){12}$', `${'a'.repeat(MAX_REGEX_INPUT)}!`],
  ['\\d*\\d*\\d*\\d*\\d*\\d*x', '1'.repeat(3000)],
  ['\\d*\\d*\\d*\\d*\\d*\\d*x', '1'.repeat(MAX_REGEX_INPUT)],
  ['(a+)+b', 'a'.repeat(MAX_REGEX_INPUT)],
  ['(x+x+)+y', 'x'.repeat(MAX_REGEX_INPUT)],
  ['^(\\w+\\s?)*$', `${'a '.repeat(MAX_REGEX_INPUT / 2 - 1)}!`],
  ['(?i)(a|b|ab)*c', 'ab'.repeat(MAX_REGEX_INPUT / 2)],
  ['^(([a-z])+.)+[A-Z]([a-z])+$', 'a'.repeat(MAX_REGEX_INPUT)],
  ['\\d+x', '1'.repeat(MAX_REGEX_INPUT)], // quadratic when backtracking: not plain, on re2js
  ['^a*a{200}b', 'a'.repeat(MAX_REGEX_INPUT)], // plain: on JavaScript RegExp, O(input x 200)
]

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t = performance.now()
  const value = fn()
  return { value, ms: performance.now() - t }
}

/** A condition literal: backquotes keep the pattern raw (condition.md §2). */
const raw = (p: string): string => `\`${p}\``

/** The regex primitives: name → condition text using `p` (RE2) as the regex argument. */
const PRIMITIVES: readonly [string, (p: string) => string][] = [
  ['req_host_regmatch', (p) => `req_host_regmatch(${raw(p)})`],
  ['req_url_regmatch', (p) => `req_url_regmatch(${raw(p)})`],
  ['req_path_regmatch', (p) => `req_path_regmatch(${raw(p)})`],
  ['req_query_value_regmatch', (p) => `req_query_value_regmatch("q", ${raw(p)})`],
  ['req_header_value_regmatch', (p) => `req_header_value_regmatch("X-A", ${raw(p)})`],
  ['req_ua_regmatch', (p) => `req_ua_regmatch(${raw(p)})`],
]

/** A request whose host, URL, path, query `q`, header X-A and User-Agent all carry `s`. */
function requestCarrying(s: string): BfeRequest {
  const enc = encodeURIComponent(s)
  return new BfeRequest(new Session({ remoteAddr: '10.0.0.1', remotePort: 40000 }), {
    method: 'GET',
    rawUri: `/${enc}?q=${enc}`,
    proto: 'HTTP/1.1',
    headers: ['Host', s, 'X-A', s, 'User-Agent', s],
  })
}

describe('compileUserRegex', () => {
  for (const p of RE2_VALID) {
    it(`accepts ${JSON.stringify(p)}`, () => {
      compileUserRegex(p, 'test')
    })
  }
  for (const [p, reason] of RE2_INVALID) {
    it(`refuses ${JSON.stringify(p)}`, () => {
      assert.throws(
        () => compileUserRegex(p, 'test'),
        (err: unknown) => err instanceof UserRegexError && reason.test(err.reason),
      )
    })
  }
  for (const [p, input] of ADVERSARIAL) {
    it(`${p} on ${input.length} adversarial characters finishes in < ${BOUND_MS} ms`, () => {
      const re = compileUserRegex(p, 'test')
      const { ms } = timed(() => re.test(input))
      assert.ok(ms < BOUND_MS, `${ms.toFixed(0)} ms`)
    })
  }
  it('is linear: 8x the input costs far less than 64x the time', () => {
    // A quadratic engine would take ~64x; allow 24x for noise and warm-up.
    const re = compileUserRegex('(.*a){12}$', 'test')
    const small = `${'a'.repeat(1024)}!`
    const big = `${'a'.repeat(8192)}!`
    re.test(small)
    re.test(big)
    const best = (s: string): number =>
      Math.min(...Array.from({ length: 5 }, () => timed(() => re.test(s)).ms))
    const ratio = best(big) / Math.max(best(small), 0.05)
    assert.ok(ratio < 24, `ratio ${ratio.toFixed(1)}`)
  })
})

describe('condition primitives that take a regex', () => {
  for (const [name, cond] of PRIMITIVES) {
    it(`${name} accepts every RE2-valid pattern`, () => {
      for (const p of RE2_VALID) {
        // A pattern holding a backquote cannot be a raw literal; none in the list does.
        compileCondition(cond(p))
      }
    })
    it(`${name} refuses what RE2 refuses, at the argument's position`, () => {
      for (const [p, reason] of RE2_INVALID) {
        assert.throws(
          () => compileCondition(cond(p)),
          (err: unknown) =>
            err instanceof ConditionError &&
            err.reason.startsWith(`${name}: regex `) &&
            reason.test(err.reason),
          p,
        )
      }
    })
    it(`${name} finishes within ${BOUND_MS} ms on every adversarial input`, () => {
      for (const [p, input] of ADVERSARIAL) {
        const { condition } = compileCondition(cond(p))
        const req = requestCarrying(input)
        const { ms } = timed(() => condition.test(req))
        assert.ok(ms < BOUND_MS, `${p}: ${ms.toFixed(0)} ms`)
      }
    })
  }
})

describe('route_rule.data through the real loader', () => {
  function load(conds: string[]): void {
    const dir = writeConf(
      simpleConf([1], {
        routeRule: {
          Version: 't',
          ProductRule: { p: conds.map((Cond) => ({ Cond, ClusterName: 'c' })) },
        },
      }),
    )
    try {
      const conf = loadBfeConf(dir.root)
      loadServerDataConf(serverDataPaths(conf), { confRoot: dir.root })
    } finally {
      dir.cleanup()
    }
  }

  it('loads every RE2-valid pattern in every regex primitive', () => {
    load(PRIMITIVES.flatMap(([, cond]) => RE2_VALID.map(cond)))
  })

  it('refuses a pattern RE2 refuses, naming the file and the rule', () => {
    for (const [p, reason] of RE2_INVALID) {
      assert.throws(
        () => load(['default_t()', `req_path_regmatch(${raw(p)})`]),
        (err: unknown) =>
          err instanceof BfeConfError &&
          err.file.endsWith('route_rule.data') &&
          err.field === '/ProductRule/p/1/Cond' &&
          reason.test(err.message),
        p,
      )
    }
  })
})

describe('end to end: an adversarial request does not stall the worker', () => {
  let up: Upstream
  let bfe: RunningBfe
  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      simpleConf([up.port], {
        routeRule: {
          Version: 't',
          ProductRule: {
            p: [
              {
                Cond: `req_path_regmatch(${raw('(a|a)*$')}) && req_header_value_regmatch("X-A", ${raw('(.*a){12}$')}) && req_header_value_regmatch("X-D", ${raw('\\d*\\d*\\d*\\d*\\d*\\d*x')})`,
                ClusterName: 'c',
              },
              { Cond: 'default_t()', ClusterName: 'c' },
            ],
          },
        },
      }),
    )
  })
  after(async () => {
    await bfe?.close()
    await up?.close()
  })

  it('answers the adversarial request and a normal one promptly', async () => {
    const t = performance.now()
    const evil = get(`${bfe.url}/${'a'.repeat(64)}!`, {
      headers: { 'X-A': `${'a'.repeat(4000)}!`, 'X-D': '1'.repeat(3000) },
    })
    const normal = get(`${bfe.url}/hello`)
    const [e, n] = await Promise.all([evil, normal])
    const ms = performance.now() - t
    assert.equal(e.status, 200)
    assert.equal(n.status, 200)
    assert.match(n.body, /^ok /)
    // Backtracking took 8 s to minutes on these inputs; 3 s leaves room for a loaded machine.
    assert.ok(ms < 3000, `${ms.toFixed(0)} ms`)
  })
})
