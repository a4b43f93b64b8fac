/**
 * The condition language of BFE (spec/condition.md): `compileCondition` parses, validates and
 * compiles an expression such as `req_host_in("a.com") && req_path_prefix_in("/api/", false)` into
 * closures. Every error is a `ConditionError` with the position of the offending token.
 */
import type { BfeRequest } from '../basic/request.js'
import type { Session } from '../basic/session.js'
import { compileAst, interpretAst } from './compile.js'
import { mixedPrecedenceGrouping, parse } from './parser.js'

export { ConditionError, type SourcePosition, UserRegexError } from './errors.js'
export {
  compileUserRegex,
  MAX_REGEX_INPUT,
  testUserRegex,
  UserRegex,
  type UserRegexMatch,
} from './regex.js'

export interface Condition {
  readonly source: string
  /** Evaluates against a request. Allocates nothing. */
  test(req: BfeRequest): boolean
  /** Evaluates with no HTTP request (e.g. at TLS handshake): most primitives are false. */
  testSession(ses: Session): boolean
}

export interface CompileResult {
  condition: Condition
  /** Load-time warnings (for example `&&` and `||` mixed without parentheses). */
  warnings: string[]
}

/** Parses and compiles a condition. Throws `ConditionError`. */
export function compileCondition(source: string): CompileResult {
  return build(source, false)
}

/** Same as `compileCondition` but evaluates by walking the tree (reference form for tests). */
export function compileConditionInterpreted(source: string): CompileResult {
  return build(source, true)
}

function build(source: string, interpreted: boolean): CompileResult {
  const ast = parse(source)
  const pred = interpreted ? interpretAst(ast) : compileAst(ast)
  const warnings: string[] = []
  const grouped = mixedPrecedenceGrouping(ast, source)
  if (grouped !== undefined) {
    warnings.push(
      `"&&" and "||" are mixed without parentheses; BFE gives "||" the higher precedence, so this reads as: ${grouped}`,
    )
  }
  const condition: Condition = { source, test: pred.req, testSession: pred.ses }
  return { condition, warnings }
}
