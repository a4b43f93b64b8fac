// HTTP field syntax checks for heads we write (RFC 9110 §5.1, §5.5): what keeps a module's
// header from splitting a request or response head. Loops over a table, not regular
// expressions: a head is checked field by field on every request, and a regular expression's
// entry cost is three times the whole check of a typical field.

/** 1 for the bytes of an RFC 9110 token (`tchar`). */
const TCHAR = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1

/** Whether `s` is a token: a valid field name (one or more tchar). */
export function isToken(s: string): boolean {
  const n = s.length
  if (n === 0) return false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c > 0xff || TCHAR[c] === 0) return false
  }
  return true
}

/**
 * Whether `s` may be written as a field value: HTAB, visible ASCII, space and obs-text
 * (0x80-0xff); no CR, LF, NUL, other controls, DEL, or characters beyond one byte.
 */
export function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 ? c !== 0x09 : c === 0x7f || c > 0xff) return false
  }
  return true
}
