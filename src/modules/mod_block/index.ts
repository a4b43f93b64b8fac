import type { BfeRequest } from '../../basic/request.js'
import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext, Reloadable } from '../../module/context.js'
import {
  loadProductRules,
  type ProductRuleDecl,
  type ProductRuleTable,
  productRuleFile,
} from '../../module/rule-table.js'
import type { BfeModule, ExplainStep } from '../../module/types.js'
import { firstMatchIndex, firstMatchSeen } from '../explain-rules.js'
import { type Blocklist, loadBlocklist } from './blocklist.js'

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

/** The rule that decides a request: the first matching `global` rule, else the product's. */
export interface BlockVerdict {
  /** Which list the rule is in. */
  readonly list: 'global' | 'product'
  /** Its index in that list. */
  readonly index: number
  readonly rule: BlockRule
}

/**
 * What mod_block's rules decide for `req` (pure; shared by the filter and the explain hook): the
 * first matching rule of the `global` list, else of the product's list, undefined when none.
 */
export function blockVerdict(
  t: ProductRuleTable<BlockRule>,
  req: BfeRequest,
): BlockVerdict | undefined {
  const global = t.rules('global')
  if (global.length > 0) {
    const i = firstMatchIndex(global, req)
    if (i !== -1) return { list: 'global', index: i, rule: global[i] as BlockRule }
  }
  const own = t.rules(req.product)
  if (own.length === 0) return undefined
  const i = firstMatchIndex(own, req)
  return i === -1 ? undefined : { list: 'product', index: i, rule: own[i] as BlockRule }
}

/** Applies a verdict to the request as the filter does (context, error code); the result. */
function applyVerdict(req: BfeRequest, v: BlockVerdict): HandlerResult {
  req.context.set(CTX_BLOCK_INFO, { BlockRuleName: v.rule.Name })
  if (v.rule.Action.Cmd === 'ALLOW') return HandlerResult.GoOn
  req.errCode = ERR_BLOCK
  req.errMsg = `blocked by rule ${v.rule.Name}`
  return HandlerResult.Close
}

/**
 * mod_block: at HandleAccept a connection whose remote address (the PROXY source when there is
 * one) is in the global blocklist is dropped without a response; at HandleFoundProduct the
 * `global` rules and then the product's rules are tried in order, and the first that matches
 * decides: `ALLOW` lets the request through, `CLOSE` drops the connection without a response.
 */
export function createModBlock(): BfeModule {
  let ipTable: Reloadable<Blocklist> | undefined
  let ruleTable: Reloadable<ProductRuleTable<BlockRule>> | undefined
  return {
    name: 'mod_block',
    dataFiles: [productRuleFile('mod_block/block_rules.data', blockRules)],
    explain(req, point): ExplainStep | undefined {
      if (point === CallbackPoint.Accept) {
        if (ipTable === undefined) return undefined
        const cip = req.session.remoteAddr
        if (cip === '') return { summary: 'no client address (--cip): blocklist not checked' }
        if (!ipTable.value.set.has(cip))
          return { summary: `${cip} is not in the IP blocklist`, detail: { blocklisted: false } }
        return {
          summary: `${cip} is in the IP blocklist: connection closed`,
          result: HandlerResult.Close,
          detail: { blocklisted: true },
        }
      }
      if (point !== CallbackPoint.FoundProduct || ruleTable === undefined) return undefined
      const t = ruleTable.value
      const global = t.rules('global')
      const own = t.rules(req.product)
      if (global.length === 0 && own.length === 0) return undefined
      const v = blockVerdict(t, req)
      const gi = v?.list === 'global' ? v.index : -1
      const rules = firstMatchSeen(global, gi)
      if (v?.list !== 'global')
        rules.push(...firstMatchSeen(own, v === undefined ? -1 : v.index, global.length))
      else
        rules.push(
          ...own.map((r, i) => ({
            index: global.length + i,
            cond: r.Cond.source,
            matched: undefined,
          })),
        )
      if (v === undefined) return { summary: 'no rule matched', rules }
      const result = applyVerdict(req, v)
      const where = `${v.list} rule ${v.index} "${v.rule.Name}"`
      return result === HandlerResult.GoOn
        ? { summary: `allowed by ${where}`, rules, detail: { rule: v.rule.Name, action: 'ALLOW' } }
        : {
            summary: `blocked by ${where}: connection closed without a response`,
            result,
            rules,
            detail: { rule: v.rule.Name, action: 'CLOSE' },
          }
    },
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
      ipTable = ips
      ruleTable = rules
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

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function productBlock(req) {
          c.REQ_TOTAL++
          const v = blockVerdict(rules.value, req)
          if (v === undefined) {
            // BFE counts an accept only when the product has rules of its own.
            if (rules.value.rules(req.product).length > 0) c.REQ_ACCEPT++
            return HandlerResult.GoOn
          }
          const r = applyVerdict(req, v)
          if (r === HandlerResult.GoOn) c.REQ_ACCEPT++
          else {
            c.REQ_REFUSE++
            if (debug)
              ctx.log.debug({ rule: v.rule.Name, remote: req.session.remoteAddr }, 'blocked')
          }
          return r
        },
        'productBlock',
      )
    },
  }
}
