import { Transform, type TransformCallback } from 'node:stream'
import { BfeConfError } from '../../basic/errors.js'
import type { BfeRequest, StickyBackend } from '../../basic/request.js'
import type { BfeResponse } from '../../basic/response.js'
import { bound } from '../../config/bounds.js'
import { readJsonFile } from '../../config/data-file.js'
import { ini } from '../../config/ini.js'
import { loadNameConf } from '../../config/name-conf.js'
import { type Infer, s } from '../../config/schema.js'
import { transformResponseBody } from '../../module/body.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import {
  decodeProductRules,
  type ProductRuleDecl,
  ProductRuleTable,
  productRuleFile,
} from '../../module/rule-table.js'
import type { BfeModule, FilterReturn } from '../../module/types.js'
import { setCookieString } from '../mod_userid/cookie.js'
import {
  type CacheCounters,
  LocalStickyCache,
  type RedisAddress,
  RedisStickyCache,
  type StickyCache,
} from './cache.js'
import { bodyJsonText, type CookieBackend, decodeCookie, encodeCookie } from './codec.js'

const MS = bound(0, 60_000, 'ms')

/** mod_session_sticky.conf (spec/modules.md §16). */
const confSchema = {
  Basic: {
    DataPath: ini.string('mod_session_sticky/session_sticky.data'),
    // below 10000 means 10000, as in BFE
    CacheSize: ini.int(10000, bound(-2147483648, 10_000_000)),
    CacheType: ini.string('local'),
  },
  Redis: {
    Bns: ini.string(''),
    ConnectTimeout: ini.int(0, MS),
    ReadTimeout: ini.int(0, MS),
    WriteTimeout: ini.int(0, MS),
    MaxIdle: ini.int(0, bound(0, 100_000)),
    MaxActive: ini.int(0, bound(0, 100_000)),
    Password: ini.string(''),
    ExpireSeconds: ini.int(0, bound(0, 10 * 365 * 86400, 's')),
  },
  Log: { OpenDebug: ini.bool(false) },
} as const

const MIN_MASK = 4
const TEN_YEARS = 10 * 365 * 86400

function checkMask(v: string, node: { fail(reason: string): never }): void {
  if (Buffer.byteLength(v) < MIN_MASK) node.fail(`must be at least ${MIN_MASK} bytes long`)
}

/** One rule of the data file as written. */
const ruleSchema = s.check(
  s.object({
    Cond: s.cond(),
    Type: s.string({ default: 'Cookie', oneOf: ['Cookie', 'Sticky'] }),
    CookieKey: s.optional(s.string()),
    Domain: s.string({ default: '' }),
    Path: s.optional(s.string()),
    MaxAge: s.int({ default: 3600, bound: bound(0, TEN_YEARS, 's') }),
    MaskCode: s.check(s.string({ default: 'defaultmask' }), checkMask),
    StandbyMaskCode: s.check(s.string({ default: 'standbymask' }), checkMask),
    Header: s.string({ default: '' }),
    URIParam: s.string({ default: '' }),
    StickyRequestField: s.string({ default: '' }),
    StickyResponseField: s.string({ default: '' }),
    Secure: s.bool(false),
    HttpOnly: s.bool(false),
    RenewWindow: s.optional(s.int({ bound: bound(0, TEN_YEARS, 's') })),
  }),
  (r, node) => {
    if (r.CookieKey !== undefined && r.CookieKey.trim() === '')
      node.get('CookieKey').fail('must not be empty')
    if (r.Path !== undefined && !r.Path.startsWith('/')) node.get('Path').fail('must start with /')
    if (r.Type === 'Sticky' && r.CookieKey === undefined)
      node.get('CookieKey').fail('is required for a rule of Type "Sticky"')
  },
)
type RuleFile = Infer<typeof ruleSchema>

/** A rule with BFE's defaults applied. */
export interface StickyRule {
  readonly Cond: RuleFile['Cond']
  readonly sticky: boolean
  readonly cookieKey: string
  readonly domain: string
  readonly path: string
  readonly maxAge: number
  readonly maskCode: string
  readonly standbyMaskCode: string
  readonly header: string
  readonly uriParam: string
  readonly requestField: string
  readonly responseField: string
  readonly secure: boolean
  readonly httpOnly: boolean
  readonly renewWindow: number
}

