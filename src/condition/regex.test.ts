import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { UserRegexError } from './errors.js'
import { compileUserRegex, MAX_REGEX_INPUT, testUserRegex, translateRe2 } from './regex.js'

describe('RE2 → JS translation', () => {
  const translations: [string, string, string][] = [
    ['abc', 'abc', 'u'],
    ['(?i)abc', 'abc', 'ui'],
    ['(?is)a.c', 'a.c', 'uis'],
    ['(?i)(?m)^a$', '^a$', 'uim'],
    ['(?P<id>\\d+)', '(?<id>\\d+)', 'u'],
    ['(?<id>\\d+)', '(?<id>\\d+)', 'u'],
    ['abc\\z', 'abc$', 'u'],
    ['(?m)abc\\z', 'abc(?![\\s\\S])', 'um'],
    ['\\Aabc', '^abc', 'u'],
    ['a{2,3}', 'a{2,3}', 'u'],
    ['a{,3}', 'a\\{,3\\}', 'u'],
    ['a}', 'a\\}', 'u'],
    ['a]', 'a\\]', 'u'],
    ['[]a]', '[\\]a]', 'u'],
    ['[[:digit:]x]', '[0-9x]', 'u'],
    ['\\Q*.+\\E+', '\\*\\.\\++', 'u'],
    ['\\x{263a}', '\\u{263a}', 'u'],
    ['\\101', '\\u{41}', 'u'],
    ['\\0', '\\u{0}', 'u'],
    ['\\pL\\p{Greek}\\PN\\p{^Lu}', '\\p{L}\\p{Script=Greek}\\P{N}\\P{Lu}', 'u'],
    ['\\s', '[\\t\\n\\f\\r ]', 'u'],
    ['a\\-b\\#\\!', 'a\\-b#!', 'u'],
    ['\\a', '\\x07', 'u'],
    ['(?:ab)*?', '(?:ab)*?', 'u'],
    ['(?:\\d{1,3}\\.){3}\\d{1,3}', '(?:\\d{1,3}\\.){3}\\d{1,3}', 'u'],
  ]
  for (const [re2, source, flags] of translations) {
    it(`${re2} → /${source}/${flags}`, () => {
      assert.deepEqual(translateRe2(re2), { source, flags })
    })
  }
})

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
    ['(a)\\1', /backreference/],
    ['(a)\\9', /backreference/],
    ['(?P=n)', /backreference/],
    ['a(?=b)', /lookahead/],
    ['a(?!b)', /lookahead/],
    ['(?<=a)b', /lookbehind/],
    ['(?<!a)b', /lookbehind/],
    ['a(?i)b', /only supported at the start/],
    ['(?i:a)b', /inline flag groups/],
    ['(?U)a+', /ungreedy/],
    ['(?i-s)a', /clearing flags/],
    ['(?x)a', /unknown flag/],
    ['\\C', /\\C/],
    ['a*+', /possessive/],
    ['a**', /nested repetition/],
    ['*a', /missing argument/],
    ['(a+)+', /nested quantifiers/],
    ['(a*)*', /nested quantifiers/],
    ['(?:a|b+)*c', /nested quantifiers/],
    ['((ab)+c)+', /nested quantifiers/],
    ['(a{1,5}){2,}', /nested quantifiers/],
    ['a{1001}', /repeat count/],
    ['a{3,2}', /invalid repeat count/],
    ['[a', /missing closing \]/],
    ['(a', /missing closing "\)"/],
    ['a)', /unexpected "\)"/],
    ['\\k<n>', /invalid escape/],
    ['\\Z', /invalid escape/],
    ['a\\', /trailing backslash/],
    ['[[:^alpha:]]', /negated POSIX/],
    ['[[:foo:]]', /invalid POSIX class/],
    ['\\p{Nope}', /invalid syntax/],
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

  it('accepts bounded repetition of groups with quantifiers', () => {
    assert.ok(compileUserRegex('^(?:\\d{1,3}\\.){3}\\d{1,3}$', 'ip').test('10.0.0.1'))
    assert.ok(compileUserRegex('(a+)?b', 'opt').test('aab'))
  })

  it('caps the matched input length', () => {
    const re = compileUserRegex('b$', 'cap')
    assert.equal(testUserRegex(re, `${'a'.repeat(MAX_REGEX_INPUT)}b`), false)
    assert.equal(testUserRegex(re, `${'a'.repeat(MAX_REGEX_INPUT - 1)}b`), true)
  })
})
