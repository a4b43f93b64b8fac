import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { RE2JS } from 're2js'
import { UserRegexError } from './errors.js'
import { compileUserRegex, MAX_REGEX_INPUT, plainJsRegExp, testUserRegex } from './regex.js'

describe('compileUserRegex', () => {
  const matches: [string, string, boolean][] = [
    ['(?i)^ABC', 'abcdef', true],
    ['^/v[0-9]+/', '/v2/x', true],
    ['b', 'abc', true], // unanchored search
    ['^b', 'abc', false],
    ['(?s)a.b', 'a\nb', true],
    ['a.b', 'a\nb', false],
    ['(?m)^b$', 'a\nb\nc', true],
    ['^b$', 'a\nb\nc', false],
    ['abc\\z', 'abc', true],
    ['abc\\z', 'abc\n', false],
    ['abc$', 'abc\n', false], // RE2 $ without (?m) is end of text
    ['(?P<year>\\d{4})-\\d{2}', '2024-01', true],
    ['[[:upper:]]+', 'abc', false],
    ['[[:upper:]]+', 'aBc', true],
    ['\\pL+', 'é', true],
    ['^.$', '😀', true], // . matches a code point
    ['\\Qa.b\\E', 'axb', false],
    ['\\Qa.b\\E', 'a.b', true],
    ['a\\s b', 'a\t b', true],
    ['a\\sb', 'a\vb', false], // RE2 \s has no \v
    ['a{,2}', 'a{,2}', true], // literal in RE2
    ['x\\.y', 'x.y', true],
  ]
  for (const [pattern, input, want] of matches) {
    it(`${pattern} on ${JSON.stringify(input)} → ${want}`, () => {
      assert.equal(testUserRegex(compileUserRegex(pattern, 'test'), input), want)
    })
  }

  const rejected: [string, RegExp][] = [
    ['(a)\\1', /invalid escape sequence: `\\1` \(backreferences are not RE2 syntax\)/],
    ['(a)\\9', /backreferences/],
    ['(?P<n>a)(?P=n)', /backreferences/],
    ['(?P<n>a)\\k<n>', /backreferences/],
    ['a(?=b)', /lookahead/],
    ['a(?!b)', /lookahead/],
    ['(?<=a)b', /lookbehind/],
    ['(?<!a)b', /lookbehind/],
    ['(?>a)', /atomic groups/],
    ['(?x)a', /unsupported Perl syntax/],
    ['\\C', /\\C \(any byte\)/],
    ['a*+', /possessive/],
    ['a{1,2}+', /possessive/],
    ['a**', /nested repetition/],
    ['a{2}{3}', /nested repetition/],
    ['*a', /missing argument/],
    ['a{1001}', /invalid repeat count/],
    ['((a{100}){100})', /invalid repeat count/],
    ['a{3,2}', /invalid repeat count/],
    ['[a', /missing closing \]/],
    ['(a', /missing closing \)/],
    ['a)', /unexpected \)/],
    ['(?P<n>a)(?P<n>b)', /duplicate capture group name/],
    ['\\Z', /invalid escape/],
    ['\\u0041', /invalid escape/],
    ['a\\', /trailing backslash/],
    ['[[:foo:]]', /invalid character class range/],
    ['\\p{Nope}', /invalid character class range/],
    ['[z-a]', /invalid character class range/],
  ]
  for (const [pattern, reason] of rejected) {
    it(`rejects ${pattern}`, () => {
      assert.throws(
        () => compileUserRegex(pattern, 'mod_x rule 3'),
        (err: unknown) => {
          assert.ok(err instanceof UserRegexError)
          assert.equal(err.code, 'BFE_ERR_REGEX_INVALID')
          assert.ok(
            err.message.startsWith(`mod_x rule 3: regex ${JSON.stringify(pattern)}: `),
            err.message,
          )
          assert.match(err.reason, reason)
          return true
        },
      )
    })
  }

  it('accepts the RE2 syntax the former JS translation refused', () => {
    const cases: [string, string, boolean][] = [
      ['a(?i)b', 'aB', true],
      ['a(?i)b', 'Ab', false],
      ['(?i:a)b', 'Ab', true],
      ['(?i:a)b', 'AB', false],
      ['(?U)a+', 'aaa', true],
      ['(?i-s)a.', 'A\n', false],
      ['[[:^alpha:]]', 'abc', false],
      ['[[:^alpha:]]', 'ab1', true],
      ['(a+)+$', 'aaa', true],
      ['(?:a|b+)*c', 'abbc', true],
      ['(a{1,5}){2,}', 'aaaaaa', true],
    ]
    for (const [pattern, input, want] of cases) {
      assert.equal(compileUserRegex(pattern, 't').test(input), want, `${pattern} on ${input}`)
    }
  })

  it('accepts bounded repetition of groups with quantifiers', () => {
    assert.ok(compileUserRegex('^(?:\\d{1,3}\\.){3}\\d{1,3}$', 'ip').test('10.0.0.1'))
    assert.ok(compileUserRegex('(a+)?b', 'opt').test('aab'))
  })

  it('exec returns the leftmost match and its groups, named groups by number', () => {
    const re = compileUserRegex('/(?P<id>\\d+)(/x)?', 'ex')
    assert.equal(re.groupCount, 2)
    assert.deepEqual(re.namedGroups(), { id: 1 })
    assert.deepEqual(re.exec('/a/42/7'), ['/42', '42', undefined])
    assert.equal(re.exec('/a/b'), null)
    assert.equal(String(re), '/(?P<id>\\d+)(/x)?')
  })

  it('caps the matched input length', () => {
    const re = compileUserRegex('b$', 'cap')
    assert.equal(testUserRegex(re, `${'a'.repeat(MAX_REGEX_INPUT)}b`), false)
    assert.equal(testUserRegex(re, `${'a'.repeat(MAX_REGEX_INPUT - 1)}b`), true)
    assert.equal(re.exec(`${'a'.repeat(MAX_REGEX_INPUT)}b`), null)
  })
})

