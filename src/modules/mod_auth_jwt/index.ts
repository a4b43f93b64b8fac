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
import type { JwtKey } from './key-file.js'

/** mod_auth_jwt.conf (spec/modules.md §8). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_auth_jwt/auth_jwt_rule.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/** One rule of auth_jwt_rule.data as written. */
const ruleFields = s.object({
  Cond: s.cond(),
  KeyFile: s.string({ nonEmpty: true, description: 'JSON array of JWKs (RFC 7517)' }),
  Realm: s.string({ default: 'Restricted' }),
})

/** A loaded rule: its keys read from KeyFile. */
export interface AuthJwtRule {
  readonly Cond: CondValue
  readonly keyFile: string
  readonly keys: readonly JwtKey[]
  /** `Bearer realm="<Realm>"`, built once. */
  readonly challenge: string
}

/**
 * The rule declaration; `resolve` turns a KeyFile path of the data into a file (decisions.md
 * D17), `loadKeys` reads one (key-file.ts `loadKeyFile`). A key file that cannot be read or holds
 * a bad key fails the load (and a reload).
 */
export function authJwtRules(
  resolve: (p: string) => string,
  loadKeys: (file: string) => JwtKey[],
): ProductRuleDecl<AuthJwtRule> {
  const rule: Schema<AuthJwtRule> = {
    required: true,
    decode(node: JsonNode, cx) {
      const v = ruleFields.decode(node, cx)
      const keyFile = resolve(v.KeyFile)
      const keys = loadAtField(node, 'KeyFile', () => loadKeys(keyFile))
      const realm = v.Realm === '' ? 'Restricted' : v.Realm
      return { Cond: v.Cond, keyFile, keys, challenge: `Bearer realm="${realm}"` }
    },
    jsonSchema: () => ruleFields.jsonSchema(),
  }
  return { rule, title: 'mod_auth_jwt auth_jwt_rule.data' }
}

const COUNTERS = [
  'REQ_AUTH_RULE_HIT',
  'REQ_AUTH_NO_AUTHORIZATION',
  'REQ_AUTH_AUTHORIZATION_FORMAT_ERR',
  'REQ_AUTH_SUCCESS',
  'REQ_AUTH_FAILURE',
] as const

/**
 * mod_auth_jwt: at HandleFoundProduct the first rule of the request's product whose condition
 * matches requires `Authorization: Bearer <JWT>` signed with one of the rule's keys; anything else
 * gets `401` with `WWW-Authenticate: Bearer realm="<Realm>"`.
 */
export function createModAuthJwt(): BfeModule {
  let loaded: Reloadable<ProductRuleTable<AuthJwtRule>> | undefined
  let tokenOf: ((h: string | undefined) => string | undefined | null) | undefined
  return {
    name: 'mod_auth_jwt',
    dataFiles: [
      productRuleFile(
        'mod_auth_jwt/auth_jwt_rule.data',
        authJwtRules(
          (p) => p,
          () => [],
        ),
      ),
    ],
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.FoundProduct || loaded === undefined || tokenOf === undefined)
        return undefined
      const list = loaded.value.rules(req.product)
      if (list.length === 0) return undefined
      const i = firstMatchIndex(list, req)
      const rules = firstMatchSeen(list, i)
      if (i === -1) return { summary: 'no rule matched', rules }
      const rule = list[i] as AuthJwtRule
      const token = tokenOf(req.headers.get('authorization'))
      if (token === undefined || token === null) {
        const why =
          token === undefined ? 'no Authorization header' : 'Authorization is not "Bearer <token>"'
        challenge401(req, rule.challenge)
        return {
          summary: `401: ${why} (rule ${i})`,
          result: HandlerResult.Response,
          rules,
          detail: { status: 401, reason: why },
        }
      }
      // The JOSE verification is asynchronous and reads the clock: explain stops at the format.
      return {
        summary: `Bearer token present (rule ${i}); signature and time claims not checked here`,
        rules,
        detail: {
          tokenVerified: false,
          keys: rule.keys.length,
          note: 'a token that does not verify with one of the keys gets 401 when served',
        },
      }
    },
    async init(ctx: ModuleContext): Promise<void> {
      const conf = ctx.readConf(confSchema)
      const debug = conf.Log.OpenDebug
      // Loaded when the module is enabled: the JOSE library is not part of every start-up.
      const { bearerToken, loadKeyFile, verifyToken } = await import('./key-file.js')
      const table = ctx.ruleTable(
        'mod_auth_jwt',
        ctx.confFile(conf.Basic.DataPath),
        authJwtRules((p) => ctx.dataFile(p), loadKeyFile),
      )
      loaded = table
      tokenOf = bearerToken
      const state = ctx.metrics(COUNTERS)

      const refuse = (req: BfeRequest, rule: AuthJwtRule, why: string): HandlerResult => {
        state.REQ_AUTH_FAILURE++
        if (debug) ctx.log.debug({ uri: req.rawUri, why }, 'jwt refused')
        return challenge401(req, rule.challenge)
      }
      const verdict = (req: BfeRequest, rule: AuthJwtRule, ok: boolean): HandlerResult => {
        if (!ok) return refuse(req, rule, 'token invalid')
        state.REQ_AUTH_SUCCESS++
        return HandlerResult.GoOn
      }

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function authJwt(req): FilterReturn {
          const rules = table.value.rules(req.product)
          if (rules.length === 0) return HandlerResult.GoOn
          const rule = firstMatch(rules, req)
          if (rule === undefined) return HandlerResult.GoOn
          state.REQ_AUTH_RULE_HIT++
          const token = bearerToken(req.headers.get('authorization'))
          if (token === undefined) {
            state.REQ_AUTH_NO_AUTHORIZATION++
            return refuse(req, rule, 'no Authorization header')
          }
          if (token === null) {
            state.REQ_AUTH_AUTHORIZATION_FORMAT_ERR++
            return refuse(req, rule, 'Authorization is not "Bearer <token>"')
          }
          return verifyToken(token, rule.keys).then((ok) => verdict(req, rule, ok))
        },
        'auth_jwt',
      )
    },
  }
}
