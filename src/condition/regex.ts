/**
 * The one place user regular expressions are compiled (decision D2). Patterns are written in Go's
 * RE2 syntax; they are translated to a JavaScript `RegExp` with the `u` flag:
 *
 * - leading inline flags `(?i)`, `(?s)`, `(?m)` (and combinations such as `(?is)`) become JS flags;
 * - `(?P<name>` becomes `(?<name>`, `\z` becomes `$`, `\A` becomes `^`;
 * - `\Q...\E`, octal and `\x{...}` escapes, `\pL`/`\p{Greek}` classes and `[[:alpha:]]` classes
 *   are rewritten; punctuation escapes that are legal in RE2 but not under `u` are made literal;
 * - a lone `{`, `}` or `]` (literal in RE2) is escaped.
 *
 * What has no faithful translation, or is not RE2 at all, is rejected with a reason: backreferences,
 * lookaround, inline flags after the start or in `(?i:...)` groups, `(?U)`, `\C`, possessive
 * quantifiers. Patterns whose backtracking can explode (an unbounded quantifier over a group that
 * itself holds a variable quantifier, `(a+)+`) are rejected too, because V8 backtracks and RE2
 * does not.
 *
 * Matching is an unanchored search; `testUserRegex` caps the input length.
 */
import { UserRegexError } from './errors.js'

/** Longest input a user regex is run on; longer inputs are cut to this many characters. */
export const MAX_REGEX_INPUT = 8192

/** RE2 refuses repeat counts above this. */
const MAX_REPEAT = 1000

/**
 * Compiles a user (RE2-syntax) regex. `where` names the place for the error message
 * (`req_path_regmatch`, `rewrite.data: /Config/p1/0/Actions/0`). Throws `UserRegexError`.
 */
export function compileUserRegex(pattern: string, where: string): RegExp {
  let translated: { source: string; flags: string }
  try {
    translated = translateRe2(pattern)
  } catch (err) {
    if (err instanceof TranslateError) throw new UserRegexError(where, pattern, err.message)
    throw err
  }
  try {
    return new RegExp(translated.source, translated.flags)
  } catch (err) {
    const msg = err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : ''
    throw new UserRegexError(where, pattern, `invalid syntax: ${msg}`, { cause: err })
  }
}

/** Unanchored search of `re` in `input`, the input cut to `MAX_REGEX_INPUT` characters. */
export function testUserRegex(re: RegExp, input: string): boolean {
  return re.test(input.length > MAX_REGEX_INPUT ? input.slice(0, MAX_REGEX_INPUT) : input)
}

class TranslateError extends Error {}

function fail(reason: string): never {
  throw new TranslateError(reason)
}

