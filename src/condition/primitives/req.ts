/** Request primitives: host, method, port, URL, path, query, cookies, headers, tags, context. */
import type { BfeRequest } from '../../basic/request.js'
import { compileUserRegex, type UserRegex } from '../regex.js'
import {
  fold,
  headerValue,
  type MatchMode,
  makeHashMatcher,
  makeMatcher,
  parseBuckets,
  type StrMatch,
  splitList,
} from './match.js'
import { alwaysFalse, type BuildArgs, type PrimitiveDef, type ReqPred, sig } from './types.js'

/** Compiles the regex argument `i`, turning regex errors into positioned load errors. */
export function regexArg(a: BuildArgs, i: number): UserRegex {
  try {
    return compileUserRegex(a.str(i), a.name)
  } catch (err) {
    return a.fail(err instanceof Error ? err.message : String(err), i)
  }
}

function regexMatcher(a: BuildArgs, i: number): StrMatch {
  const re = regexArg(a, i)
  return (v) => re.test(v)
}

/** Host value cut at the first ':' (same as BfeRequest.hostname, read without allocating). */
function hostOf(req: BfeRequest): string {
  const h = headerValue(req.headers.raw, 'host') ?? ''
  const i = h.indexOf(':')
  return i === -1 ? h : h.slice(0, i)
}

function portOf(req: BfeRequest): string {
  const h = headerValue(req.headers.raw, 'host') ?? ''
  const i = h.indexOf(':')
  return i <= 0 ? '80' : h.slice(i + 1)
}

/** `fetch(req)` fed to a list matcher built from argument `listIdx`. */
function listPrim(
  fetch: (req: BfeRequest) => string,
  mode: MatchMode,
  ci: boolean | 'arg',
): PrimitiveDef['build'] {
  return (a) => {
    const m = makeMatcher(a.str(0), ci === 'arg' ? a.bool(1) : ci, mode)
    return { req: (req) => m(fetch(req)) }
  }
}

function pathPrim(mode: MatchMode): PrimitiveDef {
  return {
    params: sig('path_list:S', 'case_insensitive:B'),
    build: listPrim((r) => r.path, mode, 'arg'),
  }
}

/** Primitives of shape (key, list, ci) over a value source; `undefined` value → false. */
type ValueSource = (key: string) => (req: BfeRequest) => string | undefined

const queryValue: ValueSource = (key) => (req) => {
  const vs = req.query().get(key)
  return vs === undefined ? '' : (vs[0] ?? '')
}
const cookieValue: ValueSource = (key) => (req) => req.cookies().get(key)
const headerSource: ValueSource = (key) => {
  const lower = key.toLowerCase()
  return (req) => headerValue(req.headers.raw, lower) ?? ''
}

function keyedList(source: ValueSource, mode: MatchMode, listName: string): PrimitiveDef {
  return {
    params: sig('key:S', `${listName}:S`, 'case_insensitive:B'),
    build: (a) => {
      const get = source(a.str(0))
      const m = makeMatcher(a.str(1), a.bool(2), mode)
      return {
        req: (req) => {
          const v = get(req)
          return v !== undefined && m(v)
        },
      }
    },
  }
}

function keyedHash(source: ValueSource): PrimitiveDef {
  return {
    params: sig('key:S', 'hash_value_list:S', 'case_insensitive:B'),
    build: (a) => {
      const get = source(a.str(0))
      const m = makeHashMatcher(parseBuckets(a.str(1), a, 1), a.bool(2))
      return {
        req: (req) => {
          const v = get(req)
          return v !== undefined && m(v)
        },
      }
    },
  }
}

function keyedRegex(source: ValueSource): PrimitiveDef {
  return {
    params: sig('key:S', 'reg_exp:S'),
    build: (a) => {
      const get = source(a.str(0))
      const m = regexMatcher(a, 1)
      return {
        req: (req) => {
          const v = get(req)
          return v !== undefined && m(v)
        },
      }
    },
  }
}

/** Any key of a map-like collection present (`has`). */
function keyIn(has: (req: BfeRequest, key: string) => boolean): PrimitiveDef {
  return {
    params: sig('key_list:S'),
    build: (a) => {
      const keys = splitList(a.str(0))
      const n = keys.length
      return {
        req: (req) => {
          for (let i = 0; i < n; i++) if (has(req, keys[i] as string)) return true
          return false
        },
      }
    },
  }
}