describe('plain patterns on JavaScript RegExp', () => {
  const plain: [string, boolean][] = [
    ['^/api/items/\\d+$', true],
    ['^/v[0-9]+/', true],
    ['Mozilla/5\\.0', true],
    ['%20', true],
    ['^.$', true],
    ['a\\z', true],
    ['[a-z-]x', true],
    ['a{,3}', true],
    ['(?i)curl', false], // flags: case folding differs between the engines
    ['\\.(png|jpg)$', false], // groups
    ['[0-9]+$', false], // unanchored with a variable quantifier: O(n²) when backtracking
    ['^a*b*', false], // two variable quantifiers
    ['^\\pL+', false], // Unicode classes
    ['[[:alpha:]]', false],
    ['é', false], // non-ASCII
    ['\\bx', false],
  ]
  for (const [p, want] of plain) {
    it(`${p} ${want ? 'is' : 'is not'} plain`, () => {
      assert.equal(compileUserRegex(p, 't').usesJsRegExp, want)
    })
  }

  // The subset must mean exactly what RE2 means: compare both engines on random plain-ish
  // patterns and inputs over a small alphabet (so that matches are frequent).
  const ALPHA = ['a', 'b', '/', '.', '-', '0', '9', 'Z', '_', '\n', 'é', '😀', ' ', '{', '}']
  const atom = fc.oneof(
    fc.constantFrom(...ALPHA.filter((c) => c.length === 1 && c < '\x7f' && c !== '\n')),
    fc.constantFrom('\\d', '\\D', '\\w', '\\W', '.', '\\.', '\\/', '\\-', '\\{', '\\}', '\\$'),
    fc.constantFrom('[a-z]', '[^/]', '[0-9_-]', '[^a\\d]', '[.{}]', '[-b]', '[^\\w]', '[$*]'),
  )
  const quant = fc.constantFrom('', '', '', '*', '+', '?', '{2}', '{1,3}', '{2,}', '*?', '{,2}')
  const pattern = fc
    .tuple(
      fc.boolean(),
      fc.array(fc.tuple(atom, quant), { maxLength: 6 }),
      fc.constantFrom('', '', '$', '\\z'),
    )
    .map(([a, parts, end]) => `${a ? '^' : ''}${parts.map(([x, q]) => x + q).join('')}${end}`)
  const input = fc.array(fc.constantFrom(...ALPHA), { maxLength: 12 }).map((a) => a.join(''))

  it('gives the same answer as re2js on random plain patterns and inputs', () => {
    let plainCount = 0
    fc.assert(
      fc.property(pattern, fc.array(input, { minLength: 1, maxLength: 8 }), (p, inputs) => {
        let re: RE2JS
        try {
          re = RE2JS.compile(p)
        } catch {
          return // not RE2 (e.g. a repeated quantifier): nothing to compare
        }
        const js = plainJsRegExp(p)
        if (js === undefined) return
        plainCount++
        for (const s of inputs) assert.equal(js.test(s), re.test(s), `${p} on ${JSON.stringify(s)}`)
      }),
      { numRuns: 3000 },
    )
    assert.ok(plainCount > 500, `only ${plainCount} plain patterns generated`)
  })
})
