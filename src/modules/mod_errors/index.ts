import { ini } from '../../config/ini.js'
import { type CondValue, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext, Reloadable } from '../../module/context.js'
import {
  type ProductRuleDecl,
  type ProductRuleTable,
  productRuleFile,
} from '../../module/rule-table.js'
import type { BfeModule, ExplainStep } from '../../module/types.js'
import { type ErrorsAction, errorsAction, replaceResponse } from './actions.js'

/** mod_errors.conf (spec/modules.md §11). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_errors/mod_errors.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** The rule declaration; page paths in the data are resolved with `dataFile`. */
export function errorsRules(dataFile: (p: string) => string): ProductRuleDecl<ErrorsRule> {
  return {
    rule: s.object({
      Cond: s.cond(),
      Actions: s.array(errorsAction(dataFile), { minItems: 1, maxItems: 1 }),
    }),
    title: 'mod_errors errors_rule.data',
  }
}

export interface ErrorsRule {
  Cond: CondValue
  Actions: ErrorsAction[]
}

/** An action in words: `RETURN 404 text/html (1234 bytes)`, `REDIRECT https://...`. */
export function describeAction(a: ErrorsAction): string {
  return a.cmd === 'RETURN'
    ? `RETURN ${a.status} ${a.contentType} (${a.page.length} bytes)`
    : `REDIRECT ${a.url}`
}

/**
 * mod_errors: at HandleReadResponse, the first rule of the request's product whose condition
 * matches (usually `res_code_in`) replaces the response: a page read at load with the given
 * status, or a 302 to a URL. The backend's body is not read any further.
 */
export function createModErrors(): BfeModule {
  let loaded: Reloadable<ProductRuleTable<ErrorsRule>> | undefined
  return {
    name: 'mod_errors',
    dataFiles: [
      productRuleFile(
        'mod_errors/errors_rule.data',
        errorsRules((p) => p),
      ),
    ],
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.ReadResponse || loaded === undefined) return undefined
      const list = loaded.value.rules(req.product)
      if (list.length === 0) return undefined
      // The rules are about the backend's answer (res_code_in ...), which explain does not have.
      return {
        summary: `${list.length} rule(s) on the response; the response is not known, so none is evaluated`,
        rules: list.map((r, i) => ({ index: i, cond: r.Cond.source, matched: undefined })),
        detail: {
          responseKnown: false,
          actions: list.map((r) => describeAction(r.Actions[0] as ErrorsAction)),
        },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const decl = errorsRules((p) => ctx.dataFile(p))
      const table = ctx.ruleTable('mod_errors', ctx.confFile(conf.Basic.DataPath), decl)
      loaded = table
      const debug = conf.Log.OpenDebug
      ctx.callbacks.addResponseFilter(
        CallbackPoint.ReadResponse,
        function errors(req, res) {
          if (res === undefined) return HandlerResult.GoOn
          const rules = table.value.rules(req.product)
          for (let i = 0; i < rules.length; i++) {
            const r = rules[i] as ErrorsRule
            if (!r.Cond.condition.test(req)) continue
            const a = r.Actions[0] as ErrorsAction
            if (debug)
              ctx.log.debug({ rule: r.Cond.source, status: res.statusCode, cmd: a.cmd }, 'replaced')
            replaceResponse(req, res, a)
            break
          }
          return HandlerResult.GoOn
        },
        'errors',
      )
    },
  }
}
