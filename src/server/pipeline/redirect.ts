import { STATUS_CODES } from 'node:http'
import { posix } from 'node:path'

/**
 * The Location value BFE writes for a redirect to `url` from a request whose path is `reqPath`
 * (lifecycle.md §4.4): a relative URL is made absolute against the request's directory and
 * cleaned; a URL with a scheme is used as is.
 */
export function redirectLocation(url: string, reqPath: string): string {
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(url) || url.startsWith('//')) return url
  let u = url
  if (!u.startsWith('/')) {
    const dir = reqPath.slice(0, reqPath.lastIndexOf('/') + 1)
    u = (dir === '' ? '/' : dir) + u
  }
  const q = u.indexOf('?')
  const query = q === -1 ? '' : u.slice(q)
  const path = q === -1 ? u : u.slice(0, q)
  const trailing = path.endsWith('/')
  let cleaned = posix.normalize(path)
  if (trailing && !cleaned.endsWith('/')) cleaned += '/'
  if (!trailing && cleaned.length > 1 && cleaned.endsWith('/')) cleaned = cleaned.slice(0, -1)
  return cleaned + query
}

/** The short HTML body BFE writes for GET redirects. */
export function redirectBody(location: string, code: number): string {
  return `<a href="${htmlEscape(location)}">${STATUS_CODES[code] ?? ''}</a>.\n\n`
}

function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => {
    switch (c) {
      case '&':
        return '&amp;'
      case '<':
        return '&lt;'
      case '>':
        return '&gt;'
      case '"':
        return '&#34;'
      default:
        return '&#39;'
    }
  })
}
