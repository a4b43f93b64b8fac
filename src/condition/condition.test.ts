import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  errorCases,
  evalCases,
  makeRequest,
  makeSession,
  warningCases,
} from '../../test/helpers/condition-cases.js'
import { ConditionError } from './errors.js'
import { type CompileResult, compileCondition, compileConditionInterpreted } from './index.js'
import { mixedPrecedenceGrouping, parse } from './parser.js'

const forms: [string, (src: string) => CompileResult][] = [
  ['compiled', compileCondition],
  ['interpreted', compileConditionInterpreted],
]

for (const [formName, compile] of forms) {
  describe(`condition conformance (${formName})`, () => {
    evalCases.forEach((c, i) => {
      const label = `#${i} ${c.session === true ? '[session] ' : ''}${c.expr.replace(/\n/g, '\\n')}`
      it(label, () => {
        const { condition } = compile(c.expr)
        const got =
          c.session === true
            ? condition.testSession(makeSession(c.fx))
            : condition.test(makeRequest(c.fx))
        assert.equal(got, c.want)
      })
    })
  })
}

describe('condition errors', () => {
  errorCases.forEach((c, i) => {
    it(`#${i} ${JSON.stringify(c.expr)}`, () => {
      assert.throws(
        () => compileCondition(c.expr),
        (err: unknown) => {
          assert.ok(err instanceof ConditionError, `not a ConditionError: ${String(err)}`)
          assert.equal(err.code, 'BFE_ERR_COND_INVALID')
          assert.ok(err.message.includes(c.message), `message ${JSON.stringify(err.message)}`)
          assert.deepEqual(
            [err.position.line, err.position.column],
            [c.line, c.column],
            `position of ${JSON.stringify(err.message)}`,
          )
          assert.ok(err.message.endsWith(`(line ${c.line}, column ${c.column})`))
          return true
        },
      )
    })
  })
})

describe('mixed && / || warning (D1)', () => {
  for (const c of warningCases) {
    it(c.expr, () => {
      assert.equal(mixedPrecedenceGrouping(parse(c.expr), c.expr), c.grouped)
    })
  }

  it('compileCondition reports how BFE groups the expression', () => {
    const src = 'req_method_in("GET") && req_path_in("/a", false) || default_t()'
    const { warnings } = compileCondition(src)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0] ?? '', /"\|\|" the higher precedence/)
    assert.ok(
      (warnings[0] ?? '').endsWith(
        'req_method_in("GET") && (req_path_in("/a", false) || default_t())',
      ),
    )
    assert.deepEqual(compileCondition('default_t() && (default_t() || default_t())').warnings, [])
  })
})

describe('condition API', () => {
  it('keeps the source text', () => {
    const src = 'req_method_in("GET")'
    assert.equal(compileCondition(src).condition.source, src)
  })

  it('short-circuits: the right operand is not evaluated', () => {
    // A request whose cookie parse would be visible: evaluate `false && cookie` and check the
    // lazily parsed cookie map was never built.
    const req = makeRequest({ headers: ['Host', 'a', 'Cookie', 'a=1'] })
    const { condition } = compileCondition('req_method_in("POST") && req_cookie_key_in("a")')
    assert.equal(condition.test(req), false)
    const cache: unknown = Reflect.get(req, 'cookieCache')
    assert.equal(cache, undefined)
    const or = compileCondition('default_t() || req_cookie_key_in("a")').condition
    assert.equal(or.test(req), true)
    assert.equal(Reflect.get(req, 'cookieCache'), undefined)
  })

  it('uses the current time without the debug header', () => {
    const now = new Date()
    const pad = (n: number): string => String(n).padStart(2, '0')
    const stamp = (d: Date): string =>
      `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`
    const from = stamp(new Date(now.getTime() - 60_000))
    const to = stamp(new Date(now.getTime() + 60_000))
    const { condition } = compileCondition(`bfe_time_range("${from}", "${to}")`)
    assert.equal(condition.test(makeRequest()), true)
  })

  it('reads the request as modules change it', () => {
    const req = makeRequest({ uri: '/old' })
    const { condition } = compileCondition(
      'req_path_in("/new", false) && req_header_value_in("X", "1", false)',
    )
    assert.equal(condition.test(req), false)
    req.setPath('/new')
    req.headers.set('x', '1')
    assert.equal(condition.test(req), true)
  })

  it('caps the input of regex primitives', () => {
    const long = `/${'a'.repeat(10000)}b`
    const { condition } = compileCondition('req_path_regmatch(`b$`)')
    assert.equal(condition.test(makeRequest({ uri: long })), false)
    assert.equal(condition.test(makeRequest({ uri: '/ab' })), true)
  })

  it('has at least 200 evaluation cases', () => {
    assert.ok(evalCases.length >= 200, `${evalCases.length}`)
  })
})
