/**
 * The one place user regular expressions are compiled (decisions D2, D22). Patterns are Go RE2
 * syntax, BFE's dialect, and they run on `re2js`, a JavaScript port of RE2: the syntax accepted and
 * refused is RE2's (`(?P<name>...)`, `(?i)` anywhere and `(?i:...)` groups, `(?U)`, `\z`, `\Q...\E`,
 * `\pL`, `[[:alpha:]]` ... are accepted; backreferences, lookaround, possessive quantifiers and `\C`
 * are refused), and matching takes time linear in the input, whatever the pattern: no pattern and
 * no input can stall a worker.
 *
 * Every pattern is compiled (and so validated) by re2js. A pattern of the small "plain" subset
 * below is also compiled to a JavaScript `RegExp`, which `test` uses instead, because V8 runs such
 * patterns 5–20x faster (docs/performance.md); the subset is chosen so that the `RegExp` means
 * exactly what the RE2 pattern means and cannot backtrack beyond O(input × pattern) — see
 * `plainJsRegExp`. Everything else, and `exec` always, runs on re2js.
 *
 * Matching is an unanchored search; the input is cut to `MAX_REGEX_INPUT` characters.
 */
import { RE2JS, RE2JSException } from 're2js'
import { UserRegexError } from './errors.js'

/** Longest input a user regex is run on; longer inputs are cut to this many characters. */
export const MAX_REGEX_INPUT = 8192

/** The leftmost match of a user regex: `[0]` is the whole match, `[n]` group n (undefined if unset). */
export type UserRegexMatch = readonly (string | undefined)[]

/** A compiled user regex. Every method caps its input at `MAX_REGEX_INPUT` characters. */
export class UserRegex {
  /** The pattern as written. */
  readonly source: string
  /** Number of capture groups (group 0, the whole match, not counted). */
  readonly groupCount: number
  /** True when `test` runs on a JavaScript `RegExp` (a plain pattern, see `plainJsRegExp`). */
  readonly usesJsRegExp: boolean
  private readonly re: RE2JS
  private readonly js: RegExp | undefined

  constructor(source: string, re: RE2JS, js: RegExp | undefined) {
    this.source = source
    this.re = re
    this.js = js
    this.usesJsRegExp = js !== undefined
    this.groupCount = re.groupCount()
  }

  /** True if the pattern matches anywhere in `input`. */
  test(input: string): boolean {
    const s = input.length > MAX_REGEX_INPUT ? input.slice(0, MAX_REGEX_INPUT) : input
    return this.js === undefined ? this.re.test(s) : this.js.test(s)
  }

  /** The leftmost match with its capture groups, or null. */
  exec(input: string): UserRegexMatch | null {
    const m = this.re.exec(input.length > MAX_REGEX_INPUT ? input.slice(0, MAX_REGEX_INPUT) : input)
    return m === null
      ? null
      : Array.from(m, (g: unknown) => (typeof g === 'string' ? g : undefined))
  }

  /** Capture group names → group numbers. */
  namedGroups(): Readonly<Record<string, number>> {
    return { ...this.re.namedGroups() }
  }

  toString(): string {
    return this.source
  }
}

/**
 * Compiles a user (RE2-syntax) regex. `where` names the place for the error message
 * (`req_path_regmatch`, `rewrite.data: /Config/p1/0/Actions/0`). Throws `UserRegexError`.
 */
export function compileUserRegex(pattern: string, where: string): UserRegex {
  try {
    // No flags: inline flags in the pattern are RE2's, and LOOKBEHINDS (an re2js extension that
    // Go's RE2 does not have) stays off.
    const re = RE2JS.compile(pattern)
    return new UserRegex(pattern, re, plainJsRegExp(pattern))
  } catch (err) {
    if (err instanceof RE2JSException) {
      throw new UserRegexError(where, pattern, reasonOf(err), { cause: err })
    }
    // Anything else (a RangeError from a pattern too large to compile ...) is still a load error
    // for this pattern, never a crash.
    const msg = err instanceof Error ? err.message : String(err)
    throw new UserRegexError(where, pattern, `cannot be compiled: ${msg}`, { cause: err })
  }
}

