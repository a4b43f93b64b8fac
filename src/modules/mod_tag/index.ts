import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext, Reloadable } from '../../module/context.js'
import {
  type ProductRuleDecl,
  type ProductRuleTable,
  productRuleFile,
} from '../../module/rule-table.js'
import type { BfeModule, ExplainStep } from '../../module/types.js'

/** mod_tag.conf (spec/modules.md §15). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_tag/tag_rule.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** One rule of tag_rule.data. */
const rule = s.object({
  Cond: s.cond(),
  Param: s.object({
    TagName: s.string({ nonEmpty: true }),
    TagValue: s.string({ nonEmpty: true }),
  }),
  Last: s.bool(false),
})

export const tagRules: ProductRuleDecl<Infer<typeof rule>> = {
  rule,
  versionNonEmpty: true,
  title: 'mod_tag tag_rule.data',
}

/**
 * mod_tag: at HandleFoundProduct, every rule of the request's product whose condition matches
 * appends its TagValue to the request's tags under TagName (read by `req_tag_match`); a matching
 * rule with `Last` stops.
 */
export function createModTag(): BfeModule {
  let loaded: Reloadable<ProductRuleTable<Infer<typeof rule>>> | undefined
  return {
    name: 'mod_tag',
    dataFiles: [productRuleFile('mod_tag/tag_rule.data', tagRules)],
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.FoundProduct || loaded === undefined) return undefined
      const rules = loaded.value.rules(req.product)
      if (rules.length === 0) return undefined
      const seen: { index: number; cond: string; matched: boolean | undefined }[] = []
      const added: string[] = []
      let stopped = false
      for (let i = 0; i < rules.length; i++) {
        const r = rules[i]
        if (r === undefined) continue
        const matched = stopped ? undefined : r.Cond.condition.test(req)
        seen.push({ index: i, cond: r.Cond.source, matched })
        if (matched !== true) continue
        const { TagName, TagValue } = r.Param
        const list = req.tags.get(TagName)
        if (list === undefined) req.tags.set(TagName, [TagValue])
        else list.push(TagValue)
        added.push(`${TagName}=${TagValue}`)
        if (r.Last) stopped = true
      }
      return {
        summary: added.length === 0 ? 'no rule matched' : `tag ${added.join(', ')}`,
        rules: seen,
        detail: { tags: added },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const table = ctx.ruleTable('mod_tag', ctx.confFile(conf.Basic.DataPath), tagRules)
      loaded = table
      const debug = conf.Log.OpenDebug
      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function tag(req) {
          const rules = table.value.rules(req.product)
          for (let i = 0; i < rules.length; i++) {
            const r = rules[i]
            if (r === undefined || !r.Cond.condition.test(req)) continue
            const { TagName, TagValue } = r.Param
            const list = req.tags.get(TagName)
            if (list === undefined) req.tags.set(TagName, [TagValue])
            else list.push(TagValue)
            if (debug) ctx.log.debug({ tag: TagName, value: TagValue, uri: req.rawUri }, 'tagged')
            if (r.Last) break
          }
          return HandlerResult.GoOn
        },
        'tag',
      )
    },
  }
}
