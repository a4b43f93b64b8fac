import type { Session } from '../../basic/session.js'
import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import {
  AccessLogFile,
  checkLogWritable,
  logSectionSchema,
  logTarget,
} from '../../log/access-log.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import { loadProductRules, type ProductRuleDecl, productRuleFile } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'

/** mod_key_log.conf (spec/modules.md §16). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_key_log/key_log.data') },
  Log: { ...logSectionSchema, OpenDebug: ini.bool(false) },
} as const

const rule = s.object({ Cond: s.cond() })
export type KeyLogRule = Infer<typeof rule>

export const keyLogRules: ProductRuleDecl<KeyLogRule> = {
  rule,
  title: 'mod_key_log key_log.data',
}

const GLOBAL = 'global'

/** Rules by product; a product listed with no rules still hides `global` (as in BFE). */
export interface KeyLogTable {
  readonly products: ReadonlyMap<string, readonly KeyLogRule[]>
}

export function loadKeyLogTable(file: string): {
  value: KeyLogTable
  version: string
  warnings: readonly string[]
} {
  const t = loadProductRules(file, keyLogRules)
  const products = new Map<string, readonly KeyLogRule[]>()
  for (const p of t.productNames()) products.set(p, t.rules(p))
  return { value: { products }, version: t.versionText(), warnings: t.warnings }
}

/** The rules that apply to a session: its (VIP) product's, else `global`'s. */
export function rulesFor(t: KeyLogTable, ses: Session): readonly KeyLogRule[] | undefined {
  return t.products.get(ses.product) ?? t.products.get(GLOBAL)
}

const COUNTERS = ['KEY_LOG_SESSIONS', 'KEY_LOG_LINES', 'LOG_LINES_DROPPED'] as const

/**
 * mod_key_log: writes the TLS secrets of the connections a rule selects, in the NSS key log
 * format (`CLIENT_RANDOM <client random> <master secret>` for TLS 1.2, the `*_TRAFFIC_SECRET_0`
 * family for TLS 1.3), so that captured traffic can be decrypted (Wireshark's "(Pre)-Master-Secret
 * log"). At HandleAccept it asks the TLS stage to collect the key log of sessions that have rules;
 * at HandleHandshake the rules (conditions on the session only) decide whether they are written.
 */
export function createModKeyLog(): BfeModule {
  return {
    name: 'mod_key_log',
    dataFiles: [productRuleFile('mod_key_log/key_log.data', keyLogRules)],
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const { OpenDebug, ...logSection } = conf.Log
      const target = logTarget(logSection, ctx.confPath, (p) => ctx.confFile(p))
      checkLogWritable(target, ctx.confPath)
      const table = ctx.reloadable(
        'mod_key_log',
        ctx.confFile(conf.Basic.DataPath),
        loadKeyLogTable,
      )
      const m = ctx.metrics(COUNTERS)
      const file = new AccessLogFile(target, {
        onDrop: (n) => {
          m.LOG_LINES_DROPPED += n
        },
      })
      ctx.onClose(() => file.close())
      ctx.callbacks.addAcceptFilter(
        CallbackPoint.Accept,
        function keyLogCollect(ses) {
          if (!ses.isSecure) return HandlerResult.GoOn
          const rules = rulesFor(table.value, ses)
          if (rules !== undefined && rules.length > 0) ses.tlsKeyLog = []
          return HandlerResult.GoOn
        },
        'key_log_collect',
      )
      ctx.callbacks.addAcceptFilter(
        CallbackPoint.Handshake,
        function keyLog(ses) {
          const lines = ses.tlsKeyLog
          if (lines === undefined) return HandlerResult.GoOn
          ses.tlsKeyLog = undefined
          const rules = rulesFor(table.value, ses)
          if (rules === undefined || ses.tlsState === undefined) return HandlerResult.GoOn
          for (let i = 0; i < rules.length; i++) {
            if (!(rules[i] as KeyLogRule).Cond.condition.testSession(ses)) continue
            let text = ''
            for (const l of lines) {
              const line = l.toString('latin1')
              text += line.endsWith('\n') ? line : `${line}\n`
            }
            if (text !== '') file.write(text)
            m.KEY_LOG_SESSIONS++
            m.KEY_LOG_LINES += lines.length
            if (OpenDebug)
              ctx.log.debug({ remote: ses.remoteAddr, lines: lines.length }, 'key logged')
            break
          }
          return HandlerResult.GoOn
        },
        'key_log',
      )
    },
  }
}
