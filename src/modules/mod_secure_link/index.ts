import { createHash } from 'node:crypto'
import type { BfeRequest } from '../../basic/request.js'
import { internalResponse } from '../../basic/response.js'
import { ini } from '../../config/ini.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import { loadProductRules, type ProductRuleDecl, productRuleFile } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'

/** mod_secure_link.conf (spec/modules.md §16). */
const confSchema = {
  Basic: { DataPath: ini.string('mod_secure_link/secure_link.data') },
  Log: { OpenDebug: ini.bool(false) },
} as const

export const NODE_TYPES = ['label', 'query', 'header', 'host', 'uri', 'remote_addr'] as const
export type NodeType = (typeof NODE_TYPES)[number]

const expressionNode = s.check(
  s.object({
    Type: s.string({ description: `one of ${NODE_TYPES.join(', ')} (any case)` }),
    Param: s.string({ default: '' }),
  }),
  (n, node) => {
    const t = n.Type.toLowerCase()
    if (!(NODE_TYPES as readonly string[]).includes(t))
      node.get('Type').fail(`"${n.Type}" is not one of ${NODE_TYPES.join(', ')}`)
    n.Type = t
  },
)

/** One rule of secure_link.data. */
const rule = s.object({
  Cond: s.cond(),
  ChecksumKey: s.string({ default: 'md5', nonEmpty: true }),
  ExpiresKey: s.string({ default: '' }),
  ExpressionNodes: s.array(expressionNode),
})
export type SecureLinkRule = Infer<typeof rule>

export const secureLinkRules: ProductRuleDecl<SecureLinkRule> = {
  rule,
  title: 'mod_secure_link secure_link.data',
}

export const COUNTERS = [
  'REQ_TOTAL',
  'REQ_ACCEPT',
  'REQ_WITHOUT_EXPIRES_KEY',
  'REQ_INVALID_EXPIRES_VALUE',
  'REQ_WITHOUT_CHECKSUM_KEY',
  'REQ_INVALID_CHECKSUM',
  'REQ_EXPIRED',
] as const
export type Verdict = (typeof COUNTERS)[number]

/** `base64url` without padding of the MD5 of `text` (UTF-8). */
export function checksumOf(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('base64url')
}

/**
 * The `uri` node's value (decisions.md D11): the request-target as received with every query
 * pair whose name is `checksumKey` removed; other pairs keep their order and encoding, and the
 * `?` goes when no pair is left.
 */
export function signedUri(rawUri: string, checksumKey: string): string {
  const q = rawUri.indexOf('?')
  if (q === -1) return rawUri
  const kept: string[] = []
  for (const pair of rawUri.slice(q + 1).split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const rawName = eq === -1 ? pair : pair.slice(0, eq)
    if (queryName(rawName) === checksumKey) continue
    kept.push(pair)
  }
  return kept.length === 0 ? rawUri.slice(0, q) : `${rawUri.slice(0, q)}?${kept.join('&')}`
}

function queryName(raw: string): string {
  if (!raw.includes('%') && !raw.includes('+')) return raw
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '))
  } catch {
    return raw
  }
}

function firstQuery(req: BfeRequest, key: string): string {
  return req.query().get(key)?.[0] ?? ''
}

/** `ip:port` of the peer, IPv6 in brackets (Go's RemoteAddr). */
function remoteAddr(req: BfeRequest): string {
  const ses = req.session
  const ip = ses.remoteAddr
  return ip.includes(':') ? `[${ip}]:${ses.remotePort}` : `${ip}:${ses.remotePort}`
}

/** The text whose checksum the link must carry: the node values in order. */
export function signedText(r: SecureLinkRule, req: BfeRequest): string {
  let out = ''
  for (const n of r.ExpressionNodes) {
    switch (n.Type as NodeType) {
      case 'label':
        out += n.Param
        break
      case 'query':
        out += firstQuery(req, n.Param)
        break
      case 'header':
        out += req.headers.get(n.Param) ?? ''
        break
      case 'host':
        out += req.host
        break
      case 'uri':
        out += signedUri(req.rawUri, r.ChecksumKey)
        break
      case 'remote_addr':
        out += remoteAddr(req)
        break
    }
  }
  return out
}

/** Checks a request against a matching rule. */
export function verify(r: SecureLinkRule, req: BfeRequest, nowSec: number): Verdict {
  if (r.ExpiresKey !== '') {
    const v = firstQuery(req, r.ExpiresKey)
    if (v === '') return 'REQ_WITHOUT_EXPIRES_KEY'
    if (!/^[+-]?\d{1,18}$/.test(v)) return 'REQ_INVALID_EXPIRES_VALUE'
    if (nowSec > Number(v)) return 'REQ_EXPIRED'
  }
  const sum = firstQuery(req, r.ChecksumKey)
  if (sum === '') return 'REQ_WITHOUT_CHECKSUM_KEY'
  return checksumOf(signedText(r, req)) === sum ? 'REQ_ACCEPT' : 'REQ_INVALID_CHECKSUM'
}

/**
 * mod_secure_link: at HandleAfterLocation the first rule of the request's product whose
 * condition matches checks the link's expiry and checksum; a request that fails gets an empty
 * `403`.
 */
export function createModSecureLink(): BfeModule {
  return {
    name: 'mod_secure_link',
    dataFiles: [productRuleFile('mod_secure_link/secure_link.data', secureLinkRules)],
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const table = ctx.reloadable('mod_secure_link', ctx.confFile(conf.Basic.DataPath), (f) => {
        // BFE's reload answers without a version for this module.
        const t = loadProductRules(f, secureLinkRules)
        return { value: t, warnings: t.warnings }
      })
      const debug = conf.Log.OpenDebug
      const counters = ctx.metrics(COUNTERS)

      ctx.callbacks.addRequestFilter(
        CallbackPoint.AfterLocation,
        function secureLink(req: BfeRequest) {
          const rules = table.value.rules(req.product)
          for (let i = 0; i < rules.length; i++) {
            const r = rules[i] as SecureLinkRule
            if (!r.Cond.condition.test(req)) continue
            counters.REQ_TOTAL++
            const v = verify(r, req, Math.floor(Date.now() / 1000))
            counters[v]++
            if (v === 'REQ_ACCEPT') return HandlerResult.GoOn
            if (debug) ctx.log.debug({ uri: req.rawUri, reason: v }, 'secure link refused')
            req.httpResponse = internalResponse(403)
            return HandlerResult.Response
          }
          return HandlerResult.GoOn
        },
        'secureLink',
      )
    },
  }
}
