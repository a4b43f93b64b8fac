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
  schemaDocument,
} from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext, Reloadable } from '../../module/context.js'
import {
  type ProductRuleDecl,
  type ProductRuleTable,
  productRuleFile,
  schemaId,
} from '../../module/rule-table.js'
import type { BfeModule, ExplainStep, FilterReturn } from '../../module/types.js'
import { firstMatchIndex, firstMatchSeen } from '../explain-rules.js'
import { loadMimeTypes, mimeSchema } from './mime.js'
import {
  type BrowseAction,
  browse,
  probeBrowse,
  type StaticCounters,
  type StaticEnv,
} from './serve.js'

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

/** BROWSE serves GET and HEAD only (405 otherwise). */
function methodAllowed(req: BfeRequest): boolean {
  return req.method === 'GET' || req.method === 'HEAD'
}

/**
 * mod_static: at HandleFoundProduct, the first rule of the request's product whose condition
 * matches answers the request from a directory: GET and HEAD only, pre-compressed `.gz`/`.br`
 * siblings with EnableCompress, the default file for a missing path, never a file outside the root.
 */
export function createModStatic(): BfeModule {
  let loaded: Reloadable<ProductRuleTable<StaticRule>> | undefined
  let compress = false
  return {
    name: 'mod_static',
    dataFiles: [
      productRuleFile(
        'mod_static/static_rule.data',
        staticRules((p) => p),
      ),
      {
        kind: 'mod_static/mime_type.data',
        jsonSchema: () =>
          schemaDocument(
            schemaId('mod_static/mime_type.data'),
            'mod_static mime_type.data',
            mimeSchema,
          ),
      },
    ],
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.FoundProduct || loaded === undefined) return undefined
      const list = loaded.value.rules(req.product)
      if (list.length === 0) return undefined
      const i = firstMatchIndex(list, req)
      const rules = firstMatchSeen(list, i)
      if (i === -1) return { summary: 'no rule matched', rules }
      const a = (list[i] as StaticRule).Action
      if (!methodAllowed(req)) {
        req.httpResponse = internalResponse(405)
        return {
          summary: `405: ${req.method} is not GET or HEAD (rule ${i}, root ${a.root})`,
          result: HandlerResult.Response,
          rules,
          detail: { status: 405, root: a.root },
        }
      }
      // Existence is checked with stat/realpath/access only: no file is opened.
      const p = probeBrowse(req, a, compress)
      req.httpResponse = internalResponse(p.status)
      return {
        summary:
          p.status === 200
            ? `serve ${p.file}${p.encoding === '' ? '' : ` (${p.encoding})`} (rule ${i})`
            : `${p.status}: ${p.file} cannot be served (rule ${i})`,
        result: HandlerResult.Response,
        rules,
        detail: {
          status: p.status,
          root: a.root,
          file: p.file,
          encoding: p.encoding,
          defaultFile: p.fallback,
          checked: 'file existence and permissions checked with stat; nothing opened',
        },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const rules = ctx.ruleTable(
        'mod_static',
        ctx.confFile(conf.Basic.DataPath),
        staticRules((p) => ctx.dataFile(p)),
      )
      loaded = rules
      compress = conf.Basic.EnableCompress
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
          if (list.length === 0) return HandlerResult.GoOn
          const i = firstMatchIndex(list, req)
          if (i === -1) return HandlerResult.GoOn
          m.FILE_BROWSE_COUNT++
          if (!methodAllowed(req)) {
            req.httpResponse = internalResponse(405)
            return HandlerResult.Response
          }
          return answer(req, (list[i] as StaticRule).Action)
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
