/** Response primitives: false while the request has no response yet (condition.md §4.10). */
import { headerValue, makeMatcher, splitList } from './match.js'
import { type PrimitiveDef, sig } from './types.js'

export const resPrimitives: Readonly<Record<string, PrimitiveDef>> = {
  res_code_in: {
    params: sig('codes:S'),
    build: (a) => {
      // Exact text match: only items that are the canonical decimal form of a number can match.
      const codes = new Set<number>()
      for (const item of splitList(a.str(0))) {
        const n = Number(item)
        if (item !== '' && Number.isInteger(n) && String(n) === item) codes.add(n)
      }
      return {
        req: (req) => {
          const res = req.httpResponse
          return res !== undefined && codes.has(res.statusCode)
        },
      }
    },
  },
  res_header_key_in: {
    params: sig('key_list:S'),
    build: (a) => {
      const keys = splitList(a.str(0)).map((k) => k.toLowerCase())
      return {
        req: (req) => {
          const res = req.httpResponse
          if (res === undefined) return false
          for (let i = 0; i < keys.length; i++) {
            const v = headerValue(res.headers.raw, keys[i] as string)
            if (v !== undefined && v !== '') return true
          }
          return false
        },
      }
    },
  },
  res_header_value_in: {
    params: sig('key:S', 'value_list:S', 'case_insensitive:B'),
    build: (a) => {
      const key = a.str(0).toLowerCase()
      const m = makeMatcher(a.str(1), a.bool(2), 'in')
      return {
        req: (req) => {
          const res = req.httpResponse
          return res !== undefined && m(headerValue(res.headers.raw, key) ?? '')
        },
      }
    },
  },
}