function compileRule(r: RuleFile): StickyRule {
  return {
    Cond: r.Cond,
    sticky: r.Type === 'Sticky',
    cookieKey: r.CookieKey ?? 'bfe_ssbl',
    domain: r.Domain,
    path: r.Path ?? '',
    maxAge: r.MaxAge,
    maskCode: r.MaskCode,
    standbyMaskCode: r.StandbyMaskCode,
    header: r.Header,
    uriParam: r.URIParam,
    requestField: r.StickyRequestField,
    responseField: r.StickyResponseField,
    secure: r.Secure,
    httpOnly: r.HttpOnly,
    renewWindow: r.RenewWindow ?? (r.MaxAge > 0 ? Math.floor(r.MaxAge / 2) : 0),
  }
}

export const stickyRules: ProductRuleDecl<RuleFile> = {
  rule: ruleSchema,
  title: 'mod_session_sticky session_sticky.data',
}

/** Reads the data file and applies the defaults. Throws BfeConfError naming file and field. */
export function loadStickyRules(file: string): ProductRuleTable<StickyRule> {
  const raw = decodeProductRules(readJsonFile(file), stickyRules)
  const products = new Map<string, StickyRule[]>()
  for (const p of raw.productNames()) products.set(p, raw.rules(p).map(compileRule))
  return new ProductRuleTable(file, raw.version, products, raw.warnings)
}

const COUNTERS = [
  'REQ_MATCHED',
  'COOKIE_DECODE_OK',
  'COOKIE_DECODE_FAIL',
  'COOKIE_SET',
  'STICKY_ID_FOUND',
  'STICKY_ID_STORED',
  'STICKY_BACKEND_KEPT',
  'STICKY_BACKEND_CHANGED',
  'CACHE_HIT',
  'CACHE_MISS',
  'CACHE_SET',
  'CACHE_GET_FAIL',
  'CACHE_SET_FAIL',
] as const

/** What decoding left for the response: the rule and the backend the request asked for. */
interface Pending {
  rule: StickyRule
  /** Cookie mode: the decoded cookie (undefined when none or undecodable). */
  cookie: CookieBackend | undefined
}

/** `Bns` of [Redis]: `host:port` entries, or a service name of name_conf.data. */
export function redisServers(bns: string, nameConfFile: string, confFile: string): RedisAddress[] {
  const entries = bns
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')
  if (entries.length === 0) throw new BfeConfError(confFile, '[Redis] Bns', 'must not be empty')
  const out: RedisAddress[] = []
  for (const e of entries) {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(e)
    const host = m?.[1] ?? m?.[2]
    const port = Number(m?.[3])
    if (host === undefined || port < 1 || port > 65535) {
      out.length = 0
      break
    }
    out.push({ host, port })
  }
  if (out.length > 0) return out
  // a service name
  if (entries.length !== 1 || nameConfFile === '')
    throw new BfeConfError(
      confFile,
      '[Redis] Bns',
      `"${bns}" is neither host:port entries nor a name of name_conf.data`,
    )
  const nc = loadNameConf(nameConfFile)
  const list = nc.Config.get(entries[0] as string)
  if (list === undefined || list.length === 0)
    throw new BfeConfError(confFile, '[Redis] Bns', `"${bns}" has no instance in ${nameConfFile}`)
  return list.map((i) => ({ host: i.Host, port: i.Port }))
}

/** Backend the request went to; undefined when it was not forwarded. */
function chosenBackend(req: BfeRequest): StickyBackend | undefined {
  const b = req.backend
  if (b.backendAddr === '') return undefined
  return { addr: b.backendAddr, port: b.backendPort, subCluster: b.subclusterName }
}

function sameBackend(a: StickyBackend, b: StickyBackend): boolean {
  return a.addr === b.addr && a.port === b.port && a.subCluster === b.subCluster
}

