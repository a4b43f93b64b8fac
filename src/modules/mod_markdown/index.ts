import { Transform, type TransformCallback } from 'node:stream'
import type { BfeResponse } from '../../basic/response.js'
import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { transformResponseBody } from '../../module/body.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import { type ProductRuleDecl, productRuleFile } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'

/** mod_markdown.conf (spec/modules.md §16). */
const confSchema = {
  Basic: { ProductRulePath: ini.string('mod_markdown/markdown_rule.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** One rule of the rule file: a condition only. */
const rule = s.object({ Cond: s.cond() })

export const markdownRules: ProductRuleDecl<Infer<typeof rule>> = {
  rule,
  title: 'mod_markdown rule file',
}

/** Largest Markdown body rendered (BFE's limit). */
export const MAX_MARKDOWN_BYTES = 32 * 1024
const HTML_TYPE = 'text/html; charset=UTF-8'

/** 1xx, 204 and 304 responses have no body. */
function bodiless(status: number): boolean {
  return status < 200 || status === 204 || status === 304
}

/**
 * Why a response is not rendered, or undefined when it is: Content-Type must contain
 * `text/markdown`, the body must not be chunked and must announce a length of 1..32768 bytes.
 */
export function notRenderable(res: BfeResponse): string | undefined {
  const h = res.headers
  const type = h.get('content-type')
  if (type === undefined || !type.includes('text/markdown'))
    return 'Content-Type is not text/markdown'
  const te = h.get('transfer-encoding')
  if (te?.toLowerCase().includes('chunked')) return 'chunked body'
  const cl = h.get('content-length')
  const n = cl === undefined ? Number.NaN : Number(cl)
  if (!(n >= 1 && n <= MAX_MARKDOWN_BYTES)) return `Content-Length ${cl ?? 'missing'}`
  return undefined
}

export interface RenderCounters {
  RSP_RENDER_SUCCESS: number
  RSP_RENDER_FAILURE: number
  ERR_COUNT_READ_FAIL: number
  ERR_COUNT_RENDER_FAIL: number
}

/**
 * Collects a Markdown body (at most MAX_MARKDOWN_BYTES) and emits its HTML rendering at the end.
 * A body that breaks off or a render error fails the stream (the client sees a broken response).
 */
export class MarkdownRender extends Transform {
  private readonly chunks: Buffer[]
  private size: number
  private readonly m: RenderCounters
  private readonly render: (src: string) => string

  constructor(m: RenderCounters, render: (src: string) => string) {
    super()
    this.chunks = []
    this.size = 0
    this.m = m
    this.render = render
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length
    if (this.size > MAX_MARKDOWN_BYTES) {
      this.m.ERR_COUNT_READ_FAIL++
      this.m.RSP_RENDER_FAILURE++
      cb(new Error(`markdown body longer than ${MAX_MARKDOWN_BYTES} bytes`))
      return
    }
    this.chunks.push(chunk)
    cb()
  }

  override _flush(cb: TransformCallback): void {
    let html: string
    try {
      html = this.render(Buffer.concat(this.chunks, this.size).toString('utf8'))
    } catch (err) {
      this.m.ERR_COUNT_RENDER_FAIL++
      this.m.RSP_RENDER_FAILURE++
      cb(err instanceof Error ? err : new Error(String(err)))
      return
    }
    this.m.RSP_RENDER_SUCCESS++
    cb(null, Buffer.from(html, 'utf8'))
  }
}

/**
 * mod_markdown: at HandleReadResponse, when the first rule of the request's product that matches
 * finds a small Markdown response, the body is rendered to sanitised HTML on its way to the
 * client and the Content-Type becomes `text/html; charset=UTF-8`.
 */
export function createModMarkdown(): BfeModule {
  return {
    name: 'mod_markdown',
    dataFiles: [productRuleFile('mod_markdown/markdown_rule.data', markdownRules)],
    async init(ctx: ModuleContext): Promise<void> {
      const conf = ctx.readConf(confSchema)
      const debug = conf.Log.OpenDebug
      const table = ctx.ruleTable(
        'mod_markdown',
        ctx.confFile(conf.Basic.ProductRulePath || 'mod_markdown/markdown_rule.data'),
        markdownRules,
      )
      const m = ctx.metrics([
        'REQ_TOTAL',
        'REQ_MARK_DOWN_RULE_HIT',
        'RSP_RENDER_SUCCESS',
        'RSP_RENDER_FAILURE',
        'RSP_RENDER_IGNORE',
        'ERR_COUNT_READ_FAIL',
        'ERR_COUNT_RENDER_FAIL',
      ])
      // The renderer and sanitiser are loaded only when the module is enabled (they take a few
      // hundred milliseconds to import, which every start-up would otherwise pay).
      const { renderMarkdown } = await import('./render.js')
      const make = (): Transform => new MarkdownRender(m, renderMarkdown)
      ctx.callbacks.addResponseFilter(
        CallbackPoint.ReadResponse,
        function markdown(req, res) {
          const rules = table.value.rules(req.product)
          if (rules.length === 0 || res === undefined) return HandlerResult.GoOn
          m.REQ_TOTAL++
          for (let i = 0; i < rules.length; i++) {
            const r = rules[i]
            if (r === undefined || !r.Cond.condition.test(req)) continue
            m.REQ_MARK_DOWN_RULE_HIT++
            const why =
              req.method === 'HEAD' || bodiless(res.statusCode)
                ? 'no response body'
                : notRenderable(res)
            if (why !== undefined) {
              m.RSP_RENDER_IGNORE++
              if (debug) ctx.log.debug({ uri: req.rawUri, why }, 'markdown not rendered')
              return HandlerResult.GoOn
            }
            res.headers.set('Content-Type', HTML_TYPE)
            transformResponseBody(res, make)
            return HandlerResult.GoOn
          }
          return HandlerResult.GoOn
        },
        'markdown',
      )
    },
  }
}
