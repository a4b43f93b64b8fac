import { bound } from '../../config/bounds.js'
import { readJsonFile } from '../../config/data-file.js'
import { ini } from '../../config/ini.js'
import type { JsonNode } from '../../config/json-node.js'
import { type DecodeCx, type Infer, s, schemaDocument } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import { schemaId } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'
import { normalizeIp } from '../../util/ip.js'

/** mod_tcp_keepalive.conf (spec/modules.md §16). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_tcp_keepalive/tcp_keepalive.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** Linux's limits for TCP_KEEPIDLE / TCP_KEEPINTVL (seconds) and TCP_KEEPCNT. */
const KEEP_SECONDS = bound(0, 32_767, 's')
const KEEP_COUNT = bound(0, 127)

const param = s.object({
  Disable: s.bool(false),
  KeepIdle: s.int({ default: 0, bound: KEEP_SECONDS }),
  KeepIntvl: s.int({ default: 0, bound: KEEP_SECONDS }),
  KeepCnt: s.int({ default: 0, bound: KEEP_COUNT }),
})
export type KeepAliveParam = Infer<typeof param>
const NO_PARAM: KeepAliveParam = { Disable: false, KeepIdle: 0, KeepIntvl: 0, KeepCnt: 0 }

const rule = s.object({
  VipConf: s.array(s.string(), { default: [] }),
  KeepAliveParam: s.optional(param),
})

const fileSchema = s.object({
  Version: s.string({ nonEmpty: true }),
  Config: s.map(s.array(rule, { default: [] }), 'product'),
})

/** A loaded tcp_keepalive.data: product → VIP (canonical text) → parameters. */
export interface KeepAliveTable {
  readonly version: string
  readonly products: ReadonlyMap<string, ReadonlyMap<string, KeepAliveParam>>
  /** Some rule sets KeepIntvl or KeepCnt (accepted, not applied: see the docs). */
  readonly unapplied: boolean
}

/** Decodes tcp_keepalive.data. Errors name the file and the JSON pointer. */
export function decodeKeepAlive(root: JsonNode): KeepAliveTable {
  if (root.absent) root.fail('is empty')
  const cx: DecodeCx = { warnings: [] }
  const v = fileSchema.decode(root, cx)
  const products = new Map<string, Map<string, KeepAliveParam>>()
  let unapplied = false
  const config = root.get('Config')
  for (const [product, rules] of v.Config) {
    const pnode = config.get(product)
    if (product === '') pnode.fail('product name must not be empty')
    const vips = new Map<string, KeepAliveParam>()
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i] as Infer<typeof rule>
      const p = r.KeepAliveParam ?? NO_PARAM
      if (!p.Disable && (p.KeepIntvl > 0 || p.KeepCnt > 0)) unapplied = true
      for (let j = 0; j < r.VipConf.length; j++) {
        const text = r.VipConf[j] as string
        const vnode: JsonNode = pnode.get(String(i)).get('VipConf').get(String(j))
        const ip = text.trim() === text ? normalizeIp(text) : undefined
        if (ip === undefined) return vnode.fail(`"${text}" is not an IP address`)
        if (vips.has(ip)) vnode.fail(`VIP ${text} appears twice in product ${product}`)
        vips.set(ip, p)
      }
    }
    products.set(product, vips)
  }
  return { version: v.Version, products, unapplied }
}

export function loadKeepAlive(file: string): KeepAliveTable {
  return decodeKeepAlive(readJsonFile(file))
}

const COUNTERS = [
  'CONN_TO_SET',
  'CONN_SET_KEEP_IDLE',
  'CONN_SET_KEEP_IDLE_ERROR',
  'CONN_SET_KEEP_INTVL',
  'CONN_SET_KEEP_INTVL_ERROR',
  'CONN_SET_KEEP_CNT',
  'CONN_SET_KEEP_CNT_ERROR',
  'CONN_DISABLE_KEEP_ALIVE',
  'CONN_DISABLE_KEEP_ALIVE_ERROR',
  'CONN_CONVERT_TO_TCP_CONN_ERROR',
] as const

/**
 * mod_tcp_keepalive: at HandleAccept, a connection whose session product (found from its VIP, so
 * only behind the PROXY protocol) and VIP have a rule gets TCP keep-alive disabled, or enabled with
 * the rule's idle time. Node sets SO_KEEPALIVE and TCP_KEEPIDLE only: KeepIntvl and KeepCnt are
 * validated but not applied.
 */
export function createModTcpKeepAlive(): BfeModule {
  return {
    name: 'mod_tcp_keepalive',
    dataFiles: [
      {
        kind: 'mod_tcp_keepalive/tcp_keepalive.data',
        jsonSchema: () =>
          schemaDocument(
            schemaId('mod_tcp_keepalive/tcp_keepalive.data'),
            'mod_tcp_keepalive tcp_keepalive.data',
            fileSchema,
          ),
      },
    ],
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const debug = conf.Log.OpenDebug
      const file = ctx.confFile(conf.Basic.DataPath || 'mod_tcp_keepalive/tcp_keepalive.data')
      const notApplied = (t: KeepAliveTable): string[] =>
        t.unapplied
          ? [
              `${file}: KeepIntvl and KeepCnt are accepted but not applied (Node sets only the idle time)`,
            ]
          : []
      // BFE's reload handler answers no version.
      const table = ctx.reloadable('mod_tcp_keepalive', file, (f) => {
        const t = loadKeepAlive(f)
        return { value: t, warnings: notApplied(t) }
      })
      const c = ctx.metrics(COUNTERS)
      ctx.callbacks.addAcceptFilter(
        CallbackPoint.Accept,
        function keepAlive(ses) {
          const vips = table.value.products.get(ses.product)
          if (vips === undefined || ses.vip === undefined) return HandlerResult.GoOn
          const vip = normalizeIp(ses.vip)
          const p = vip === undefined ? undefined : vips.get(vip)
          if (p === undefined) return HandlerResult.GoOn
          c.CONN_TO_SET++
          const sock = ses.connection
          if (sock === undefined || sock.destroyed) {
            c.CONN_CONVERT_TO_TCP_CONN_ERROR++
            return HandlerResult.GoOn
          }
          if (p.Disable) {
            sock.setKeepAlive(false)
            c.CONN_DISABLE_KEEP_ALIVE++
          } else {
            // With KeepIdle 0 the system's idle time stays in force.
            sock.setKeepAlive(true, p.KeepIdle * 1000)
            if (p.KeepIdle > 0) c.CONN_SET_KEEP_IDLE++
          }
          if (debug)
            ctx.log.debug({ vip, product: ses.product, param: p }, 'keep-alive set for connection')
          return HandlerResult.GoOn
        },
        'keepAlive',
      )
    },
  }
}
