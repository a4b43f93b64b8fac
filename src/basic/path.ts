/**
 * Path normalisation for module authors. `req.path` is the percent-decoded path exactly as the
 * client sent it, so `//admin`, `/x/../admin` and `/./admin` all differ from `/admin`: a guard
 * that compares paths should compare `cleanPath(req.path)`. Backends that normalise paths
 * themselves would otherwise see `/admin` where the guard saw something else.
 */

/**
 * The shortest path equivalent to `p` (the rules of Go's `path.Clean`, which BFE uses): repeated
 * slashes become one, `.` segments go, `..` removes the segment before it (never climbing above
 * the root), and the result starts with `/`. A trailing slash is kept (it names a directory).
 */
export function cleanPath(p: string): string {
  if (p === '') return '/'
  const trailing = p.length > 1 && p.endsWith('/')
  const out: string[] = []
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') out.pop()
    else out.push(seg)
  }
  const joined = `/${out.join('/')}`
  return trailing && joined !== '/' ? `${joined}/` : joined
}

/** True when `path` (cleaned) is `prefix` or lies under it (`/admin` covers `/admin/x`, not `/administrator`). */
export function pathUnder(path: string, prefix: string): boolean {
  const c = cleanPath(path)
  const pre = prefix.endsWith('/') && prefix.length > 1 ? prefix.slice(0, -1) : prefix
  if (pre === '/') return true
  return c === pre || c.startsWith(`${pre}/`)
}
