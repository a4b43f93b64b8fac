import type { BfeRequest } from '../../basic/request.js'
import type { Session } from '../../basic/session.js'

export type ReqPred = (req: BfeRequest) => boolean
export type SesPred = (ses: Session) => boolean

/** A compiled primitive: its request form and, for the few that have one, its session form. */
export interface Leaf {
  readonly req: ReqPred
  /** Evaluation without an HTTP request; absent = always false. */
  readonly ses?: SesPred
}

export type ParamType = 'S' | 'B'

export interface Param {
  readonly name: string
  readonly type: ParamType
}

/** Typed access to a call's arguments (already checked against the signature). */
export interface BuildArgs {
  str(i: number): string
  bool(i: number): boolean
  /** Throws a load error positioned at argument `i` (or at the call when i < 0). */
  fail(reason: string, i?: number): never
  /** The primitive's name, for messages. */
  readonly name: string
}

export interface PrimitiveDef {
  readonly params: readonly Param[]
  readonly build: (args: BuildArgs) => Leaf
}

/** Shorthand to declare a signature: `sig('host_list:S', 'case_insensitive:B')`. */
export function sig(...specs: string[]): Param[] {
  return specs.map((s) => {
    const i = s.lastIndexOf(':')
    return { name: s.slice(0, i), type: s.slice(i + 1) === 'B' ? 'B' : 'S' }
  })
}

export const alwaysFalse: ReqPred = () => false
