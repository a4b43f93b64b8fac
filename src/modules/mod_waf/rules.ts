import type { HeaderList } from '../../basic/header-list.js'

/**
 * The WAF rules BFE ships. A rule looks at the request headers and says whether it hits.
 * BFE has one: `RuleBashCmd`.
 */
export type WafRuleCheck = (headers: HeaderList) => boolean

/** Skips spaces and tabs from `i`; the index of the next other character (or `s.length`). */
function skipBlank(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i)
    if (c !== 0x20 && c !== 0x09) break
    i++
  }
  return i
}

/**
 * A Shellshock function definition (CVE-2014-6271): the value starts, after optional spaces or
 * tabs, with `(`, `)` and `{` (spaces or tabs between them), and a later `}` (the first one after
 * that `{`) is followed by optional spaces or tabs and `;`.
 */
export function isBashFunctionValue(v: string): boolean {
  let i = skipBlank(v, 0)
  if (v.charCodeAt(i) !== 0x28) return false // (
  i = skipBlank(v, i + 1)
  if (v.charCodeAt(i) !== 0x29) return false // )
  i = skipBlank(v, i + 1)
  if (v.charCodeAt(i) !== 0x7b) return false // {
  const close = v.indexOf('}', i + 1)
  if (close === -1) return false
  return v.charCodeAt(skipBlank(v, close + 1)) === 0x3b // ;
}

/** RuleBashCmd: any request header value is a Shellshock function definition. */
export function ruleBashCmd(headers: HeaderList): boolean {
  const raw = headers.raw
  for (let i = 1; i < raw.length; i += 2) {
    if (isBashFunctionValue(raw[i] as string)) return true
  }
  return false
}

/** Rules by the name used in waf_rule.data. */
export const WAF_RULES: ReadonlyMap<string, WafRuleCheck> = new Map([['RuleBashCmd', ruleBashCmd]])
