/*
 * Host header and authority validation (RFC 9110 §7.2, RFC 3986 §3.2.2; decision D21).
 */

// 1 = allowed in a reg-name: unreserved / pct-encoded ('%') / sub-delims (RFC 3986 §3.2.2).
const REG_NAME = new Uint8Array(128)
for (let c = 0x30; c <= 0x39; c++) REG_NAME[c] = 1
for (let c = 0x41; c <= 0x5a; c++) REG_NAME[c] = 1
for (let c = 0x61; c <= 0x7a; c++) REG_NAME[c] = 1
for (const ch of "-._~%!$&'()*+,;=") REG_NAME[ch.charCodeAt(0)] = 1

// An IP-literal between brackets: hex digits, ':' and '.' (IPv6 with an embedded IPv4), or the
// characters of an IPvFuture ('v' and sub-delims are covered by REG_NAME).
const IP_LITERAL = new Uint8Array(128)
for (let c = 0; c < 128; c++) IP_LITERAL[c] = REG_NAME[c]!
IP_LITERAL[0x3a] = 1

/**
 * Whether `v` is a valid Host value: `uri-host [ ":" port ]`, where uri-host is a non-empty
 * reg-name or a bracketed IP literal and port is digits. An empty value, spaces, `/`, `@`, `\`,
 * control bytes or anything outside ASCII make it invalid. `a..b` is a syntactically valid
 * reg-name and passes (it is looked up as it is and matches no host rule).
 */
export function validHost(v: string): boolean {
  const n = v.length
  if (n === 0) return false
  let i = 0
  if (v.charCodeAt(0) === 0x5b /* [ */) {
    const close = v.indexOf(']')
    if (close < 2) return false
    for (i = 1; i < close; i++) {
      const c = v.charCodeAt(i)
      if (c >= 128 || IP_LITERAL[c] !== 1) return false
    }
    i = close + 1
  } else {
    for (; i < n; i++) {
      const c = v.charCodeAt(i)
      if (c === 0x3a /* : */) break
      if (c >= 128 || REG_NAME[c] !== 1) return false
    }
    if (i === 0) return false
  }
  if (i === n) return true
  if (v.charCodeAt(i) !== 0x3a) return false
  for (i++; i < n; i++) {
    const c = v.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return false
  }
  return true
}

/**
 * The authority of an absolute-form request-target (`http://host:port/path?q`): what lies
 * between `://` and the next `/`, `?` or `#`. undefined when the target is not in absolute form.
 */
export function absoluteFormAuthority(target: string): string | undefined {
  if (target.charCodeAt(0) === 0x2f /* / */ || target === '*') return undefined
  const s = target.indexOf('://')
  if (s <= 0) return undefined
  for (let i = 0; i < s; i++) {
    const c = target.charCodeAt(i) | 0x20
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    const alpha = c >= 0x61 && c <= 0x7a
    if (!alpha && (i === 0 || !isSchemeChar(target.charCodeAt(i)))) return undefined
  }
  let end = s + 3
  while (end < target.length) {
    const c = target.charCodeAt(end)
    if (c === 0x2f || c === 0x3f || c === 0x23) break
    end++
  }
  return target.slice(s + 3, end)
}

function isSchemeChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e
  )
}
