import { BfeError } from '../basic/errors.js'

/** Where something is in a condition's source text: 0-based offset, 1-based line and column. */
export interface SourcePosition {
  readonly offset: number
  readonly line: number
  readonly column: number
}

/** A condition that cannot be compiled: syntax, unknown primitive, bad argument ... */
export class ConditionError extends BfeError {
  readonly position: SourcePosition
  /** The message without the position. */
  readonly reason: string
  constructor(reason: string, position: SourcePosition, options?: { cause?: unknown }) {
    super(
      'BFE_ERR_COND_INVALID',
      `${reason} (line ${position.line}, column ${position.column})`,
      options,
    )
    this.name = 'ConditionError'
    this.position = position
    this.reason = reason
  }
}

/** A user regular expression that cannot be used (bad syntax, untranslatable, catastrophic). */
export class UserRegexError extends BfeError {
  readonly pattern: string
  readonly reason: string
  constructor(where: string, pattern: string, reason: string, options?: { cause?: unknown }) {
    const prefix = where === '' ? '' : `${where}: `
    super('BFE_ERR_REGEX_INVALID', `${prefix}regex ${JSON.stringify(pattern)}: ${reason}`, options)
    this.name = 'UserRegexError'
    this.pattern = pattern
    this.reason = reason
  }
}
