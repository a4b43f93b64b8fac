import type { BfeRequest } from '../../basic/request.js'
import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import { loadProductRules, type ProductRuleDecl } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'
import { loadBlocklist } from './blocklist.js'

/** mod_block.conf (spec/modules.md §2). */
const confSchema = {
  Basic: {
    ProductRulePath: ini.string('mod_block/block_rules.data'),
    IPBlocklistPath: ini.string('mod_block/ip_blocklist.data'),
  },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** Session and request error code of a blocked connection or request. */
export const ERR_BLOCK = 'BLOCK'
/** Request context key holding the matched rule (`{ BlockRuleName }`), for logging. */
export const CTX_BLOCK_INFO = 'mod_block.block_info'

/** One rule of block_rules.data. */
const rule = s.object({
  Name: s.string(),
  Cond: s.cond(),
  Action: s.object({
    Cmd: s.string({ oneOf: ['CLOSE', 'ALLOW'] }),
    Params: s.array(s.string(), { maxItems: 0 }),
  }),
})
export type BlockRule = Infer<typeof rule>

export const blockRules: ProductRuleDecl<BlockRule> = {
  rule,
  title: 'mod_block block_rules.data',
  checkList(rules, node) {
    const seen = new Set<string>()
    for (let i = 0; i < rules.length; i++) {
      const name = (rules[i] as BlockRule).Name
      if (seen.has(name))
        node.items()[i]?.get('Name').fail(`"${name}" is used by an earlier rule of this product`)
      seen.add(name)
    }
  },
}

const COUNTERS = [
  'CONN_TOTAL',
  'CONN_ACCEPT',
  'CONN_REFUSE',
  'REQ_TOTAL',
  'REQ_ACCEPT',
  'REQ_REFUSE',
  'WRONG_COMMAND',
] as const

/** What a rule list decided: no rule matched, or a filter result. */
const NO_MATCH = -1

/**
 * mod_block: at HandleAccept a connection whose remote address (the PROXY source when there is
 * one) is in the global blocklist is dropped without a response; at HandleFoundProduct the
 * `global` rules and then the product's rules are tried in order, and the first that matches
 * decides: `ALLOW` lets the request through, `CLOSE` drops the connection without a response.
 */
export function createModBlock(): BfeModule {
  return {
    name: 'mod_block',
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const debug = conf.Log.OpenDebug
      const rulePath = ctx.confFile(conf.Basic.ProductRulePath || 'mod_block/block_rules.data')
      const ipPath = ctx.confFile(conf.Basic.IPBlocklistPath || 'mod_block/ip_blocklist.data')
      const ips = ctx.reloadable('mod_block.global_ip_table', ipPath, (f) => ({
        value: loadBlocklist(f),
      }))
      // BFE's reload handlers for mod_block answer no version.
      const rules = ctx.reloadable('mod_block.product_rule_table', rulePath, (f) => {
        const t = loadProductRules(f, blockRules)
        return { value: t, warnings: t.warnings }
      })
      const c = ctx.metrics(COUNTERS)

      ctx.callbacks.addAcceptFilter(
        CallbackPoint.Accept,
        function globalBlock(ses) {
          c.CONN_TOTAL++
          if (ips.value.set.has(ses.remoteAddr)) {
            if (ses.errCode === undefined) {
              ses.errCode = ERR_BLOCK
              ses.errMsg = 'connection blocked'
            }
            c.CONN_REFUSE++
            if (debug) ctx.log.debug({ remote: ses.remoteAddr }, 'connection refused')
            return HandlerResult.Close
          }
          c.CONN_ACCEPT++
          return HandlerResult.GoOn
        },
        'globalBlock',
      )

      const decide = (req: BfeRequest, list: readonly BlockRule[]): number => {
        for (let i = 0; i < list.length; i++) {
          const r = list[i] as BlockRule
          if (!r.Cond.condition.test(req)) continue
          req.context.set(CTX_BLOCK_INFO, { BlockRuleName: r.Name })
          if (r.Action.Cmd === 'ALLOW') {
            c.REQ_ACCEPT++
            return HandlerResult.GoOn
          }
          req.errCode = ERR_BLOCK
          req.errMsg = `blocked by rule ${r.Name}`
          c.REQ_REFUSE++
          if (debug) ctx.log.debug({ rule: r.Name, remote: req.session.remoteAddr }, 'blocked')
          return HandlerResult.Close
        }
        return NO_MATCH
      }

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function productBlock(req) {
          c.REQ_TOTAL++
          const t = rules.value
          const global = t.rules('global')
          if (global.length > 0) {
            const r = decide(req, global)
            if (r !== NO_MATCH) return r as HandlerResult
          }
          const own = t.rules(req.product)
          if (own.length === 0) return HandlerResult.GoOn
          const r = decide(req, own)
          if (r !== NO_MATCH) return r as HandlerResult
          c.REQ_ACCEPT++
          return HandlerResult.GoOn
        },
        'productBlock',
      )
    },
  }
}
