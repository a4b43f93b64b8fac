/**
 * Tokeniser of the condition language (condition.md §1). String literals are validated but not
 * unescaped: a token's `value` is the raw text between the quotes.
 */
import { ConditionError, type SourcePosition } from './errors.js'

export const TokenKind = {
  Ident: 'identifier',
  String: 'string',
  Bool: 'bool',
  Int: 'integer',
  And: '&&',
  Or: '||',
  Not: '!',
  LParen: '(',
  RParen: ')',
  Comma: ',',
  Eof: 'end of condition',
} as const
export type TokenKind = (typeof TokenKind)[keyof typeof TokenKind]

export interface Token {
  readonly kind: TokenKind
  /** Source text of the token. */
  readonly text: string
  /** Identifier name, string contents (raw, CR removed for raw strings), or literal text. */
  readonly value: string
  readonly pos: SourcePosition
  /** Offset just past the token. */
  readonly end: number
}

/** Go keywords: reserved, they make a condition invalid. */
const KEYWORDS = new Set([
  'break',
  'case',
  'chan',
  'const',
  'continue',
  'default',
  'defer',
  'else',
  'fallthrough',
  'for',
  'func',
  'go',
  'goto',
  'if',
  'import',
  'interface',
  'map',
  'package',
  'range',
  'return',
  'select',
  'struct',
  'switch',
  'type',
  'var',
])

const IDENT_START = /[\p{L}_-]/u
const IDENT_PART = /[\p{L}\p{Nd}_-]/u

/** Splits `src` into tokens (the last one is `Eof`). Throws `ConditionError`. */
export function tokenize(src: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  let line = 1
  let lineStart = 0

  const posAt = (offset: number): SourcePosition => ({
    offset,
    line,
    column: offset - lineStart + 1,
  })
  const fail = (reason: string, offset: number): never => {
    throw new ConditionError(reason, posAt(offset))
  }
  const push = (kind: TokenKind, start: number, end: number, value: string): void => {
    tokens.push({ kind, text: src.slice(start, end), value, pos: posAt(start), end })
  }

  while (i < src.length) {
    const c = src[i] ?? ''
    if (c === '\n') {
      i++
      line++
      lineStart = i
      continue
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++
      continue
    }
    const start = i
    if (c === '/') {
      if (src[i + 1] !== '/') fail('syntax error: unexpected character "/"', i)
      while (i < src.length && src[i] !== '\n') i++
      continue
    }
    if (c === '"') {
      i++
      for (;;) {
        const d = src[i]
        if (d === undefined || d === '\n')
          fail('syntax error: string literal not terminated', start)
        if (d === '"') break
        if (d === '\\') i = checkEscape(src, i, fail)
        else i++
      }
      push(TokenKind.String, start, i + 1, src.slice(start + 1, i))
      i++
      continue
    }
    if (c === '`') {
      const close = src.indexOf('`', i + 1)
      if (close === -1) fail('syntax error: raw string literal not terminated', start)
      const body = src.slice(i + 1, close)
      push(TokenKind.String, start, close + 1, body.replace(/\r/g, ''))
      // Keep line numbers right after a multi-line raw string.
      for (let k = i + 1; k < close; k++) {
        if (src[k] === '\n') {
          line++
          lineStart = k + 1
        }
      }
      i = close + 1
      continue
    }
    if (c >= '0' && c <= '9') {
      i = scanNumber(src, i, fail)
      push(TokenKind.Int, start, i, src.slice(start, i))
      continue
    }
    if (c === '.' && /[0-9]/.test(src[i + 1] ?? '')) {
      fail('syntax error: floating-point literals are not supported', i)
    }
    if (c === '&' || c === '|') {
      if (src[i + 1] !== c)
        fail(`syntax error: unexpected character "${c}" (did you mean "${c}${c}"?)`, i)
      push(c === '&' ? TokenKind.And : TokenKind.Or, start, i + 2, c + c)
      i += 2
      continue
    }
    if (c === '!' || c === '(' || c === ')' || c === ',') {
      const kind =
        c === '!'
          ? TokenKind.Not
          : c === '('
            ? TokenKind.LParen
            : c === ')'
              ? TokenKind.RParen
              : TokenKind.Comma
      push(kind, start, i + 1, c)
      i++
      continue
    }
    const cp = src.codePointAt(i) ?? 0
    const ch = String.fromCodePoint(cp)
    if (IDENT_START.test(ch)) {
      i += ch.length
      while (i < src.length) {
        const n = String.fromCodePoint(src.codePointAt(i) ?? 0)
        if (!IDENT_PART.test(n)) break
        i += n.length
      }
      const name = src.slice(start, i)
      if (KEYWORDS.has(name)) fail(`syntax error: "${name}" is a reserved keyword`, start)
      if (name === 'true' || name === 'false') push(TokenKind.Bool, start, i, name)
      else push(TokenKind.Ident, start, i, name)
      continue
    }
    fail(`syntax error: unexpected character ${JSON.stringify(ch)}`, i)
  }
  push(TokenKind.Eof, i, i, '')
  return tokens
}

/** Validates the escape at src[i] === '\\' inside a "..." literal; returns the offset after it. */
function checkEscape(
  src: string,
  i: number,
  fail: (reason: string, offset: number) => never,
): number {
  const c = src[i + 1] ?? ''
  const bad = (): never => fail('syntax error: unknown escape sequence', i)
  if ('abfnrtv.\\"'.includes(c) && c !== '') return i + 2
  let digits = 0
  let base = 16
  if (c >= '0' && c <= '7') {
    digits = 3
    base = 8
  } else if (c === 'x') digits = 2
  else if (c === 'u') digits = 4
  else if (c === 'U') digits = 8
  else bad()
  const start = base === 8 ? i + 1 : i + 2
  const text = src.slice(start, start + digits)
  const re = base === 8 ? /^[0-7]+$/ : /^[0-9A-Fa-f]+$/
  if (text.length !== digits || !re.test(text)) bad()
  const value = Number.parseInt(text, base)
  if (base === 8 && value > 255) fail('syntax error: octal escape value > 255', i)
  if ((c === 'u' || c === 'U') && (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff))) {
    fail('syntax error: escape sequence is an invalid Unicode code point', i)
  }
  return start + digits
}

/** Scans an integer literal; floats and imaginary literals are errors. */
function scanNumber(
  src: string,
  i: number,
  fail: (reason: string, offset: number) => never,
): number {
  const start = i
  let digits = /[0-9_]/
  if (src[i] === '0' && /[xXbBoO]/.test(src[i + 1] ?? '')) {
    const p = (src[i + 1] ?? '').toLowerCase()
    digits = p === 'x' ? /[0-9A-Fa-f_]/ : p === 'b' ? /[01_]/ : /[0-7_]/
    i += 2
  }
  while (i < src.length && digits.test(src[i] ?? '')) i++
  const next = src[i] ?? ''
  const hexLit = /^0[xX]/.test(src.slice(start, start + 2))
  if (
    next === '.' ||
    (!hexLit && (next === 'e' || next === 'E')) ||
    (hexLit && /[pP]/.test(next))
  ) {
    fail('syntax error: floating-point literals are not supported', start)
  }
  if (next === 'i') fail('syntax error: imaginary literals are not supported', start)
  if (/[0-9A-Za-z]/.test(next)) fail('syntax error: invalid number literal', start)
  return i
}
