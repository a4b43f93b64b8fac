import type { StickyBackend } from '../../basic/request.js'

/** A backend decoded from a sticky cookie, with the time the cookie should be renewed. */
export interface CookieBackend extends StickyBackend {
  /** Unix seconds; undefined when the cookie carries none (never renewed for age). */
  readonly renewTime: number | undefined
}

function mask(bytes: Buffer, code: Buffer): Buffer {
  const out = Buffer.allocUnsafe(bytes.length)
  const n = code.length
  for (let i = 0; i < bytes.length; i++) out[i] = (bytes[i] as number) ^ (code[i % n] as number)
  return out
}

/**
 * The cookie value for `bk`: its JSON `{"ip","port","subcluster","renewtime"}` XOR-ed byte by
 * byte with the repeating mask code, in standard base64 without padding (BFE's format).
 */
export function encodeCookie(
  bk: StickyBackend,
  renewTime: number | undefined,
  maskCode: string,
): string {
  const json = JSON.stringify({
    ip: bk.addr,
    port: bk.port,
    subcluster: bk.subCluster,
    renewtime: renewTime ?? null,
  })
  return mask(Buffer.from(json, 'utf8'), Buffer.from(maskCode, 'utf8'))
    .toString('base64')
    .replace(/=+$/, '')
}

const B64_RAW = /^[A-Za-z0-9+/]*$/

/** Decodes a cookie value with one mask code; undefined when it is not a valid backend. */
export function decodeCookie(value: string, maskCode: string): CookieBackend | undefined {
  if (value === '' || !B64_RAW.test(value) || value.length % 4 === 1) return undefined
  const text = mask(Buffer.from(value, 'base64'), Buffer.from(maskCode, 'utf8')).toString('utf8')
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
  const o = v as Record<string, unknown>
  const { ip, port, subcluster, renewtime } = o
  if (typeof ip !== 'string' || typeof subcluster !== 'string') return undefined
  if (typeof port !== 'number' || !Number.isInteger(port)) return undefined
  if (renewtime !== undefined && renewtime !== null && typeof renewtime !== 'number')
    return undefined
  return {
    addr: ip,
    port,
    subCluster: subcluster,
    renewTime: typeof renewtime === 'number' ? renewtime : undefined,
  }
}

/**
 * A value in parsed JSON at a dotted path (`a.b.0.c`; `\.` is a literal dot), as text: strings
 * as they are, numbers and booleans printed, objects and arrays as JSON; '' when absent or null.
 */
export function jsonPathText(doc: unknown, path: string): string {
  let cur: unknown = doc
  for (const raw of path.split(/(?<!\\)\./)) {
    const key = raw.replace(/\\\./g, '.')
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(key)) return ''
      cur = cur[Number(key)]
    } else if (typeof cur === 'object' && cur !== null) {
      cur = Object.hasOwn(cur, key) ? (cur as Record<string, unknown>)[key] : undefined
    } else return ''
    if (cur === undefined) return ''
  }
  if (cur === null || cur === undefined) return ''
  if (typeof cur === 'string') return cur
  if (typeof cur === 'number' || typeof cur === 'boolean') return String(cur)
  return JSON.stringify(cur)
}

/** `jsonPathText` of a body; '' when the body is not JSON. */
export function bodyJsonText(body: Buffer, path: string): string {
  if (body.length === 0 || path === '') return ''
  let doc: unknown
  try {
    doc = JSON.parse(body.toString('utf8'))
  } catch {
    return ''
  }
  return jsonPathText(doc, path)
}