/** Value of cookie `name` in the response's Set-Cookie headers ('' when none). */
function responseCookie(res: BfeResponse, name: string): string {
  const raw = res.headers.raw
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'set-cookie') continue
    const line = raw[i + 1] as string
    const semi = line.indexOf(';')
    const pair = semi === -1 ? line : line.slice(0, semi)
    const eq = pair.indexOf('=')
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue
    let v = pair.slice(eq + 1).trim()
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1)
    return v
  }
  return ''
}

/** Passes a response body through, keeping up to `max` bytes for `done` at the end. */
class BodyTap extends Transform {
  private readonly chunks: Buffer[] = []
  private size = 0
  private readonly max: number
  private readonly done: (body: Buffer) => void

  constructor(max: number, done: (body: Buffer) => void) {
    super()
    this.max = max
    this.done = done
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.size <= this.max) {
      this.chunks.push(chunk)
      this.size += chunk.length
    }
    cb(null, chunk)
  }

  override _flush(cb: TransformCallback): void {
    if (this.size <= this.max) this.done(Buffer.concat(this.chunks, this.size))
    cb()
  }
}

/**
 * mod_session_sticky: keeps a client on one backend. At HandleAfterLocation the first matching
 * rule of the request's product (or of `global`) finds the backend the client had: in Cookie mode
 * from a masked cookie, in Sticky mode from a sticky id (cookie, header, query or JSON body field)
 * looked up in a cache (local LRU or Redis). The balancer prefers that backend while it is usable
 * (balancing.md §4.1). At HandleReadResponse the cookie is issued or renewed, or the sticky id of
 * the response is stored with the backend that answered.
 */