/** Unanchored search of `re` in `input`, the input cut to `MAX_REGEX_INPUT` characters. */
export function testUserRegex(re: UserRegex, input: string): boolean {
  return re.test(input)
}

/** re2js's message without its prefix, with a hint for the constructs people bring from PCRE/JS. */
function reasonOf(err: RE2JSException): string {
  const msg = err.message.replace(/^error parsing regexp: /, '')
  const hint = pcreHint(msg)
  return hint === '' ? msg : `${msg} (${hint})`
}

/** Keyed on the construct re2js quotes in its message (`\1`, `(?=`, `(?<=a)b`, `*+` ...). */
function pcreHint(msg: string): string {
  if (/`\(\?<[=!]/.test(msg)) return 'lookbehind assertions are not RE2 syntax'
  if (/`\(\?[=!]/.test(msg)) return 'lookahead assertions are not RE2 syntax'
  if (/`\\[1-9gk]|`\(\?P`/.test(msg)) return 'backreferences are not RE2 syntax'
  if (/`\(\?>/.test(msg)) return 'atomic groups are not RE2 syntax'
  if (/repetition operator: `[*+?}]\+/.test(msg) || /`\{[\d,]*\}\+/.test(msg))
    return 'possessive quantifiers are not RE2 syntax'
  if (msg.includes('`\\C`')) return '\\C (any byte) is not supported'
  return ''
}

/** Largest plain pattern, counted repeats written out (`a{1000}` counts 1000). */
const MAX_PLAIN_EXPANDED = 256

/** ASCII punctuation that may stand unescaped as a literal in a plain pattern (outside classes). */
const PLAIN_PUNCT = new Set(' !"#%&\',-/:;<=>@_`~')
/** The same inside a bracket class (`-` is handled apart, `]`, `\\`, `[` and `^` are not plain). */
const PLAIN_CLASS_PUNCT = new Set(' !"#$%&\'()*+,./:;<=>?@_`{|}~')
/** Characters that JavaScript's `u` mode lets (and needs) be escaped. */
const JS_SYNTAX = new Set('^$\\.*+?()[]{}|/')

const isAlnum = (c: string): boolean => /^[0-9A-Za-z]$/.test(c)
const isAsciiPunct = (c: string): boolean => /^[!-/:-@[-`{-~]$/.test(c)

/**
 * The JavaScript `RegExp` (flag `u`) for a "plain" RE2 pattern, or undefined. Plain means:
 *
 * - printable ASCII only, no inline flags, no groups, no alternation;
 * - atoms: literal characters, escaped ASCII punctuation, `\d \D \w \W`, `.` (written `[^\n]`,
 *   RE2's meaning), and bracket classes of ASCII letters, digits, ranges between them, `\d \w`
 *   and punctuation, optionally negated;
 * - `^` only first, `$` or `\z` only last;
 * - quantifiers on single atoms only; a "variable" one (`* + ?`, `{n,m}` with m > n, `{n,}`) at
 *   most once, and only in a pattern anchored with `^`.
 *
 * Same meaning: for these constructs (no case folding, no Unicode classes, no multi-line flags)
 * RE2 and JavaScript's `u` mode define the same sets and the same anchors, so a match exists in one
 * exactly when it exists in the other (the fast-check property in regex.test.ts compares them).
 * Linear: a backtracking search tries each start position (one, if anchored) and, at most one
 * quantifier having a choice, at most input-length + 1 counts for it, each followed by a
 * fixed-length rest: O(input × pattern) in all, the pattern counted with its repeats written out
 * and bounded (`MAX_PLAIN_EXPANDED`), so that a match costs at most a few milliseconds.
 */
export function plainJsRegExp(p: string): RegExp | undefined {
  if (p.length > MAX_PLAIN_EXPANDED) return undefined
  let i = 0
  let out = ''
  const anchored = p.startsWith('^')
  if (anchored) {
    out = '^'
    i = 1
  }
  let variable = 0
  // The pattern's length once counted repeats are written out: the "pattern" factor of the bound.
  let expanded = 0
  let atom = false // the last token can take a quantifier
  while (i < p.length) {
    const c = p[i] ?? ''
    if (c === '$') {
      if (i !== p.length - 1) return undefined
      out += '$'
      i++
      atom = false
      continue
    }
    if (c === '\\') {
      const n = p[i + 1] ?? ''
      if (n === 'z' && i + 2 === p.length) {
        out += '$'
        i += 2
        atom = false
        continue
      }
      if (n === 'd' || n === 'D' || n === 'w' || n === 'W') out += `\\${n}`
      else if (isAsciiPunct(n)) out += JS_SYNTAX.has(n) ? `\\${n}` : n
      else return undefined
      i += 2
      atom = true
      continue
    }
    if (c === '[') {
      const cls = plainClass(p, i)
      if (cls === undefined) return undefined
      out += cls.text
      i = cls.next
      atom = true
      continue
    }
    if (c === '*' || c === '+' || c === '?' || c === '{') {
      let text = c
      let isVariable = true
      if (c === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i))
        if (m === null) {
          // A `{` that starts no repeat count is a literal in RE2.
          out += '\\{'
          i++
          atom = true
          continue
        }
        text = m[0]
        isVariable = m[2] !== undefined && m[3] !== m[1]
        expanded += Number(m[3] === undefined || m[3] === '' ? m[1] : m[3])
      }
      if (!atom) return undefined
      i += text.length
      if (p[i] === '?') {
        text += '?' // lazy: same set of matches
        i++
      }
      out += text
      if (isVariable) variable++
      atom = false
      continue
    }
    if (c === '.') out += '[^\\n]'
    else if (c === '}') out += '\\}'
    else if (isAlnum(c) || PLAIN_PUNCT.has(c)) out += c
    else return undefined // ( ) | ^ ] and anything not printable ASCII
    i++
    atom = true
  }
  if (variable > (anchored ? 1 : 0) || expanded + p.length > MAX_PLAIN_EXPANDED) return undefined
  try {
    return new RegExp(out, 'u')
  } catch {
    return undefined
  }
}

/** A plain bracket class at p[i] === '[' as JavaScript text, or undefined. */
function plainClass(p: string, i: number): { text: string; next: number } | undefined {
  let j = i + 1
  let out = '['
  if (p[j] === '^') {
    out += '^'
    j++
  }
  const start = j
  while (j < p.length) {
    const c = p[j] ?? ''
    if (c === ']' && j > start) return { text: `${out}]`, next: j + 1 }
    if (c === '\\') {
      const n = p[j + 1] ?? ''
      if (n === 'd' || n === 'w') out += `\\${n}`
      else if (isAsciiPunct(n)) out += JS_SYNTAX.has(n) || n === '-' ? `\\${n}` : n
      else return undefined
      j += 2
      continue
    }
    if (isAlnum(c)) {
      const hi = p[j + 2] ?? ''
      if (p[j + 1] === '-' && p[j + 2] !== ']' && p[j + 2] !== undefined) {
        // A range: both ends of the same kind (digit, upper, lower) and in order.
        const kind = (x: string): number => (/\d/.test(x) ? 0 : /[A-Z]/.test(x) ? 1 : 2)
        if (!isAlnum(hi) || kind(c) !== kind(hi) || c > hi) return undefined
        out += `${c}-${hi}`
        j += 3
        continue
      }
      out += c
      j++
      continue
    }
    if (c === '-') {
      // Literal only first or last.
      if (j !== start && p[j + 1] !== ']') return undefined
      out += '\\-'
      j++
      continue
    }
    if (PLAIN_CLASS_PUNCT.has(c)) {
      out += escapeClass(c)
      j++
      continue
    }
    return undefined
  }
  return undefined
}

/** A punctuation character inside a JavaScript `u`-mode class. */
function escapeClass(c: string): string {
  return JS_SYNTAX.has(c) ? `\\${c}` : c
}