export const reqPrimitives: Readonly<Record<string, PrimitiveDef>> = {
  // Host, method, port, URL
  req_host_in: {
    params: sig('host_list:S'),
    build: (a) => {
      for (const item of splitList(a.str(0))) {
        if (item.includes(':')) a.fail(`${a.name}: host "${item}" must not contain ":"`, 0)
      }
      const m = makeMatcher(a.str(0), true, 'in')
      return { req: (req) => m(hostOf(req)) }
    },
  },
  req_host_suffix_in: { params: sig('suffix_list:S'), build: listPrim(hostOf, 'suffix', true) },
  req_host_regmatch: {
    params: sig('reg_exp:S'),
    build: (a) => {
      const m = regexMatcher(a, 0)
      return { req: (req) => m(hostOf(req)) }
    },
  },
  req_host_tag_in: { params: sig('tag_list:S'), build: listPrim((r) => r.hostTag, 'in', true) },
  req_method_in: { params: sig('method_list:S'), build: listPrim((r) => r.method, 'in', true) },
  req_port_in: { params: sig('port_list:S'), build: listPrim(portOf, 'in', false) },
  req_url_regmatch: {
    params: sig('reg_exp:S'),
    build: (a) => {
      const m = regexMatcher(a, 0)
      return { req: (req) => m(req.rawUri) }
    },
  },

  // Path
  req_path_in: pathPrim('in'),
  req_path_prefix_in: pathPrim('prefix'),
  req_path_suffix_in: pathPrim('suffix'),
  req_path_contain: pathPrim('contain'),
  req_path_element_prefix_in: {
    params: sig('prefix_list:S', 'case_insensitive:B'),
    build: (a) => {
      const ci = a.bool(1)
      // Every item ends with '/'; the path gets one too when missing (checked without concat).
      const items = splitList(a.str(0)).map((s) => {
        const f = ci ? fold(s) : s
        return f.endsWith('/') ? f : `${f}/`
      })
      const n = items.length
      const test = (p: string): boolean => {
        const slashed = p.endsWith('/')
        for (let i = 0; i < n; i++) {
          const it = items[i] as string
          if (p.startsWith(it)) return true
          if (!slashed && p.length === it.length - 1 && it.startsWith(p)) return true
        }
        return false
      }
      return { req: ci ? (req) => test(fold(req.path)) : (req) => test(req.path) }
    },
  },
  req_path_regmatch: {
    params: sig('reg_exp:S'),
    build: (a) => {
      const m = regexMatcher(a, 0)
      return { req: (req) => m(req.path) }
    },
  },

  // Query
  req_query_exist: { params: [], build: () => ({ req: (req) => req.query().size > 0 }) },
  req_query_key_in: keyIn((req, k) => req.query().has(k)),
  req_query_key_prefix_in: {
    params: sig('prefix_list:S'),
    build: (a) => {
      const items = splitList(a.str(0))
      return {
        req: (req) => {
          for (const key of req.query().keys()) {
            for (let i = 0; i < items.length; i++)
              if (key.startsWith(items[i] as string)) return true
          }
          return false
        },
      }
    },
  },
  req_query_value_in: keyedList(queryValue, 'in', 'value_list'),
  req_query_value_prefix_in: keyedList(queryValue, 'prefix', 'prefix_list'),
  req_query_value_suffix_in: keyedList(queryValue, 'suffix', 'suffix_list'),
  req_query_value_contain: keyedList(queryValue, 'contain', 'value_list'),
  req_query_value_regmatch: keyedRegex(queryValue),
  req_query_value_hash_in: keyedHash(queryValue),

  // Cookies
  req_cookie_key_in: keyIn((req, k) => req.cookies().has(k)),
  req_cookie_value_in: keyedList(cookieValue, 'in', 'value_list'),
  req_cookie_value_prefix_in: keyedList(cookieValue, 'prefix', 'prefix_list'),
  req_cookie_value_suffix_in: keyedList(cookieValue, 'suffix', 'suffix_list'),
  req_cookie_value_contain: keyedList(cookieValue, 'contain', 'value_list'),
  req_cookie_value_hash_in: keyedHash(cookieValue),

  // Headers
  req_header_key_in: {
    params: sig('key_list:S'),
    build: (a) => {
      const keys = splitList(a.str(0)).map((k) => k.toLowerCase())
      const n = keys.length
      return {
        req: (req) => {
          const raw = req.headers.raw
          for (let i = 0; i < n; i++) {
            const v = headerValue(raw, keys[i] as string)
            if (v !== undefined && v !== '') return true
          }
          return false
        },
      }
    },
  },
  req_header_value_in: keyedList(headerSource, 'in', 'value_list'),
  req_header_value_prefix_in: keyedList(headerSource, 'prefix', 'prefix_list'),
  req_header_value_suffix_in: keyedList(headerSource, 'suffix', 'suffix_list'),
  req_header_value_contain: keyedList(headerSource, 'contain', 'value_list'),
  req_header_value_regmatch: keyedRegex(headerSource),
  req_header_value_hash_in: keyedHash(headerSource),
  req_ua_regmatch: {
    params: sig('reg_exp:S'),
    build: (a) => {
      const m = regexMatcher(a, 0)
      return { req: (req) => m(headerValue(req.headers.raw, 'user-agent') ?? '') }
    },
  },

  // Tags and context
  req_tag_match: {
    params: sig('tag_name:S', 'tag_value:S'),
    build: (a) => {
      const name = a.str(0)
      const want = a.str(1)
      const wl = want.length
      // The text before the first ':' cannot itself contain ':'.
      if (want.includes(':')) return { req: alwaysFalse }
      return {
        req: (req) => {
          const tags = req.tags.get(name)
          if (tags === undefined) return false
          for (let i = 0; i < tags.length; i++) {
            const t = tags[i] as string
            // text before the first ':' equals `want`
            if (t.startsWith(want) && (t.length === wl || t.charCodeAt(wl) === 58)) return true
          }
          return false
        },
      }
    },
  },
  req_context_value_in: {
    params: sig('key:S', 'value_list:S', 'case_insensitive:B'),
    build: (a) => {
      const key = a.str(0)
      if (key === '') return { req: alwaysFalse }
      const m = makeMatcher(a.str(1), a.bool(2), 'in')
      const pred: ReqPred = (req) => {
        const v = req.context.get(key)
        return typeof v === 'string' && m(v)
      }
      return { req: pred }
    },
  },
}
