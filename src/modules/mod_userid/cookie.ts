/** A cookie to send in `Set-Cookie` (mod_userid, mod_session_sticky). */
export interface SetCookie {
  name: string
  value: string
  path?: string | undefined
  domain?: string | undefined
  /** Absolute expiry; omitted when undefined. */
  expires?: Date | undefined
  /** Seconds: > 0 written as is, < 0 written as `Max-Age=0`, 0 omitted. */
  maxAge?: number | undefined
  httpOnly?: boolean | undefined
  secure?: boolean | undefined
}

// Bytes a cookie value may not hold at all: controls, non-ASCII, `"`, `;`, `\`.
const BAD_VALUE_CHAR = /[^\x20\x21\x23-\x3a\x3c-\x5b\x5d-\x7e]/g

/**
 * The `Set-Cookie` value in the attribute order BFE writes: `name=value; Path; Domain; Expires;
 * Max-Age; HttpOnly; Secure`. Bytes a cookie value may not hold are dropped (a value
 * with a space or comma is quoted); `;` in the path
 * is dropped; a leading `.` of the domain is removed.
 */
export function setCookieString(c: SetCookie): string {
  let value = c.value.replace(BAD_VALUE_CHAR, '')
  // a space or a comma is allowed inside double quotes only
  if (value.includes(' ') || value.includes(',')) value = `"${value}"`
  let out = `${c.name}=${value}`
  if (c.path !== undefined && c.path !== '') out += `; Path=${c.path.replace(/;/g, '')}`
  if (c.domain !== undefined && c.domain !== '') {
    const d = c.domain.startsWith('.') ? c.domain.slice(1) : c.domain
    if (d !== '') out += `; Domain=${d}`
  }
  if (c.expires !== undefined) out += `; Expires=${c.expires.toUTCString()}`
  const age = c.maxAge ?? 0
  if (age > 0) out += `; Max-Age=${age}`
  else if (age < 0) out += '; Max-Age=0'
  if (c.httpOnly === true) out += '; HttpOnly'
  if (c.secure === true) out += '; Secure'
  return out
}
