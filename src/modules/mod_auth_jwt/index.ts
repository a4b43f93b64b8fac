import { BfeConfError } from '../../basic/errors.js'
import type { BfeRequest } from '../../basic/request.js'
import { internalResponse } from '../../basic/response.js'
import { ini } from '../../config/ini.js'
import type { JsonNode } from '../../config/json-node.js'
import { type CondValue, type Schema, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import { firstMatch, type ProductRuleDecl } from '../../module/rule-table.js'
import type { BfeModule, FilterReturn } from '../../module/types.js'
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
      let keys: JwtKey[]
      try {
        keys = loadKeys(keyFile)
      } catch (err) {
        if (err instanceof BfeConfError && err.field !== '') throw err
        const reason = err instanceof Error ? err.message : String(err)
        throw new BfeConfError(node.file, `${node.pointer}/KeyFile`, reason, { cause: err })
      }
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
  return {
    name: 'mod_auth_jwt',
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
      const state = ctx.metrics(COUNTERS)

      const refuse = (req: BfeRequest, rule: AuthJwtRule, why: string): HandlerResult => {
        state.REQ_AUTH_FAILURE++
        if (debug) ctx.log.debug({ uri: req.rawUri, why }, 'jwt refused')
        const res = internalResponse(401)
        res.headers.set('WWW-Authenticate', rule.challenge)
        req.httpResponse = res
        return HandlerResult.Response
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
