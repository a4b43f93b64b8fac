/**
 * Parser of the condition language (condition.md §2) with BFE's real precedence: `!` binds
 * tightest, then `||`, then `&&` (BFE's grammar declares `&&` below `||`); both binary operators
 * are left-associative.
 */
import type { Arg, Node } from './ast.js'
import { ConditionError } from './errors.js'
import { type Token, TokenKind, tokenize } from './lexer.js'

export function parse(src: string): Node {
  const tokens = tokenize(src)
  let k = 0
  const peek = (): Token => tokens[k] ?? eof
  const eof = tokens[tokens.length - 1] as Token
  const next = (): Token => {
    const t = peek()
    if (k < tokens.length - 1) k++
    return t
  }
  const unexpected = (t: Token, expected?: string): never => {
    const what =
      t.kind === TokenKind.Eof
        ? 'end of condition'
        : t.kind === t.text
          ? JSON.stringify(t.text)
          : `${t.kind} ${JSON.stringify(t.text)}`
    const hint = expected === undefined ? '' : `, expected ${expected}`
    throw new ConditionError(`syntax error: unexpected ${what}${hint}`, t.pos)
  }

  // and := or ('&&' or)*
  const parseAnd = (): Node => {
    let left = parseOr()
    while (peek().kind === TokenKind.And) {
      next()
      const right = parseOr()
      left = { kind: 'and', left, right, pos: left.pos, end: right.end, paren: false }
    }
    return left
  }
  // or := unary ('||' unary)*
  const parseOr = (): Node => {
    let left = parseUnary()
    while (peek().kind === TokenKind.Or) {
      next()
      const right = parseUnary()
      left = { kind: 'or', left, right, pos: left.pos, end: right.end, paren: false }
    }
    return left
  }
  const parseUnary = (): Node => {
    const t = peek()
    if (t.kind === TokenKind.Not) {
      next()
      const operand = parseUnary()
      return { kind: 'not', operand, pos: t.pos, end: operand.end, paren: false }
    }
    return parsePrimary()
  }
  const parsePrimary = (): Node => {
    const t = next()
    if (t.kind === TokenKind.LParen) {
      const inner = parseAnd()
      const close = next()
      if (close.kind !== TokenKind.RParen) unexpected(close, '")"')
      inner.paren = true
      return inner
    }
    if (t.kind !== TokenKind.Ident) return unexpected(t, 'a primitive call, "!" or "("')
    if (peek().kind !== TokenKind.LParen) {
      return { kind: 'ident', name: t.value, pos: t.pos, end: t.end, paren: false }
    }
    next()
    const args: Arg[] = []
    if (peek().kind === TokenKind.RParen) {
      const close = next()
      return { kind: 'call', name: t.value, args, pos: t.pos, end: close.end, paren: false }
    }
    for (;;) {
      const a = next()
      if (a.kind === TokenKind.String) args.push({ kind: 'string', value: a.value, pos: a.pos })
      else if (a.kind === TokenKind.Bool) args.push({ kind: 'bool', value: a.value, pos: a.pos })
      else if (a.kind === TokenKind.Int) args.push({ kind: 'int', value: a.value, pos: a.pos })
      else unexpected(a, 'an argument (string, true/false)')
      const sep = next()
      if (sep.kind === TokenKind.RParen) {
        return { kind: 'call', name: t.value, args, pos: t.pos, end: sep.end, paren: false }
      }
      if (sep.kind !== TokenKind.Comma) unexpected(sep, '"," or ")"')
    }
  }

  const root = parseAnd()
  const last = next()
  if (last.kind !== TokenKind.Eof) unexpected(last)
  return root
}

/**
 * If `&&` and `||` are mixed without parentheses somewhere in the tree, returns the expression
 * written with the grouping BFE applies; otherwise undefined.
 */
export function mixedPrecedenceGrouping(root: Node, src: string): string | undefined {
  const mixed = (n: Node): boolean => {
    switch (n.kind) {
      case 'and':
        return (
          (n.left.kind === 'or' && !n.left.paren) ||
          (n.right.kind === 'or' && !n.right.paren) ||
          mixed(n.left) ||
          mixed(n.right)
        )
      case 'or':
        return mixed(n.left) || mixed(n.right)
      case 'not':
        return mixed(n.operand)
      default:
        return false
    }
  }
  if (!mixed(root)) return undefined
  const show = (n: Node, wrapBinary: boolean): string => {
    switch (n.kind) {
      case 'and':
      case 'or': {
        const op = n.kind === 'and' ? ' && ' : ' || '
        const s = show(n.left, n.left.kind !== n.kind) + op + show(n.right, true)
        return wrapBinary || n.paren ? `(${s})` : s
      }
      case 'not':
        return `!${show(n.operand, true)}`
      default:
        return src.slice(n.pos.offset, n.end)
    }
  }
  return show(root, false)
}
