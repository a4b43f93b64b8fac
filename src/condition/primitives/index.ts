import { reqPrimitives } from './req.js'
import { resPrimitives } from './res.js'
import { sesPrimitives } from './ses.js'
import { sysPrimitives } from './sys.js'
import type { PrimitiveDef } from './types.js'

/** Every primitive of the language, by name. */
export const PRIMITIVES: ReadonlyMap<string, PrimitiveDef> = new Map(
  Object.entries({ ...sysPrimitives, ...sesPrimitives, ...reqPrimitives, ...resPrimitives }),
)

/** Primitives BFE has that bfe-ts does not implement (decision D3). */
export const UNSUPPORTED_PRIMITIVES: ReadonlySet<string> = new Set([
  'req_body_json_in',
  'req_body_json_prefix_in',
])
