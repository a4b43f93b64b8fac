import type { SourcePosition } from './errors.js'

export type ArgKind = 'string' | 'bool' | 'int'

export interface Arg {
  readonly kind: ArgKind
  /** Raw string contents, `true`/`false`, or the integer text. */
  readonly value: string
  readonly pos: SourcePosition
}

interface NodeBase {
  readonly pos: SourcePosition
  /** Offset just past the node's source text. */
  readonly end: number
  /** Written inside parentheses (the parser sets this). */
  paren: boolean
}

export interface BinaryNode extends NodeBase {
  readonly kind: 'and' | 'or'
  readonly left: Node
  readonly right: Node
}

export interface NotNode extends NodeBase {
  readonly kind: 'not'
  readonly operand: Node
}

export interface CallNode extends NodeBase {
  readonly kind: 'call'
  readonly name: string
  readonly args: readonly Arg[]
}

/** A bare identifier: parses, but is rejected when the condition is built. */
export interface IdentNode extends NodeBase {
  readonly kind: 'ident'
  readonly name: string
}

export type Node = BinaryNode | NotNode | CallNode | IdentNode
