import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import type { ProductRuleDecl } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'

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
  return {
    name: 'mod_tag',
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const table = ctx.ruleTable('mod_tag', ctx.confFile(conf.Basic.DataPath), tagRules)
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
