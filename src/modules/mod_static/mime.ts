import { basename } from 'node:path'
import { readJsonFile } from '../../config/data-file.js'
import { type DecodeCx, s } from '../../config/schema.js'
import type { Loaded } from '../../module/context.js'

/**
 * MIME types for extensions mime_type.data does not list: the table Go's `mime` package has built
 * in (BFE's fallback), plus a few common web types.
 */
export const BUILT_IN_MIME: ReadonlyMap<string, string> = new Map([
  ['.avif', 'image/avif'],
  ['.css', 'text/css; charset=utf-8'],
  ['.gif', 'image/gif'],
  ['.htm', 'text/html; charset=utf-8'],
  ['.html', 'text/html; charset=utf-8'],
  ['.jpeg', 'image/jpeg'],
  ['.jpg', 'image/jpeg'],
  ['.js', 'text/javascript; charset=utf-8'],
  ['.json', 'application/json'],
  ['.mjs', 'text/javascript; charset=utf-8'],
  ['.pdf', 'application/pdf'],
  ['.png', 'image/png'],
  ['.svg', 'image/svg+xml'],
  ['.wasm', 'application/wasm'],
  ['.webp', 'image/webp'],
  ['.xml', 'text/xml; charset=utf-8'],
  ['.txt', 'text/plain; charset=utf-8'],
  ['.ico', 'image/vnd.microsoft.icon'],
  ['.woff', 'font/woff'],
  ['.woff2', 'font/woff2'],
  ['.map', 'application/json'],
])

/** mime_type.data: `{ "Version": "...", "Config": { ".ext": "type", ... } }`. */
export const mimeSchema = s.object({
  Version: s.string({ nonEmpty: true }),
  Config: s.map(s.string(), 'extension', { required: false }),
})

/** Loads mime_type.data; extensions are matched lower-cased. */
export function loadMimeTypes(file: string): Loaded<ReadonlyMap<string, string>> {
  const cx: DecodeCx = { warnings: [] }
  const root = readJsonFile(file)
  if (root.absent) root.fail('is empty')
  const v = mimeSchema.decode(root, cx)
  const map = new Map<string, string>()
  for (const [k, t] of v.Config) map.set(k.toLowerCase(), t)
  return { value: map, version: `${basename(file)}=${v.Version}`, warnings: cx.warnings }
}
