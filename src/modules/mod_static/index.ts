import { existsSync, type ReadStream, realpathSync } from 'node:fs'
import { join } from 'node:path'
import type { BfeRequest } from '../../basic/request.js'
import { internalResponse } from '../../basic/response.js'
import { ini } from '../../config/ini.js'
import type { JsonNode } from '../../config/json-node.js'
import {
  type CondValue,
  type DecodeCx,
  type JsonSchema,
  type Schema,
  s,
} from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import type { ProductRuleDecl } from '../../module/rule-table.js'
import type { BfeModule, FilterReturn } from '../../module/types.js'
import { loadMimeTypes } from './mime.js'
import { type BrowseAction, browse, type StaticCounters, type StaticEnv } from './serve.js'

/** mod_static.conf (spec/modules.md §6). */
const confSchema = {
  Basic: {
    DataPath: ini.string('mod_static/static_rule.data'),
    MimeTypePath: ini.string('mod_static/mime_type.data'),
    EnableCompress: ini.bool(false),
  },
  Log: { OpenDebug: ini.bool(false) },
} as const

const rawAction = s.object({
  Cmd: s.string({ oneOf: ['BROWSE'] }),
  Params: s.array(s.string(), { minItems: 2, maxItems: 2 }),
})

/** The BROWSE action; `dataFile` resolves the root written in the data (decisions.md D17). */
export function browseAction(dataFile: (p: string) => string): Schema<BrowseAction> {
  return {
    required: true,
    decode(node: JsonNode, cx: DecodeCx): BrowseAction {
      const a = rawAction.decode(node, cx)
      const params = node.get('Params')
      const [dir = '', def = ''] = a.Params
      const p0 = params.get('0')
      if (dir === '') p0.fail('must not be empty')
      const root = dataFile(dir)
      let realRoot = ''
      try {
        realRoot = realpathSync(root)
      } catch (err) {
        p0.fail(`directory ${root} cannot be used: ${(err as Error).message}`)
      }
      if (def !== '' && !existsSync(join(root, def)))
        params.get('1').fail(`default file ${join(root, def)} does not exist`)
      return { root, realRoot, defaultFile: def }
    },
    jsonSchema: (): JsonSchema => rawAction.jsonSchema(),
  }
}

export interface StaticRule {
  Cond: CondValue
  Action: BrowseAction
}

export function staticRules(dataFile: (p: string) => string): ProductRuleDecl<StaticRule> {
  return {
    rule: s.object({ Cond: s.cond(), Action: browseAction(dataFile) }),
    title: 'mod_static static_rule.data',
  }
}

const COUNTERS = [
  'FILE_BROWSE_COUNT',
  'FILE_BROWSE_SIZE',
  'FILE_BROWSE_NOT_EXIST',
  'FILE_BROWSE_CONTENT_TYPE_ERROR',
  'FILE_BROWSE_FALLBACK_DEFAULT',
] as const
const GAUGES = ['FILE_CURRENT_OPENED'] as const

/**
 * mod_static: at HandleFoundProduct, the first rule of the request's product whose condition
 * matches answers the request from a directory: GET and HEAD only, pre-compressed `.gz`/`.br`
 * siblings with EnableCompress, the default file for a missing path, never a file outside the root.
 */
export function createModStatic(): BfeModule {
  return {
    name: 'mod_static',
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const rules = ctx.ruleTable(
        'mod_static',
        ctx.confFile(conf.Basic.DataPath),
        staticRules((p) => ctx.dataFile(p)),
      )
      const mime = ctx.reloadable(
        'mod_static.mime_type',
        ctx.confFile(conf.Basic.MimeTypePath),
        loadMimeTypes,
      )
      const m: StaticCounters = ctx.metrics(COUNTERS, GAUGES)
      const streams = new Set<ReadStream>()
      const env: StaticEnv = {
        m,
        enableCompress: conf.Basic.EnableCompress,
        mimeTypes: () => mime.value,
        streams,
      }
      const debug = conf.Log.OpenDebug

      async function answer(
        req: BfeRequest,
        a: BrowseAction,
      ): Promise<typeof HandlerResult.Response> {
        const res = await browse(req, a, env)
        // The client left while the file was being opened: nobody will read the stream.
        if (req.stat.responseEnd !== 0) {
          if (res.body !== undefined && typeof res.body === 'object' && 'destroy' in res.body)
            res.body.destroy()
        } else req.httpResponse = res
        if (debug) ctx.log.debug({ path: req.path, status: res.statusCode }, 'static file')
        return HandlerResult.Response
      }

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function staticFile(req): FilterReturn {
          const list = rules.value.rules(req.product)
          for (let i = 0; i < list.length; i++) {
            const r = list[i] as StaticRule
            if (!r.Cond.condition.test(req)) continue
            m.FILE_BROWSE_COUNT++
            if (req.method !== 'GET' && req.method !== 'HEAD') {
              req.httpResponse = internalResponse(405)
              return HandlerResult.Response
            }
            return answer(req, r.Action)
          }
          return HandlerResult.GoOn
        },
        'staticFile',
      )
      // A file stream the pipeline never sent (the response was replaced or the client left
      // before it started) is closed when the request ends, so no descriptor is left open.
      ctx.callbacks.addResponseFilter(
        CallbackPoint.RequestFinish,
        function staticCleanup(req) {
          if (streams.size === 0) return HandlerResult.GoOn
          const body = req.httpResponse?.body
          if (body !== undefined && streams.has(body as ReadStream)) (body as ReadStream).destroy()
          return HandlerResult.GoOn
        },
        'staticCleanup',
      )
    },
  }
}
