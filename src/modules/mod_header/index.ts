import { HeaderList, HeaderRun, sameName } from '../../basic/header-list.js'
import type { BfeRequest } from '../../basic/request.js'
import { ini } from '../../config/ini.js'
import { type CondValue, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { Loaded, ModuleContext, Reloadable } from '../../module/context.js'
import { loadProductRules, type ProductRuleDecl, productRuleFile } from '../../module/rule-table.js'
import type { BfeModule, ExplainStep } from '../../module/types.js'
import { canonicalHeaderKey, type HeaderAction, headerAction, type Stage } from './actions.js'

/** mod_header.conf (spec/modules.md §3). */
const confSchema = {
  Basic: {
    DataPath: ini.string('mod_header/mod_header.data'),
    DisableDefaultHeader: ini.bool(false),
  },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** One rule of the data file; `Last` is required, as in BFE. */
const rule = s.object({
  Cond: s.cond(),
  Actions: s.array(headerAction, { minItems: 1 }),
  Last: s.bool(),
})

export interface HeaderRule {
  Cond: CondValue
  Actions: HeaderAction[]
  Last: boolean
}

export const headerRules: ProductRuleDecl<HeaderRule> = {
  rule,
  title: 'mod_header header_rule.data',
}

/** A rule as one stage sees it: only that stage's actions. */
export interface StageRule {
  readonly cond: CondValue
  readonly actions: readonly HeaderAction['run'][]
  readonly last: boolean
}

/** A product's rules split by stage (rules without actions of a stage are left out of it). */
export interface ProductHeaderRules {
  readonly req: readonly StageRule[]
  readonly rsp: readonly StageRule[]
}

/** Loaded data: rules by product (`global` included). */
export type HeaderTable = ReadonlyMap<string, ProductHeaderRules>

export function splitRules(rules: readonly HeaderRule[]): ProductHeaderRules {
  const pick = (stage: Stage): StageRule[] => {
    const out: StageRule[] = []
    for (const r of rules) {
      const actions = r.Actions.filter((a) => a.stage === stage).map((a) => a.run)
      if (actions.length > 0) out.push({ cond: r.Cond, actions, last: r.Last })
    }
    return out
  }
  return { req: pick('req'), rsp: pick('rsp') }
}

export function loadHeaderTable(file: string): Loaded<HeaderTable> {
  const t = loadProductRules(file, headerRules)
  const map = new Map<string, ProductHeaderRules>()
  for (const p of t.productNames()) map.set(p, splitRules(t.rules(p)))
  return { value: map, version: t.versionText(), warnings: t.warnings }
}

/**
 * Runs one stage's rules of one list: every match applies its actions; `last` stops the list.
 * Shared by the filters and the explain hook, which passes `seen` to learn each rule's match.
 */
export function runList(
  list: readonly StageRule[],
  req: BfeRequest,
  h: BfeRequest['headers'],
  seen?: (r: StageRule, matched: boolean) => void,
): void {
  for (let i = 0; i < list.length; i++) {
    const r = list[i] as StageRule
    const m = r.cond.condition.test(req)
    if (seen !== undefined) seen(r, m)
    if (!m) continue
    const actions = r.actions
    for (let j = 0; j < actions.length; j++) (actions[j] as StageRule['actions'][number])(req, h)
    if (r.last) return
  }
}

/**
 * The forwarding headers mod_header adds before its request rules: X-Forwarded-Host,
 * X-Forwarded-For and X-Forwarded-Port (appended to what the client sent), X-Real-Ip and
 * X-Real-Port (the client address, when known), X-Bfe-Ip (BFE's own address).
 */
/** The headers setDefaultHeaders writes (lower case). */
const DEFAULT_NAMES: readonly string[] = [
  'x-forwarded-host',
  'x-forwarded-for',
  'x-forwarded-port',
  'x-real-ip',
  'x-real-port',
  'x-bfe-ip',
]

/** The request already carries one of DEFAULT_NAMES (one pass; names start with x or X). */
function hasDefaultName(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i] as string
    const c = k.charCodeAt(0)
    if (c !== 120 && c !== 88) continue
    for (const n of DEFAULT_NAMES) if (sameName(k, n)) return true
  }
  return false
}

/**
 * The forwarding fields a connection's requests carry after X-Forwarded-Host (the same on every
 * request unless a trusted client address changes), kept on the session and written to backends
 * from a ready text (HeaderRun).
 */
