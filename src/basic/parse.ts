/** What parseCookies and parseQuery return for nothing to parse: one map, never written. */
const NO_COOKIES: ReadonlyMap<string, string> = new Map()
const NO_QUERY: ReadonlyMap<string, readonly string[]> = new Map()

/** Parses `Cookie` header values; the first occurrence of a name wins. */
export function parseCookies(values: readonly string[]): ReadonlyMap<string, string> {
  if (values.length === 0) return NO_COOKIES
  const out = new Map<string, string>()
  for (const line of values) {
    for (const part of line.split(';')) {
      const eq = part.indexOf('=')
      if (eq === -1) continue
      const name = part.slice(0, eq).trim()
      if (name === '' || out.has(name)) continue
      let value = part.slice(eq + 1).trim()
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
        value = value.slice(1, -1)
      out.set(name, value)
    }
  }
  return out
}

/**
 * Parses a raw query string as Go's url.ParseQuery does: split on `&`, `key=value`, `+` and
 * percent-decoding; pairs with a bad escape or a `;` are dropped.
 */
export function parseQuery(raw: string): ReadonlyMap<string, readonly string[]> {
  if (raw === '') return NO_QUERY
  const out = new Map<string, string[]>()
  for (const pair of raw.split('&')) {
    if (pair === '' || pair.includes(';')) continue
    const eq = pair.indexOf('=')
    const k = unescapeQuery(eq === -1 ? pair : pair.slice(0, eq))
    const v = unescapeQuery(eq === -1 ? '' : pair.slice(eq + 1))
    if (k === undefined || v === undefined) continue
    const list = out.get(k)
    if (list === undefined) out.set(k, [v])
    else list.push(v)
  }
  return out
}

function unescapeQuery(s: string): string | undefined {
  const plus = s.includes('+') ? s.replace(/\+/g, ' ') : s
  if (!plus.includes('%')) return plus
  try {
    return decodeURIComponent(plus)
  } catch {
    return undefined
  }
}
