import type { Transform } from 'node:stream'
import type { BfeResponse } from '../../basic/response.js'
import { bound } from '../../config/bounds.js'
import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { transformResponseBody } from '../../module/body.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import { type ProductRuleDecl, productRuleFile } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'
import { acceptsCoding } from './accept.js'
import { type CompressAction, FlushingCompressor } from './compressor.js'

/** mod_compress.conf (spec/modules.md §9). */
const confSchema = {
  Basic: { ProductRulePath: ini.string('mod_compress/compress_rule.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** Brotli quality when a BROTLI rule gives none (decisions.md D9: 4 for dynamic content). */
export const DEFAULT_BROTLI_QUALITY = 4

const action = s.check(
  s.object({
    Cmd: s.string({ oneOf: ['GZIP', 'BROTLI'] }),
    Quality: s.optional(s.int({ bound: bound(-2, 11) })),
    FlushSize: s.int({ bound: bound(64, 4096, 'bytes') }),
  }),
  (a, node) => {
    if (a.Cmd === 'GZIP') {
      if (a.Quality === undefined) node.get('Quality').fail('is required')
      else if (a.Quality > 9)
        node.get('Quality').fail(`must be in -2..9 for GZIP, got ${a.Quality}`)
    } else if (a.Quality !== undefined && a.Quality < 0)
      node.get('Quality').fail(`must be in 0..11 for BROTLI, got ${a.Quality}`)
  },
)

/** One rule of compress_rule.data. */
const rule = s.object({ Cond: s.cond(), Action: action })

export const compressRules: ProductRuleDecl<Infer<typeof rule>> = {
  rule,
  title: 'mod_compress compress_rule.data',
}

/** The action a rule runs, with D9's brotli default applied. */
export function ruleAction(a: Infer<typeof action>): CompressAction {
  return {
    Cmd: a.Cmd === 'GZIP' ? 'GZIP' : 'BROTLI',
    Quality: a.Quality ?? DEFAULT_BROTLI_QUALITY,
    FlushSize: a.FlushSize,
  }
}

/**
 * Why a response is never compressed (decisions.md D9 and HTTP), or undefined: no body (HEAD,
 * 1xx, 204, 304, an empty body), a partial response (206), an encoded body, an event stream.
 */
export function notCompressible(method: string, res: BfeResponse): string | undefined {
  const st = res.statusCode
  if (method === 'HEAD') return 'HEAD request'
  if (st < 200 || st === 204 || st === 304) return `status ${st} has no body`
  if (st === 206) return 'partial content'
  const body = res.body
  if (
    body === undefined ||
    ((typeof body === 'string' || Buffer.isBuffer(body)) && body.length === 0)
  )
    return 'empty body'
  const h = res.headers
  if (h.get('content-length') === '0') return 'empty body'
  const ce = h.get('content-encoding')
  if (ce !== undefined && ce.trim().toLowerCase() !== 'identity') return 'already encoded'
  const ct = h.get('content-type')
  if (ct?.trimStart().toLowerCase().startsWith('text/event-stream')) return 'event stream'
  return undefined
}

/** Adds `Accept-Encoding` to `Vary` unless it is there (or `Vary: *`). */
export function addVary(res: BfeResponse): void {
  const all = res.headers.getAll('vary')
  for (const v of all) {
    const l = v.toLowerCase()
    if (l.includes('accept-encoding') || l.trim() === '*') return
  }
  res.headers.add('Vary', 'Accept-Encoding')
}

/**
 * mod_compress: at HandleReadResponse, the first rule of the request's product that matches
 * compresses the response body with gzip or brotli when the client accepts that coding, as a
 * stream flushed every FlushSize input bytes. Sets Content-Encoding and Vary, drops
 * Content-Length, turns a strong ETag weak.
 */
export function createModCompress(): BfeModule {
  return {
    name: 'mod_compress',
    dataFiles: [productRuleFile('mod_compress/compress_rule.data', compressRules)],
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const debug = conf.Log.OpenDebug
      const table = ctx.ruleTable(
        'mod_compress',
        ctx.confFile(conf.Basic.ProductRulePath || 'mod_compress/compress_rule.data'),
        compressRules,
      )
      const m = ctx.metrics([
        'REQ_TOTAL',
        'REQ_SUPPORT_COMPRESS',
        'REQ_MATCH_COMPRESS_RULE',
        'RES_ENCODE_COMPRESS',
        'RES_ENCODE_GZIP_COMPRESS',
        'RES_ENCODE_BR_COMPRESS',
      ])
      // One factory per action, made when a table loads: nothing is built per request.
      const factories = new WeakMap<object, () => Transform>()
      const factory = (a: Infer<typeof action>): (() => Transform) => {
        let f = factories.get(a)
        if (f === undefined) {
          const act = ruleAction(a)
          f = () => new FlushingCompressor(act)
          factories.set(a, f)
        }
        return f
      }

      ctx.callbacks.addResponseFilter(
        CallbackPoint.ReadResponse,
        function compress(req, res) {
          if (res === undefined) return HandlerResult.GoOn
          const ae = req.headers.get('accept-encoding')
          if (ae === undefined) return HandlerResult.GoOn
          const gzip = acceptsCoding(ae, 'gzip')
          const br = acceptsCoding(ae, 'br')
          if (!gzip && !br) return HandlerResult.GoOn
          m.REQ_SUPPORT_COMPRESS++
          const ce = res.headers.get('content-encoding')
          if (ce !== undefined && ce.trim().toLowerCase() !== 'identity') return HandlerResult.GoOn
          m.REQ_TOTAL++
          const rules = table.value.rules(req.product)
          for (let i = 0; i < rules.length; i++) {
            const r = rules[i]
            if (r === undefined || !r.Cond.condition.test(req)) continue
            m.REQ_MATCH_COMPRESS_RULE++
            const isGzip = r.Action.Cmd === 'GZIP'
            if (isGzip ? !gzip : !br) return HandlerResult.GoOn
            const why = notCompressible(req.method, res)
            if (why !== undefined) {
              if (debug) ctx.log.debug({ uri: req.rawUri, why }, 'not compressed')
              return HandlerResult.GoOn
            }
            const h = res.headers
            h.set('Content-Encoding', isGzip ? 'gzip' : 'br')
            h.delete('content-length')
            addVary(res)
            const etag = h.get('etag')
            if (etag?.startsWith('"')) h.set('ETag', `W/${etag}`)
            transformResponseBody(res, factory(r.Action))
            m.RES_ENCODE_COMPRESS++
            if (isGzip) m.RES_ENCODE_GZIP_COMPRESS++
            else m.RES_ENCODE_BR_COMPRESS++
            return HandlerResult.GoOn
          }
          return HandlerResult.GoOn
        },
        'compress',
      )
    },
  }
}