interface ConnectionFields {
  readonly remoteAddr: string
  readonly remotePort: number
  readonly localAddr: string
  readonly clientAddr: string | undefined
  readonly clientPort: number
  readonly fields: string[]
  /** The fields as a run; undefined when an address is not a valid field value. */
  readonly run: HeaderRun | undefined
}

const kConnectionFields = 'mod_header.connectionFields'

function connectionFields(req: BfeRequest): ConnectionFields {
  const ses = req.session
  const known = ses.context.get(kConnectionFields) as ConnectionFields | undefined
  if (
    known !== undefined &&
    known.clientAddr === req.clientAddr &&
    known.clientPort === req.clientPort &&
    known.remoteAddr === ses.remoteAddr &&
    known.remotePort === ses.remotePort &&
    known.localAddr === ses.localAddr
  )
    return known
  const fields: string[] = []
  const port = ses.remotePortText
  if (ses.remoteAddr !== '')
    fields.push('X-Forwarded-For', ses.remoteAddr, 'X-Forwarded-Port', port)
  if (req.clientAddr !== undefined) {
    const cport = req.clientPort === ses.remotePort ? port : String(req.clientPort)
    fields.push('X-Real-Ip', req.clientAddr, 'X-Real-Port', cport)
  }
  if (ses.localAddr !== '') fields.push('X-Bfe-Ip', ses.localAddr)
  const made: ConnectionFields = {
    remoteAddr: ses.remoteAddr,
    remotePort: ses.remotePort,
    localAddr: ses.localAddr,
    clientAddr: req.clientAddr,
    clientPort: req.clientPort,
    fields,
    run: HeaderRun.of(fields),
  }
  ses.context.set(kConnectionFields, made)
  return made
}

export function setDefaultHeaders(req: BfeRequest): void {
  const h = req.headers
  if (!hasDefaultName(h.raw)) {
    // The usual case (a client talking to us directly): append, no list scans per header.
    const raw = h.raw
    const conn = connectionFields(req)
    // The appended fields need no check by the head writer when every field before them is
    // known valid (Host among them) and so are they (the run was checked when it was made).
    const valid = h.checked === raw.length && conn.run !== undefined
    const host = req.host
    if (host !== '') raw.push('X-Forwarded-Host', host)
    const f = conn.fields
    for (let i = 0; i < f.length; i++) raw.push(f[i] as string)
    if (conn.run !== undefined) h.run = conn.run
    if (valid) h.checked = raw.length
    return
  }
  const host = req.host
  if (host !== '') h.set('X-Forwarded-Host', appended(h.getAll('x-forwarded-host'), host))
  const ses = req.session
  if (ses.remoteAddr !== '') {
    h.set('X-Forwarded-For', appended(h.getAll('x-forwarded-for'), ses.remoteAddr))
    h.set('X-Forwarded-Port', appended(h.getAll('x-forwarded-port'), ses.remotePortText))
  }
  if (req.clientAddr !== undefined) {
    h.set('X-Real-Ip', req.clientAddr)
    h.set('X-Real-Port', String(req.clientPort))
  }
  if (ses.localAddr !== '') h.set('X-Bfe-Ip', ses.localAddr)
}

function appended(prior: string[], value: string): string {
  return prior.length === 0 ? value : `${prior.join(', ')}, ${value}`
}

/** Runs the lists for explain, numbering rules across them in order. */
function explainLists(
  lists: readonly [string, readonly StageRule[]][],
  req: BfeRequest,
  h: HeaderList,
): { index: number; cond: string; matched: boolean | undefined }[] {
  const out: { index: number; cond: string; matched: boolean | undefined }[] = []
  for (const [, list] of lists) {
    const base = out.length
    const matched = new Map<StageRule, boolean>()
    runList(list, req, h, (r, m) => {
      matched.set(r, m)
    })
    for (let i = 0; i < list.length; i++) {
      const r = list[i] as StageRule
      out.push({ index: base + i, cond: r.cond.source, matched: matched.get(r) })
    }
  }
  return out
}

/** Header values that differ between two lists: name → values now ([] when removed). */
function changedHeaders(before: HeaderList, after: HeaderList): Record<string, string[]> {
  const names = new Set<string>()
  for (let i = 0; i < before.raw.length; i += 2) names.add((before.raw[i] as string).toLowerCase())
  for (let i = 0; i < after.raw.length; i += 2) names.add((after.raw[i] as string).toLowerCase())
  const out: Record<string, string[]> = {}
  for (const n of names) {
    const a = before.getAll(n)
    const b = after.getAll(n)
    if (a.length !== b.length || a.some((v, i) => v !== b[i])) out[canonicalHeaderKey(n)] = b
  }
  return out
}

