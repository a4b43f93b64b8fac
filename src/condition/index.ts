// Placeholder until the condition compiler lands (issue 3): see condition/README in the issue.
import type { BfeRequest } from '../basic/request.js'
import type { Session } from '../basic/session.js'

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

export function compileCondition(source: string): CompileResult {
  throw new Error(`condition compiler not built yet: ${source}`)
}
