/**
 * The one place user regular expressions are compiled (decisions D2, D22). Patterns are Go RE2
 * syntax, BFE's dialect, and they run on `re2js`, a JavaScript port of RE2: the syntax accepted and
 * refused is RE2's (`(?P<name>...)`, `(?i)` anywhere and `(?i:...)` groups, `(?U)`, `\z`, `\Q...\E`,
 * `\pL`, `[[:alpha:]]` ... are accepted; backreferences, lookaround, possessive quantifiers and `\C`
 * are refused), and matching takes time linear in the input, whatever the pattern: no pattern and
 * no input can stall a worker. No JavaScript `RegExp` is involved.
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
  private readonly re: RE2JS

  constructor(source: string, re: RE2JS) {
    this.source = source
    this.re = re
    this.groupCount = re.groupCount()
  }

  /** True if the pattern matches anywhere in `input`. */
  test(input: string): boolean {
    return this.re.test(input.length > MAX_REGEX_INPUT ? input.slice(0, MAX_REGEX_INPUT) : input)
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
    return new UserRegex(pattern, RE2JS.compile(pattern))
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