function headerChanges(before: HeaderList, after: HeaderList, verb: string): string {
  const c = changedHeaders(before, after)
  const parts = Object.entries(c).map(([n, v]) =>
    v.length === 0 ? `del ${n}` : `${n}: ${v.join(', ')}`,
  )
  return parts.length === 0 ? 'no header changed' : `${verb} ${parts.join('; ')}`
}

/**
 * mod_header: at HandleAfterLocation the default forwarding headers, then the request actions of
 * the `global` rules and of the product's rules; at HandleReadResponse the response actions of
 * the same lists, conditions evaluated again.
 */
export function createModHeader(): BfeModule {
  let loaded: Reloadable<HeaderTable> | undefined
  let withDefaults = true
  return {
    name: 'mod_header',
    dataFiles: [productRuleFile('mod_header/header_rule.data', headerRules)],
    explain(req, point): ExplainStep | undefined {
      if (loaded === undefined) return undefined
      const t = loaded.value
      const lists = (stage: 'req' | 'rsp'): [string, readonly StageRule[]][] => {
        const out: [string, readonly StageRule[]][] = []
        const g = t.get('global')?.[stage]
        if (g !== undefined && g.length > 0) out.push(['global', g])
        const p = t.get(req.product)?.[stage]
        if (p !== undefined && p.length > 0) out.push([req.product, p])
        return out
      }
      if (point === CallbackPoint.AfterLocation) {
        const l = lists('req')
        if (!withDefaults && l.length === 0) return undefined
        const before = req.headers.clone()
        if (withDefaults) setDefaultHeaders(req)
        const rules = explainLists(l, req, req.headers)
        return {
          summary: headerChanges(before, req.headers, 'set'),
          rules,
          detail: {
            defaultHeaders: withDefaults,
            headers: changedHeaders(before, req.headers),
          },
        }
      }
      if (point !== CallbackPoint.ReadResponse) return undefined
      const l = lists('rsp')
      if (l.length === 0) return undefined
      // No response at explain time: the actions run on an empty header list, so what they would
      // set shows; an action that reads or deletes a backend header has nothing to work on.
      const scratch = new HeaderList()
      const before = scratch.clone()
      const rules = explainLists(l, req, scratch)
      return {
        summary: `response: ${headerChanges(before, scratch, 'would set')}`,
        rules,
        detail: {
          responseHeaders: changedHeaders(before, scratch),
          note: 'the backend response is not known: headers it carries are not shown',
        },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const table = ctx.reloadable('mod_header', ctx.confFile(conf.Basic.DataPath), loadHeaderTable)
      const defaults = !conf.Basic.DisableDefaultHeader
      loaded = table
      withDefaults = defaults
      const debug = conf.Log.OpenDebug
      // The global rules and the product's, looked up again only when the table or the product
      // changes (both stages, on every request, would otherwise make four lookups).
      let seenTable: HeaderTable | undefined
      let seenProduct = ''
      let globalRules: ProductHeaderRules | undefined
      let productRules: ProductHeaderRules | undefined
      const select = (t: HeaderTable, product: string): void => {
        if (t === seenTable && product === seenProduct) return
        seenTable = t
        seenProduct = product
        globalRules = t.get('global')
        productRules = t.get(product)
      }
      ctx.callbacks.addRequestFilter(
        CallbackPoint.AfterLocation,
        function reqHeader(req) {
          if (defaults) setDefaultHeaders(req)
          const t = table.value
          if (t.size === 0) return HandlerResult.GoOn
          select(t, req.product)
          const g = globalRules
          if (g !== undefined && g.req.length > 0) runList(g.req, req, req.headers)
          const p = productRules
          if (p !== undefined && p.req.length > 0) runList(p.req, req, req.headers)
          if (debug) ctx.log.debug({ uri: req.rawUri, headers: req.headers.raw }, 'request headers')
          return HandlerResult.GoOn
        },
        'reqHeader',
      )
      ctx.callbacks.addResponseFilter(
        CallbackPoint.ReadResponse,
        function rspHeader(req, res) {
          const t = table.value
          if (res === undefined || t.size === 0) return HandlerResult.GoOn
          select(t, req.product)
          const g = globalRules
          if (g !== undefined && g.rsp.length > 0) runList(g.rsp, req, res.headers)
          const p = productRules
          if (p !== undefined && p.rsp.length > 0) runList(p.rsp, req, res.headers)
          return HandlerResult.GoOn
        },
        'rspHeader',
      )
    },
  }
}
