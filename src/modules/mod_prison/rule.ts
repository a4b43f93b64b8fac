import { createHash } from 'node:crypto'
import type { BfeRequest } from '../../basic/request.js'
import { compileUserRegex, type UserRegex } from '../../condition/regex.js'
import { bound } from '../../config/bounds.js'
import type { JsonNode } from '../../config/json-node.js'
import { type CondValue, type Infer, s } from '../../config/schema.js'
import type { ProductRuleDecl } from '../../module/rule-table.js'
import { Lru } from './lru.js'

/** Actions a prison rule may take on a request it jails. */
export const PRISON_ACTIONS = ['CLOSE', 'FINISH', 'PASS', 'REQ_HEADER_SET'] as const

const action = s.check(
  s.object({
    Cmd: s.string({ upper: true, oneOf: PRISON_ACTIONS }),
    Params: s.array(s.string(), { default: [] }),
  }),
  (a, node) => {
    const want = a.Cmd === 'REQ_HEADER_SET' ? 2 : 0
    if (a.Params.length !== want)
      node
        .get('Params')
        .fail(
          `${a.Cmd} takes ${want === 0 ? 'no parameters' : '2 parameters'}, got ${a.Params.length}`,
        )
    for (let i = 0; i < a.Params.length; i++)
      if (a.Params[i] === '') node.get('Params').fail(`item ${i} must not be empty`)
    if (a.Cmd === 'REQ_HEADER_SET' && !(a.Params[0] ?? '').toUpperCase().startsWith('X-BFE-'))
      node.get('Params').fail(`header name "${a.Params[0]}" must start with X-Bfe-`)
  },
)

const signConf = s.object({
  UseSocketIP: s.bool(false),
  UseClientIP: s.bool(false),
  UseConnectID: s.bool(false),
  UseUrl: s.bool(false),
  UseHost: s.bool(false),
  UsePath: s.bool(false),
  UseHeaders: s.bool(false),
  UrlRegexp: s.string({ default: '' }),
  Query: s.array(s.string(), { default: [] }),
  Header: s.array(s.string(), { default: [] }),
  Cookie: s.array(s.string(), { default: [] }),
})

const YEAR_S = 366 * 24 * 3600

/** One rule of prison.data: every field is required, as in BFE. */
const ruleSchema = s.object({
  Name: s.string(),
  Cond: s.cond(),
  AccessSignConf: s.check(signConf, (c, node) => {
    if (c.UrlRegexp === '') return
    let groups = 0
    try {
      groups = compileUserRegex(c.UrlRegexp, '').groupCount
    } catch (err) {
      node.get('UrlRegexp').fail(err instanceof Error ? err.message : String(err))
    }
    if (groups === 0) node.get('UrlRegexp').fail('must have at least one capture group')
  }),
  Action: action,
  CheckPeriod: s.int({ bound: bound(1, YEAR_S, 's') }),
  StayPeriod: s.int({ bound: bound(0, YEAR_S, 's') }),
  Threshold: s.int({ bound: bound(0, 2 ** 31 - 1) }),
  AccessDictSize: s.int({ bound: bound(1, 10_000_000) }),
  PrisonDictSize: s.int({ bound: bound(1, 10_000_000) }),
})

export type PrisonRuleConf = Infer<typeof ruleSchema>

export const prisonRules: ProductRuleDecl<PrisonRuleConf> = {
  rule: ruleSchema,
  title: 'mod_prison prison.data',
  checkList(rules, node: JsonNode) {
    const seen = new Set<string>()
    for (let i = 0; i < rules.length; i++) {
      const name = (rules[i] as PrisonRuleConf).Name
      if (seen.has(name)) node.items()[i]?.get('Name').fail(`"${name}" is used twice`)
      seen.add(name)
    }
  },
}

/** A visitor's request count in the current window. */
interface Counter {
  count: number
  start: number
}

/** The counters and jail of one rule: kept across reloads under the same product and name. */
export interface RuleState {
  readonly access: Lru<Counter>
  readonly prison: Lru<number>
}

export function newRuleState(accessSize: number, prisonSize: number): RuleState {
  return { access: new Lru(accessSize), prison: new Lru(prisonSize) }
}

/** What mod_prison leaves in the request context (`mod_prison.prison_info`). */
export interface PrisonInfo {
  prisonType: 'mod_prison'
  prisonName: string
  freeTime: Date
  isExpired: boolean
  action: string
}

export const PRISON_INFO = 'mod_prison.prison_info'

