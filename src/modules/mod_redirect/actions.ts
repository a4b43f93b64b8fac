import type { BfeRequest } from '../../basic/request.js'
import { bound } from '../../config/bounds.js'
import type { DecodeCx, JsonSchema, Schema } from '../../config/schema.js'
import { s } from '../../config/schema.js'

/** One compiled redirect action: the URL to send the client to. */
export type RedirectAction = (req: BfeRequest) => string

const CMDS = ['URL_SET', 'URL_FROM_QUERY', 'URL_PREFIX_ADD', 'SCHEME_SET'] as const

const rawAction = s.object({
  Cmd: s.string({ oneOf: CMDS }),
  Params: s.array(s.string(), { minItems: 1, maxItems: 1 }),
})

/** A redirect action as written in redirect.data, compiled on load. */
export const redirectAction: Schema<RedirectAction> = {
  required: true,
  decode(node, cx: DecodeCx): RedirectAction {
    const a = rawAction.decode(node, cx)
    const p = a.Params[0] ?? ''
    if (a.Cmd === 'SCHEME_SET') {
      const scheme = p.toLowerCase()
      if (scheme !== 'http' && scheme !== 'https')
        node.get('Params').get('0').fail(`"${p}" is not a supported scheme (http or https)`)
      return compileRedirect(a.Cmd, scheme)
    }
    return compileRedirect(a.Cmd, p)
  },
  jsonSchema: (): JsonSchema => rawAction.jsonSchema(),
}

/** The redirect status: BFE only refuses 0; we keep it to a three-digit HTTP status. */
export const redirectStatus = s.int({ bound: bound(100, 999) })

export function compileRedirect(cmd: string, p: string): RedirectAction {
  switch (cmd) {
    case 'URL_SET':
      return () => p
    case 'URL_FROM_QUERY':
      return (req) => req.query().get(p)?.[0] ?? ''
    case 'URL_PREFIX_ADD':
      return (req) => p + requestUri(req)
    case 'SCHEME_SET':
      return (req) => `${p}://${requestHost(req)}${requestUri(req)}`
    default:
      throw new Error(`mod_redirect: no action ${cmd}`)
  }
}

/** Path and query of the request-target (an absolute-form target loses scheme and authority). */
export function requestUri(req: BfeRequest): string {
  const raw = req.rawUri
  if (raw.charCodeAt(0) === 47 /* / */) return raw
  const scheme = raw.indexOf('://')
  if (scheme === -1) return raw
  const slash = raw.indexOf('/', scheme + 3)
  const q = raw.indexOf('?', scheme + 3)
  if (slash === -1 || (q !== -1 && q < slash)) return q === -1 ? '/' : `/${raw.slice(q)}`
  return raw.slice(slash)
}

/** The authority of an absolute-form target, else the Host header (port included). */
function requestHost(req: BfeRequest): string {
  const raw = req.rawUri
  if (raw.charCodeAt(0) !== 47) {
    const scheme = raw.indexOf('://')
    if (scheme !== -1) {
      const rest = raw.slice(scheme + 3)
      const end = rest.search(/[/?#]/)
      const authority = end === -1 ? rest : rest.slice(0, end)
      if (authority !== '') return authority
    }
  }
  return req.host
}
