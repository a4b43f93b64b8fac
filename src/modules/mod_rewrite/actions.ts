import type { BfeRequest } from '../../basic/request.js'
import type { DecodeCx, JsonSchema, Schema } from '../../config/schema.js'
import { s } from '../../config/schema.js'

/** One compiled rewrite action: changes the request in place. */
export type RewriteAction = (req: BfeRequest) => void

/** Parameter count of each command; -1 = any number. */
const PARAMS: Readonly<Record<string, number>> = {
  HOST_SET: 1,
  HOST_SET_FROM_PATH_PREFIX: 0,
  HOST_SUFFIX_REPLACE: 2,
  PATH_SET: 1,
  PATH_PREFIX_ADD: 1,
  PATH_PREFIX_TRIM: 1,
  QUERY_ADD: 2,
  QUERY_RENAME: 2,
  QUERY_DEL: -1,
  QUERY_DEL_ALL_EXCEPT: -1,
}

const rawAction = s.object({
  Cmd: s.string({ upper: true, oneOf: Object.keys(PARAMS) }),
  Params: s.array(s.string({ nonEmpty: true }), { default: [] }),
})

/** A rewrite action as written in rewrite.data, compiled on load. */
export const rewriteAction: Schema<RewriteAction> = {
  required: true,
  decode(node, cx: DecodeCx): RewriteAction {
    const a = rawAction.decode(node, cx)
    const want = PARAMS[a.Cmd] ?? 0
    if (want !== -1 && a.Params.length !== want)
      node
        .get('Params')
        .fail(`of ${a.Cmd} must have ${want} item${want === 1 ? '' : 's'}, got ${a.Params.length}`)
    return compileRewrite(a.Cmd, a.Params)
  },
  jsonSchema: (): JsonSchema => rawAction.jsonSchema(),
}

/** The action function of `cmd` with its (checked) parameters. */
export function compileRewrite(cmd: string, p: readonly string[]): RewriteAction {
  const p0 = p[0] ?? ''
  const p1 = p[1] ?? ''
  switch (cmd) {
    case 'HOST_SET':
      return (req) => req.headers.set('Host', p0)
    case 'HOST_SET_FROM_PATH_PREFIX':
      return hostFromPathPrefix
    case 'HOST_SUFFIX_REPLACE':
      return (req) => {
        const host = req.host
        if (host.endsWith(p0)) req.headers.set('Host', host.slice(0, host.length - p0.length) + p1)
      }
    case 'PATH_SET':
      return (req) => req.setPath(p0)
    case 'PATH_PREFIX_ADD':
      return (req) => {
        let path = req.path.startsWith('/') ? req.path.slice(1) : req.path
        path = p0 + path
        req.setPath(path.startsWith('/') ? path : `/${path}`)
      }
    case 'PATH_PREFIX_TRIM':
      return (req) => {
        const path = req.path.startsWith(p0) ? req.path.slice(p0.length) : req.path
        req.setPath(path.startsWith('/') ? path : `/${path}`)
      }
    case 'QUERY_ADD': {
      const pair = `${p0}=${p1}`
      return (req) => setQuery(req, req.rawQuery === '' ? pair : `${req.rawQuery}&${pair}`)
    }
    case 'QUERY_RENAME':
      return (req) => {
        if (!req.query().has(p0)) return
        const renamed = `&${req.rawQuery}`.split(`&${p0}=`).join(`&${p1}=`)
        setQuery(req, renamed.slice(1))
      }
    case 'QUERY_DEL': {
      const keys = new Set(p)
      return (req) => {
        if (req.rawQuery === '') return
        setQuery(
          req,
          filterPairs(req.rawQuery, (k) => !keys.has(k)),
        )
      }
    }
    case 'QUERY_DEL_ALL_EXCEPT': {
      const keep = new Set(p)
      return (req) => {
        if (req.rawQuery === '') return
        setQuery(
          req,
          filterPairs(req.rawQuery, (k) => keep.has(k)),
        )
      }
    }
    default:
      throw new Error(`mod_rewrite: no action ${cmd}`)
  }
}

/**
 * Changes the raw query and keeps the path of the request-target as it is (the client's own
 * encoding, as Go keeps a valid RawPath); nothing changes when the query is the same.
 */
function setQuery(req: BfeRequest, rawQuery: string): void {
  if (rawQuery === req.rawQuery) return
  const uri = req.uri
  const q = uri.indexOf('?')
  const base = q === -1 ? uri : uri.slice(0, q)
  req.setRawQuery(rawQuery)
  req.uri = rawQuery === '' ? base : `${base}?${rawQuery}`
}

/** `/h/rest` → Host `h`, path `/rest`; paths with fewer than two `/` stay. */
function hostFromPathPrefix(req: BfeRequest): void {
  const path = req.path
  const second = path.indexOf('/', 1)
  if (!path.startsWith('/') || second === -1) return
  req.headers.set('Host', path.slice(1, second))
  req.setPath(`/${path.slice(second + 1)}`)
}

/**
 * The raw query with the `key=value` pairs whose raw key fails `keep` removed. Pairs without `=`
 * stay, as in BFE (it removes `&key=` … up to the next `&`).
 */
function filterPairs(raw: string, keep: (key: string) => boolean): string {
  const out: string[] = []
  for (const pair of raw.split('&')) {
    const eq = pair.indexOf('=')
    if (eq !== -1 && !keep(pair.slice(0, eq))) continue
    out.push(pair)
  }
  return out.join('&')
}
