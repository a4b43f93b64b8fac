import type { BfeRequest } from '../basic/request.js'
import type { CondValue } from '../config/schema.js'

/** One rule as `bfe explain` lists it (ExplainStep.rules). */
export interface RuleSeen {
  readonly index: number
  readonly cond: string
  readonly matched: boolean | undefined
}

/** A rule with a compiled condition and its source text. */
export interface SourcedRule {
  readonly Cond: CondValue
}

/**
 * The index of the first rule of `rules` whose condition matches `req`, -1 when none does: the
 * verdict of every first-match module, used by its filter and by its explain hook.
 */
export function firstMatchIndex(rules: readonly SourcedRule[], req: BfeRequest): number {
  for (let i = 0; i < rules.length; i++)
    if ((rules[i] as SourcedRule).Cond.condition.test(req)) return i
  return -1
}

/**
 * The rules of a first-match list as explain shows them, given the index that matched (-1: none):
 * the earlier ones did not match, the later ones were not evaluated. `offset` numbers them when
 * the list continues another (mod_block's `global` rules before the product's).
 */
export function firstMatchSeen(
  rules: readonly SourcedRule[],
  matched: number,
  offset = 0,
): RuleSeen[] {
  const out: RuleSeen[] = []
  for (let i = 0; i < rules.length; i++) {
    const cond = (rules[i] as SourcedRule).Cond.source
    const m = matched === -1 || i < matched ? false : i === matched ? true : undefined
    out.push({ index: offset + i, cond, matched: m })
  }
  return out
}
