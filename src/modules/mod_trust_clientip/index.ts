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
import { parseIpLiteral } from '../../util/ip.js'
import { cidrOf, type IpRange, IpSet, rangeOf } from '../../util/ipdict.js'

/** mod_trust_clientip.conf (spec/modules.md §13). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_trust_clientip/trust_client_ip.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** One address scope: `Begin`–`End`, both valid addresses of one family, Begin <= End. */
const scope = s.check(s.object({ Begin: s.string(), End: s.string() }), (v, node) => {
  if (parseIpLiteral(v.Begin) === undefined)
    node.get('Begin').fail(`"${v.Begin}" is not an IP address`)
  if (parseIpLiteral(v.End) === undefined) node.get('End').fail(`"${v.End}" is not an IP address`)
  const r = rangeOf(v.Begin, v.End)
  if (!r.ok) node.fail(r.reason)
})
type Scope = Infer<typeof scope>

/** trust_client_ip.data: `{ Version, Config: { <label>: [ { Begin, End } ] } }`. */
export const trustData: ProductRuleDecl<Scope> = {
  rule: scope,
  title: 'mod_trust_clientip trust_client_ip.data',
}

/** The ranges of a loaded file as one set. */
export function trustSet(t: ProductRuleTable<Scope>): IpSet {
  const ranges: IpRange[] = []
  for (const label of t.productNames()) {
    for (const sc of t.rules(label)) {
      const r = rangeOf(sc.Begin, sc.End)
      if (r.ok) ranges.push(r.range)
    }
  }
  return new IpSet(ranges)
}

/** Private-use ranges (Go's IP.IsPrivate): RFC 1918 and RFC 4193. */
const PRIVATE = new IpSet(
  ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'].map((c) => {
    const r = cidrOf(c)
    if (!r.ok) throw new Error(r.reason)
    return r.range
  }),
)

const COUNTERS = [
  'CONN_TOTAL',
  'CONN_TRUST_CLIENTIP',
  'CONN_ADDR_INTERNAL',
  'CONN_ADDR_INTERNAL_NOT_TRUST',
] as const

/**
 * mod_trust_clientip: at HandleAccept a session whose remote address (the PROXY source when there
 * is one) lies in a trusted range is marked trusted (`session.isTrustIp`). For trusted sessions the
 * pipeline takes the client address from X-Real-Ip / X-Forwarded-For
 * (server/pipeline/client-ip.ts), mod_logid keeps an incoming X-Bfe-Log-Id, and
 * `req_cip_trusted()` holds.
 */
export function createModTrustClientIp(): BfeModule {
  let loaded: Reloadable<IpSet> | undefined
  return {
    name: 'mod_trust_clientip',
    dataFiles: [productRuleFile('mod_trust_clientip/trust_client_ip.data', trustData)],
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.Accept || loaded === undefined) return undefined
      const ses = req.session
      if (ses.remoteAddr === '') return { summary: 'no client address (--cip): not trusted' }
      const trusted = loaded.value.has(ses.remoteAddr)
      ses.isTrustIp = trusted
      return {
        summary: `${ses.remoteAddr} is ${trusted ? '' : 'not '}in a trusted range`,
        detail: { trusted },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const debug = conf.Log.OpenDebug
      const file = ctx.confFile(conf.Basic.DataPath || 'mod_trust_clientip/trust_client_ip.data')
      // BFE's reload handler answers no version.
      const table = ctx.reloadable('mod_trust_clientip', file, (f) => {
        const t = loadProductRules(f, trustData)
        return { value: trustSet(t), warnings: t.warnings }
      })
      loaded = table
      const c = ctx.metrics(COUNTERS)
      ctx.callbacks.addAcceptFilter(
        CallbackPoint.Accept,
        function trust(ses) {
          c.CONN_TOTAL++
          const trusted = table.value.has(ses.remoteAddr)
          if (trusted) c.CONN_TRUST_CLIENTIP++
          ses.isTrustIp = trusted
          if (PRIVATE.has(ses.remoteAddr)) {
            c.CONN_ADDR_INTERNAL++
            if (!trusted) c.CONN_ADDR_INTERNAL_NOT_TRUST++
          }
          if (debug) ctx.log.debug({ remote: ses.remoteAddr, trusted }, 'session checked')
          return HandlerResult.GoOn
        },
        'trust',
      )
    },
  }
}