/** JS syntax characters that may be escaped under the `u` flag. */
const JS_SYNTAX = new Set('^$\\.*+?()[]{}|/')

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`\\{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
}

interface GroupState {
  /** The group holds a quantifier that can match a variable number of times. */
  hasVariableRepeat: boolean
}

/** Translates an RE2 pattern to a JS source + flags, or throws `TranslateError`. */
export function translateRe2(p: string): { source: string; flags: string } {
  let i = 0
  let flags = 'u'
  // Leading flag groups: (?i) (?s) (?m) and combinations.
  for (;;) {
    const m = /^\(\?([A-Za-z-]*)\)/.exec(p.slice(i))
    if (m === null) break
    for (const f of m[1] ?? '') {
      if (f === 'i' || f === 's' || f === 'm') {
        if (!flags.includes(f)) flags += f
      } else if (f === 'U') fail('the ungreedy flag (?U) is not supported')
      else if (f === '-') fail('clearing flags with (?-...) is not supported')
      else fail(`unknown flag "${f}" in (?${m[1] ?? ''})`)
    }
    if (m[1] === '') fail('empty flag group (?)')
    i += m[0].length
  }
  const multiline = flags.includes('m')

  let out = ''
  const stack: GroupState[] = [{ hasVariableRepeat: false }]
  // What a following quantifier would apply to.
  let prev: 'none' | 'atom' | 'group' | 'repeat' = 'none'
  let prevGroupVariable = false

  const applyRepeat = (min: number, max: number, text: string): void => {
    if (prev === 'none') fail(`missing argument to repetition operator "${text}"`)
    if (prev === 'repeat') fail(`invalid nested repetition operator "${text}"`)
    const variable = max > min && max > 1
    const unbounded = max === Number.POSITIVE_INFINITY
    if (prev === 'group' && prevGroupVariable && unbounded) {
      fail(
        `nested quantifiers ("${text}" over a group that repeats) can backtrack catastrophically`,
      )
    }
    const top = stack[stack.length - 1]
    if (top !== undefined && (variable || (prev === 'group' && prevGroupVariable)))
      top.hasVariableRepeat = true
    out += text
    // A lazy marker may follow.
    if (p[i] === '?') {
      out += '?'
      i++
    }
    if (p[i] === '+') fail('possessive quantifiers are not supported')
    prev = 'repeat'
  }

  while (i < p.length) {
    const c = p[i] ?? ''
    switch (c) {
      case '\\': {
        const r = translateEscape(p, i, false, multiline)
        out += r.text
        i = r.next
        prev = r.atom ? 'atom' : 'none'
        break
      }
      case '[': {
        const r = translateClass(p, i)
        out += r.text
        i = r.next
        prev = 'atom'
        break
      }
      case '(': {
        if (p[i + 1] === '?') {
          const rest = p.slice(i + 2)
          if (rest.startsWith(':')) {
            out += '(?:'
            i += 3
          } else if (rest.startsWith('P<') || (rest.startsWith('<') && !/^<[=!]/.test(rest))) {
            const start = rest.startsWith('P<') ? 2 : 1
            const close = rest.indexOf('>', start)
            if (close === -1) fail('unterminated group name')
            const name = rest.slice(start, close)
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail(`invalid group name "${name}"`)
            out += `(?<${name}>`
            i += 2 + close + 1
          } else if (rest.startsWith('=') || rest.startsWith('!')) {
            fail('lookahead assertions are not supported (not RE2)')
          } else if (rest.startsWith('<=') || rest.startsWith('<!')) {
            fail('lookbehind assertions are not supported (not RE2)')
          } else if (rest.startsWith('P=') || rest.startsWith('P>')) {
            fail('backreferences are not supported (not RE2)')
          } else if (/^[A-Za-z-]*\)/.test(rest)) {
            fail('inline flags are only supported at the start of the pattern')
          } else if (/^[A-Za-z-]*:/.test(rest)) {
            fail('inline flag groups such as (?i:...) are not supported')
          } else {
            fail('unknown group syntax after "(?"')
          }
        } else {
          out += '('
          i++
        }
        stack.push({ hasVariableRepeat: false })
        prev = 'none'
        break
      }
      case ')': {
        if (stack.length === 1) fail('unexpected ")"')
        const g = stack.pop()
        out += ')'
        i++
        prev = 'group'
        prevGroupVariable = g?.hasVariableRepeat ?? false
        const parent = stack[stack.length - 1]
        if (parent !== undefined && prevGroupVariable) parent.hasVariableRepeat = true
        break
      }
      case '|':
        out += '|'
        i++
        prev = 'none'
        break
      case '*':
        i++
        applyRepeat(0, Number.POSITIVE_INFINITY, '*')
        break
      case '+':
        i++
        applyRepeat(1, Number.POSITIVE_INFINITY, '+')
        break
      case '?':
        i++
        applyRepeat(0, 1, '?')
        break
      case '{': {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i))
        if (m === null) {
          out += '\\{'
          i++
          prev = 'atom'
          break
        }
        const min = Number(m[1])
        const max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3])
        if (min > MAX_REPEAT || (max !== Number.POSITIVE_INFINITY && max > MAX_REPEAT))
          fail(`repeat count above ${MAX_REPEAT} in "${m[0]}"`)
        if (max < min) fail(`invalid repeat count "${m[0]}"`)
        i += m[0].length
        applyRepeat(min, max, m[0])
        break
      }
      case '}':
      case ']':
        out += `\\${c}`
        i++
        prev = 'atom'
        break
      case '^':
      case '$':
        out += c
        i++
        prev = 'atom'
        break
      default: {
        // Copy one code point.
        const cp = p.codePointAt(i) ?? 0
        const ch = String.fromCodePoint(cp)
        out += ch
        i += ch.length
        prev = 'atom'
      }
    }
  }
  if (stack.length !== 1) fail('missing closing ")"')
  return { source: out, flags }
}

function hex(cp: number): string {
  return `\\u{${cp.toString(16)}}`
}

/** Escapes one literal character for a JS `u` regex (inside or outside a class). */
function literal(ch: string): string {
  if (JS_SYNTAX.has(ch) || ch === '-') return `\\${ch}`
  return ch
}

/** Translates the escape at p[i] === '\\'. */
function translateEscape(
  p: string,
  i: number,
  inClass: boolean,
  multiline: boolean,
): { text: string; next: number; atom: boolean } {
  const c = p[i + 1]
  if (c === undefined) fail('trailing backslash at end of pattern')
  const next = i + 2
  switch (c) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
      return { text: `\\${c}`, next, atom: true }
    case 's':
      // RE2's \s is ASCII whitespace without \v.
      return { text: inClass ? '\\t\\n\\f\\r ' : '[\\t\\n\\f\\r ]', next, atom: true }
    case 'S':
      return { text: inClass ? '\\S' : '[^\\t\\n\\f\\r ]', next, atom: true }
    case 'b':
    case 'B':
      if (inClass) fail(`\\${c} is not allowed in a character class`)
      return { text: `\\${c}`, next, atom: false }
    case 'A':
      if (inClass) fail('\\A is not allowed in a character class')
      return { text: multiline ? '(?<![\\s\\S])' : '^', next, atom: false }
    case 'z':
      if (inClass) fail('\\z is not allowed in a character class')
      return { text: multiline ? '(?![\\s\\S])' : '$', next, atom: false }
    case 'a':
      return { text: '\\x07', next, atom: true }
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'v':
      return { text: `\\${c}`, next, atom: true }
    case 'x': {
      if (p[next] === '{') {
        const close = p.indexOf('}', next)
        const digits = close === -1 ? '' : p.slice(next + 1, close)
        if (!/^[0-9A-Fa-f]{1,8}$/.test(digits)) fail('invalid \\x{...} escape')
        const cp = Number.parseInt(digits, 16)
        if (cp > 0x10ffff) fail('\\x{...} escape out of range')
        return { text: hex(cp), next: close + 1, atom: true }
      }
      const two = p.slice(next, next + 2)
      if (!/^[0-9A-Fa-f]{2}$/.test(two)) fail('invalid \\x escape')
      return { text: `\\x${two}`, next: next + 2, atom: true }
    }
    case 'p':
    case 'P': {
      let name: string
      let end: number
      if (p[next] === '{') {
        const close = p.indexOf('}', next)
        if (close === -1) fail('unterminated \\p{...}')
        name = p.slice(next + 1, close)
        end = close + 1
      } else {
        name = p[next] ?? ''
        end = next + 1
      }
      let negate = c === 'P'
      if (name.startsWith('^')) {
        negate = !negate
        name = name.slice(1)
      }
      if (!/^[A-Za-z_]+$/.test(name)) fail(`invalid Unicode class \\${c}{${name}}`)
      const prop = name.length <= 2 || name === 'Any' ? name : `Script=${name}`
      return { text: `\\${negate ? 'P' : 'p'}{${prop}}`, next: end, atom: true }
    }
    case 'Q': {
      const close = p.indexOf('\\E', next)
      const body = close === -1 ? p.slice(next) : p.slice(next, close)
      let text = ''
      for (const ch of body) text += literal(ch)
      // A quantifier after \Q...\E applies to the last character, as in RE2.
      return { text, next: close === -1 ? p.length : close + 2, atom: body !== '' }
    }
    case 'C':
      fail('\\C (any byte) is not supported')
      break
    default:
      break
  }
  if (c >= '0' && c <= '9') {
    if (c === '8' || c === '9') fail(`backreference \\${c} is not supported (not RE2)`)
    const m = /^[0-7]{1,3}/.exec(p.slice(i + 1))
    const digits = m?.[0] ?? c
    if (c !== '0' && digits.length === 1) fail(`backreference \\${c} is not supported (not RE2)`)
    return { text: hex(Number.parseInt(digits, 8)), next: i + 1 + digits.length, atom: true }
  }
  if (/^[!-/:-@[-`{-~]$/.test(c)) {
    // ASCII punctuation: always a literal in RE2.
    return { text: literal(c), next, atom: true }
  }
  fail(`invalid escape sequence \\${c}`)
}

/** Translates the bracket expression starting at p[i] === '['. */
function translateClass(p: string, i: number): { text: string; next: number } {
  let out = '['
  let j = i + 1
  if (p[j] === '^') {
    out += '^'
    j++
  }
  let first = true
  while (j < p.length) {
    const c = p[j] ?? ''
    if (c === ']' && !first) return { text: `${out}]`, next: j + 1 }
    first = false
    if (c === '[' && p[j + 1] === ':') {
      const close = p.indexOf(':]', j + 2)
      if (close !== -1) {
        const name = p.slice(j + 2, close)
        if (name.startsWith('^')) fail(`negated POSIX class [:${name}:] is not supported`)
        const body = POSIX_CLASSES[name]
        if (body === undefined) fail(`invalid POSIX class [:${name}:]`)
        out += body
        j = close + 2
        continue
      }
    }
    if (c === '\\') {
      const r = translateEscape(p, j, true, false)
      out += r.text
      j = r.next
      continue
    }
    if (c === '[' || c === ']') {
      out += `\\${c}`
      j++
      continue
    }
    const cp = p.codePointAt(j) ?? 0
    const ch = String.fromCodePoint(cp)
    out += ch
    j += ch.length
  }
  fail('missing closing ] of character class')
}