/** A compiled prison rule with its state. */
export class PrisonRule {
  readonly name: string
  readonly cond: CondValue
  readonly cmd: (typeof PRISON_ACTIONS)[number]
  readonly params: readonly string[]
  readonly state: RuleState
  private readonly sign: PrisonRuleConf['AccessSignConf']
  private readonly urlRe: UserRegex | undefined
  private readonly checkPeriodMs: number
  private readonly stayPeriodMs: number
  private readonly threshold: number

  constructor(c: PrisonRuleConf, state: RuleState) {
    this.name = c.Name
    this.cond = c.Cond
    this.cmd = c.Action.Cmd as (typeof PRISON_ACTIONS)[number]
    this.params = c.Action.Params
    this.state = state
    this.sign = c.AccessSignConf
    this.urlRe =
      c.AccessSignConf.UrlRegexp === ''
        ? undefined
        : compileUserRegex(c.AccessSignConf.UrlRegexp, '')
    this.checkPeriodMs = c.CheckPeriod * 1000
    this.stayPeriodMs = c.StayPeriod * 1000
    this.threshold = c.Threshold
  }

  /**
   * The text whose MD5 identifies "the same visitor" for this rule, or undefined when the
   * request lacks something the rule needs (the rule then skips the request).
   */
  signText(req: BfeRequest): string | undefined {
    const c = this.sign
    let t = `&label=${this.cond.source}`
    if (c.UseClientIP) {
      if (req.clientAddr === undefined) return undefined
      t += `&clientIP=${req.clientAddr}`
    }
    if (c.UseUrl) t += `&url=${req.rawUri}`
    if (c.UseHost) t += `&host=${req.host}`
    if (c.UsePath) t += `&path=${req.path}`
    if (this.urlRe !== undefined) {
      const m = this.urlRe.exec(req.rawUri)
      if (m === null) return undefined
      t += `&urlpattern=${m
        .slice(1)
        .map((g) => g ?? '')
        .join(',')}`
    }
    for (const k of c.Header) {
      const v = req.headers.get(k)
      if (v === undefined || v === '') return undefined
      t += `&${k}=${v}`
    }
    if (c.Cookie.length > 0) {
      const cookies = req.cookies()
      for (const k of c.Cookie) {
        const v = cookies.get(k)
        if (v === undefined) return undefined
        t += `&${k}=${v}`
      }
    }
    if (c.Query.length > 0) {
      const q = req.query()
      for (const keys of c.Query) {
        let found = false
        t += `&${keys}=`
        for (const k of keys.split('|')) {
          const v = q.get(k)?.[0]
          if (v !== undefined && v !== '') {
            t += v
            found = true
          }
        }
        if (!found) return undefined
      }
    }
    if (c.UseHeaders) {
      const raw = req.headers.raw
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = raw[i] as string
        t += `&${name}=${req.headers.get(name) ?? ''}`
      }
    }
    return t
  }

  /** The visitor signature (MD5 of signText, base64), undefined when the rule skips `req`. */
  signOf(req: BfeRequest): string | undefined {
    const text = this.signText(req)
    return text === undefined ? undefined : createHash('md5').update(text).digest('base64')
  }

  /** What explain shows of the rule's limits. */
  get limits(): { threshold: number; checkPeriodS: number; stayPeriodS: number } {
    return {
      threshold: this.threshold,
      checkPeriodS: this.checkPeriodMs / 1000,
      stayPeriodS: this.stayPeriodMs / 1000,
    }
  }

  /** Counts the request and says whether its visitor is (now) jailed. */
  check(req: BfeRequest, now: number): boolean {
    const sign = this.signOf(req)
    if (sign === undefined) return false
    if (this.jailed(sign, req, now)) return true
    this.record(sign, now)
    return this.jailed(sign, req, now)
  }

  private record(sign: string, now: number): void {
    const access = this.state.access
    let c = access.get(sign)
    if (c === undefined) {
      c = { count: 0, start: now }
      access.set(sign, c)
    }
    if (c.start + this.checkPeriodMs < now) {
      c.count = 0
      c.start = now
    }
    c.count++
    if (c.count > this.threshold) {
      const rest = c.start + this.checkPeriodMs - now
      this.state.prison.set(sign, now + this.stayPeriodMs + rest)
      access.delete(sign)
    }
  }

  private jailed(sign: string, req: BfeRequest, now: number): boolean {
    const free = this.state.prison.get(sign)
    if (free === undefined) return false
    const expired = now >= free
    if (expired) this.state.prison.delete(sign)
    const info: PrisonInfo = {
      prisonType: 'mod_prison',
      prisonName: this.name,
      freeTime: new Date(free),
      isExpired: expired,
      action: this.cmd,
    }
    req.context.set(PRISON_INFO, info)
    return !expired
  }
}
