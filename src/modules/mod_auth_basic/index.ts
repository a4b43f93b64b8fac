import type { BfeRequest } from '../../basic/request.js'
import { ini } from '../../config/ini.js'
import { type JsonNode, loadAtField } from '../../config/json-node.js'
import { type CondValue, type Schema, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext, Reloadable } from '../../module/context.js'
import {
  firstMatch,
  type ProductRuleDecl,
  type ProductRuleTable,
  productRuleFile,
} from '../../module/rule-table.js'
import type { BfeModule, ExplainStep, FilterReturn } from '../../module/types.js'
import { challenge401 } from '../auth-challenge.js'
import { firstMatchIndex, firstMatchSeen } from '../explain-rules.js'
import { loadUserFile, type UserEntry, verifyPassword, verifyPasswordSync } from './user-file.js'

/** mod_auth_basic.conf (spec/modules.md §7). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_auth_basic/auth_basic_rule.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** One rule of auth_basic_rule.data as written. */
const ruleFields = s.object({
  Cond: s.cond(),
  UserFile: s.string({ nonEmpty: true, description: 'htpasswd-style user file' }),
  Realm: s.string({ default: 'Restricted' }),
})

/** A loaded rule: its users read from UserFile. */
export interface AuthBasicRule {
  readonly Cond: CondValue
  readonly userFile: string
  readonly users: ReadonlyMap<string, UserEntry>
  readonly realm: string
  /** `Basic realm="<Realm>"`, built once. */
  readonly challenge: string
}

/**
 * The rule declaration; `resolve` turns a UserFile path of the data into a file (decisions.md
 * D17). Reading the user file is part of loading the rule, so a broken user file fails the load
 * (and a reload) like a broken rule.
 */
export function authBasicRules(
  resolve: (p: string) => string,
  warn: (w: string) => void,
): ProductRuleDecl<AuthBasicRule> {
  const rule: Schema<AuthBasicRule> = {
    required: true,
    decode(node: JsonNode, cx) {
      const v = ruleFields.decode(node, cx)
      const userFile = resolve(v.UserFile)
      const loaded = loadAtField(node, 'UserFile', () => loadUserFile(userFile))
      for (const w of loaded.warnings) warn(w)
      const realm = v.Realm === '' ? 'Restricted' : v.Realm
      return {
        Cond: v.Cond,
        userFile,
        users: loaded.users,
        realm,
        challenge: `Basic realm="${realm}"`,
      }
    },
    jsonSchema: () => ruleFields.jsonSchema(),
  }
  return { rule, title: 'mod_auth_basic auth_basic_rule.data' }
}

const COUNTERS = [
  'REQ_AUTH_RULE_HIT',
  'REQ_AUTH_CHALLENGE',
  'REQ_AUTH_SUCCESS',
  'REQ_AUTH_FAILURE',
] as const

/**
 * The user name and password of an `Authorization: Basic` header (scheme case-insensitive,
 * standard base64 with padding, split at the first colon); undefined when there is none or it is
 * malformed.
 */
export function basicCredentials(
  header: string | undefined,
): { user: string; password: Buffer } | undefined {
  if (header === undefined || header.length < 6) return undefined
  if (header.slice(0, 6).toLowerCase() !== 'basic ') return undefined
  const b64 = header.slice(6)
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined
  const raw = Buffer.from(b64, 'base64')
  const colon = raw.indexOf(0x3a)
  if (colon === -1) return undefined
  return { user: raw.subarray(0, colon).toString('utf8'), password: raw.subarray(colon + 1) }
}

/**
 * mod_auth_basic: at HandleFoundProduct the first rule of the request's product whose condition
 * matches asks for HTTP Basic credentials; valid ones let the request go on, anything else gets
 * `401` with `WWW-Authenticate: Basic realm="<Realm>"`.
 */
export function createModAuthBasic(): BfeModule {
  let loaded: Reloadable<ProductRuleTable<AuthBasicRule>> | undefined
  return {
    name: 'mod_auth_basic',
    dataFiles: [
      productRuleFile(
        'mod_auth_basic/auth_basic_rule.data',
        authBasicRules(
          (p) => p,
          () => {},
        ),
      ),
    ],
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.FoundProduct || loaded === undefined) return undefined
      const list = loaded.value.rules(req.product)
      if (list.length === 0) return undefined
      const i = firstMatchIndex(list, req)
      const rules = firstMatchSeen(list, i)
      if (i === -1) return { summary: 'no rule matched', rules }
      const rule = list[i] as AuthBasicRule
      const cred = basicCredentials(req.headers.get('authorization'))
      let why: string
      if (cred === undefined) why = 'no Basic credentials'
      else {
        const entry = rule.users.get(cred.user)
        if (entry === undefined) why = `user "${cred.user}" is not in ${rule.userFile}`
        else if (verifyPasswordSync(entry, cred.password))
          return {
            summary: `user "${cred.user}" accepted (rule ${i})`,
            rules,
            detail: { user: cred.user, accepted: true, realm: rule.realm },
          }
        else why = `wrong password for user "${cred.user}"`
      }
      challenge401(req, rule.challenge)
      return {
        summary: `401: ${why} (rule ${i}, realm "${rule.realm}")`,
        result: HandlerResult.Response,
        rules,
        detail: { status: 401, accepted: false, reason: why, realm: rule.realm },
      }
    },
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const debug = conf.Log.OpenDebug
      const decl = authBasicRules(
        (p) => ctx.dataFile(p),
        (w) => ctx.log.warn(w),
      )
      const table = ctx.ruleTable('mod_auth_basic', ctx.confFile(conf.Basic.DataPath), decl)
      loaded = table
      const state = ctx.metrics(COUNTERS)
      const verdict = (req: BfeRequest, rule: AuthBasicRule, ok: boolean): HandlerResult => {
        if (ok) {
          state.REQ_AUTH_SUCCESS++
          return HandlerResult.GoOn
        }
        state.REQ_AUTH_FAILURE++
        return challenge401(req, rule.challenge)
      }

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function authBasic(req): FilterReturn {
          const rules = table.value.rules(req.product)
          if (rules.length === 0) return HandlerResult.GoOn
          const rule = firstMatch(rules, req)
          if (rule === undefined) return HandlerResult.GoOn
          state.REQ_AUTH_RULE_HIT++
          const cred = basicCredentials(req.headers.get('authorization'))
          if (cred === undefined) {
            state.REQ_AUTH_CHALLENGE++
            return challenge401(req, rule.challenge)
          }
          const entry = rule.users.get(cred.user)
          if (debug) ctx.log.debug({ user: cred.user, known: entry !== undefined }, 'check')
          if (entry === undefined) return verdict(req, rule, false)
          const ok = verifyPassword(entry, cred.password)
          if (typeof ok === 'boolean') return verdict(req, rule, ok)
          return ok.then((v) => verdict(req, rule, v))
        },
        'auth_basic',
      )
    },
  }
}