export function createModSessionSticky(): BfeModule {
  return {
    name: 'mod_session_sticky',
    dataFiles: [productRuleFile('mod_session_sticky/session_sticky.data', stickyRules)],
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const b = conf.Basic
      if (b.CacheType !== 'local' && b.CacheType !== 'redis')
        throw new BfeConfError(
          ctx.confPath,
          '[Basic] CacheType',
          `must be "local" or "redis", got "${b.CacheType}"`,
        )
      const r = conf.Redis
      let servers: RedisAddress[] = []
      if (b.CacheType === 'redis') {
        for (const k of ['ConnectTimeout', 'ReadTimeout', 'WriteTimeout', 'ExpireSeconds'] as const)
          if (r[k] <= 0) throw new BfeConfError(ctx.confPath, `[Redis] ${k}`, 'must be > 0')
        servers = redisServers(r.Bns, ctx.settings.Server.NameConf, ctx.confPath)
      }
      const table = ctx.reloadable('mod_session_sticky', ctx.confFile(b.DataPath), (f: string) => {
        const t = loadStickyRules(f)
        return { value: t, warnings: t.warnings }
      })
      const debug = conf.Log.OpenDebug
      const counters = ctx.metrics(COUNTERS)
      const cacheCounters: CacheCounters = counters
      // Created last: nothing above may fail with a client open.
      const cache: StickyCache =
        b.CacheType === 'redis'
          ? new RedisStickyCache(
              {
                servers,
                password: r.Password,
                connectTimeoutMs: r.ConnectTimeout,
                readTimeoutMs: r.ReadTimeout,
                writeTimeoutMs: r.WriteTimeout,
                expireSeconds: r.ExpireSeconds,
              },
              cacheCounters,
              ctx.log,
            )
          : new LocalStickyCache(Math.max(b.CacheSize, 10000), cacheCounters)
      ctx.onClose(() => cache.close())
      const bodyMax = ctx.settings.Server.AccessibleBodySize
      const pending = new WeakMap<BfeRequest, Pending>()

      function useBackend(req: BfeRequest, bk: StickyBackend | undefined): HandlerResult {
        if (bk !== undefined) req.stickyBackend = bk
        return HandlerResult.GoOn
      }

      function lookup(req: BfeRequest, id: string): FilterReturn {
        counters.STICKY_ID_FOUND++
        const got = cache.get(id)
        if (got === undefined || !(got instanceof Promise)) return useBackend(req, got)
        return got.then((bk) => useBackend(req, bk))
      }

      function decodeSticky(req: BfeRequest, rule: StickyRule): FilterReturn {
        let id = req.cookies().get(rule.cookieKey) ?? ''
        if (id === '' && rule.header !== '') id = req.headers.get(rule.header) ?? ''
        if (id === '' && rule.uriParam !== '') id = req.query().get(rule.uriParam)?.[0] ?? ''
        if (id !== '') return lookup(req, id)
        if (rule.requestField === '' || req.body === undefined) return HandlerResult.GoOn
        return ctx.readRequestBody(req).then((peek) => {
          const bodyId = peek.complete ? bodyJsonText(peek.bytes, rule.requestField) : ''
          return bodyId === '' ? HandlerResult.GoOn : lookup(req, bodyId)
        })
      }

      ctx.callbacks.addRequestFilter(
        CallbackPoint.AfterLocation,
        function stickyDecode(req: BfeRequest) {
          const rules = table.value.rulesOrGlobal(req.product)
          for (let i = 0; i < rules.length; i++) {
            const rule = rules[i] as StickyRule
            if (!rule.Cond.condition.test(req)) continue
            counters.REQ_MATCHED++
            if (rule.sticky) {
              pending.set(req, { rule, cookie: undefined })
              return decodeSticky(req, rule)
            }
            const value = req.cookies().get(rule.cookieKey)
            let bk: CookieBackend | undefined
            if (value !== undefined) {
              bk = decodeCookie(value, rule.maskCode) ?? decodeCookie(value, rule.standbyMaskCode)
              if (bk === undefined) counters.COOKIE_DECODE_FAIL++
              else counters.COOKIE_DECODE_OK++
              if (debug) ctx.log.debug({ cookie: value, backend: bk }, 'sticky cookie decoded')
            }
            pending.set(req, { rule, cookie: bk })
            return useBackend(req, bk)
          }
          return HandlerResult.GoOn
        },
        'stickyDecode',
      )

      ctx.callbacks.addResponseFilter(
        CallbackPoint.ReadResponse,
        function stickyEncode(req: BfeRequest, res: BfeResponse | undefined) {
          const p = pending.get(req)
          if (p === undefined || res === undefined) return HandlerResult.GoOn
          const bk = chosenBackend(req)
          if (bk === undefined) return HandlerResult.GoOn
          const asked = req.stickyBackend
          if (asked !== undefined) {
            if (sameBackend(asked, bk)) counters.STICKY_BACKEND_KEPT++
            else counters.STICKY_BACKEND_CHANGED++
          }
          const rule = p.rule
          if (rule.sticky) {
            const id = responseCookie(res, rule.cookieKey)
            if (id !== '') {
              cache.set(id, bk)
              counters.STICKY_ID_STORED++
            } else if (rule.responseField !== '') {
              transformResponseBody(
                res,
                () =>
                  new BodyTap(bodyMax, (body) => {
                    const bodyId = bodyJsonText(body, rule.responseField)
                    if (bodyId === '') return
                    cache.set(bodyId, bk)
                    counters.STICKY_ID_STORED++
                  }),
              )
            }
            return HandlerResult.GoOn
          }
          const now = Math.floor(Date.now() / 1000)
          const had = p.cookie
          const renew =
            had === undefined ||
            !sameBackend(had, bk) ||
            (had.renewTime !== undefined && now >= had.renewTime)
          if (!renew) return HandlerResult.GoOn
          let renewTime: number | undefined
          if (rule.renewWindow > 0 && rule.maxAge > 0) {
            const t = now + rule.maxAge - rule.renewWindow
            if (t > 0) renewTime = t
          }
          res.headers.add(
            'Set-Cookie',
            setCookieString({
              name: rule.cookieKey,
              value: encodeCookie(bk, renewTime, rule.maskCode),
              maxAge: rule.maxAge,
              domain: rule.domain,
              path: rule.path,
              httpOnly: rule.httpOnly,
              secure: rule.secure,
            }),
          )
          counters.COOKIE_SET++
          return HandlerResult.GoOn
        },
        'stickyEncode',
      )
    },
  }
}
