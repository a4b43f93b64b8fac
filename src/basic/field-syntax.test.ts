import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isFieldValue, isToken } from './field-syntax.js'

// The grammar written as regular expressions, checked against the table-driven functions for
// every character up to U+01FF and a few beyond.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/

const chars: string[] = []
for (let c = 0; c < 0x200; c++) chars.push(String.fromCharCode(c))
chars.push('\u2028', '\uffff', '\ud83d\ude00')

test('isToken agrees with the tchar grammar for every character, alone and inside a name', () => {
  for (const ch of chars) {
    assert.equal(isToken(ch), TOKEN.test(ch), JSON.stringify(ch))
    const inside = `X-${ch}-Name`
    assert.equal(isToken(inside), TOKEN.test(inside), JSON.stringify(inside))
  }
  assert.equal(isToken(''), false)
  assert.equal(isToken('Content-Type'), true)
  assert.equal(isToken('Bad Name'), false)
  assert.equal(isToken('Bad:Name'), false)
})

test('isFieldValue refuses CR, LF, NUL, controls but HTAB, DEL and characters beyond 0xff', () => {
  for (const ch of chars) {
    for (const v of [ch, `a${ch}b`, `${'x'.repeat(40)}${ch}`])
      assert.equal(isFieldValue(v), !BAD_VALUE.test(v), JSON.stringify(v))
  }
  assert.equal(isFieldValue(''), true)
  assert.equal(isFieldValue('a\r\nX-Injected: 1'), false)
  assert.equal(isFieldValue('tab\there, caf\u00e9'), true)
  // a value built by concatenation (a cons string) is checked the same
  const cons = `${'a'.repeat(20)}${String(Date.now())}\n`
  assert.equal(isFieldValue(cons), false)
})
