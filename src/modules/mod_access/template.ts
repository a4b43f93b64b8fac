import type { BfeRequest } from '../../basic/request.js'
import type { BfeResponse } from '../../basic/response.js'
import type { Session } from '../../basic/session.js'
import { putByte, putBytes, putUtf8, utf8Bytes } from './bytes.js'
import {
  type RequestPut,
  type RequestVar,
  type SessionVar,
  VAR_NAMES,
  VARS,
  type VarKind,
} from './vars.js'

/** BFE's template shortcuts for the request log. */
export const COMMON = '$host - - $request_time "$request_line" $status_code $res_len'
export const COMBINED = `${COMMON} "\${Referer}req_header" "\${User-Agent}req_header"`

/** One piece of a parsed template: literal text or a variable (with its `${Key}`, if any). */
export type TemplateItem =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'var'; readonly name: string; readonly key: string | undefined }

/** A template error: the caller names the file and key. */
export class TemplateError extends Error {}

/**
 * Parses a template: literal text, `$name`, and `${Key}name`. A `$` takes the longest variable
 * name that follows it; a `$` at the end, an unterminated `${`, a `}` that ends the template and
 * an unknown variable are errors, as in BFE.
 */
export function parseTemplate(t: string): TemplateItem[] {
  const out: TemplateItem[] = []
  let start = 0
  let i = 0
  while (i < t.length) {
    if (t.charCodeAt(i) !== 36 /* $ */) {
      i++
      continue
    }
    if (i + 1 === t.length) throw new TemplateError(`"$" at the end of "${t}" names no variable`)
    if (start < i) out.push({ type: 'text', text: t.slice(start, i) })
    let key: string | undefined
    let at = i + 1
    if (t[at] === '{') {
      const close = t.indexOf('}', at + 1)
      if (close === -1) throw new TemplateError(`"\${" at ${i} is not closed by "}"`)
      if (close === t.length - 1)
        throw new TemplateError(`"}" at the end of "${t}" must be followed by a variable name`)
      key = t.slice(at + 1, close)
      at = close + 1
    }
    const name = VAR_NAMES.find((n) => t.startsWith(n, at))
    if (name === undefined)
      throw new TemplateError(`unknown variable at "${t.slice(i, i + 24)}" (offset ${i})`)
    out.push({ type: 'var', name, key })
    i = at + name.length
    start = i
  }
  if (start < t.length) out.push({ type: 'text', text: t.slice(start) })
  return out
}

/** The JSON key of a variable: its name, or `name.Key` for `${Key}name`. */
export function jsonKey(item: { name: string; key: string | undefined }): string {
  return item.key === undefined ? item.name : `${item.name}.${item.key}`
}

/**
 * A compiled template: writes one line (with its newline) into `buf` from `at` and returns the
 * offset after it, or -1 when the line does not fit (the caller retries in a bigger buffer).
 */
export type RequestLineWriter = RequestPut
export type SessionLineWriter = (buf: Buffer, at: number, ses: Session, now: number) => number

export type LineFormat = 'text' | 'json'

interface Part<F> {
  /**
   * Text format: literal text as the bytes of its UTF-8 encoding (one character per byte).
   * JSON: the `"key":` prefix with its separator.
   */
  readonly prefix: string
  readonly fn: F | undefined
  /** Writes the value directly (text format), instead of `fn`. */
  readonly put: RequestPut | undefined
  readonly kind: VarKind
  /** The value is configuration text, written as UTF-8 (else bytes as received). */
  readonly text: boolean
  /** The variable's JSON key ('' for literal text). */
  readonly name: string
}

/** A value in the JSON format: `-` is null, numbers and booleans bare, the rest a JSON string. */
function jsonValue(v: string, kind: VarKind): string {
  if (v === '-') return 'null'
  if (kind === 'str') return JSON.stringify(v)
  if (kind === 'num') return /^-?\d+$/.test(v) ? v : JSON.stringify(v)
  return v === 'true' || v === 'false' ? v : JSON.stringify(v)
}

function resolve(items: readonly TemplateItem[], scope: 'request' | 'session'): Part<unknown>[] {
  const parts: Part<unknown>[] = []
  for (const it of items) {
    if (it.type === 'text') {
      parts.push({
        prefix: utf8Bytes(it.text),
        fn: undefined,
        put: undefined,
        kind: 'str',
        text: false,
        name: '',
      })
      continue
    }
    const def = VARS.get(it.name)
    if (def === undefined) throw new TemplateError(`unknown variable "${it.name}"`)
    if (def.scope !== 'both' && def.scope !== scope)
      throw new TemplateError(
        `variable "$${it.name}" belongs to the ${def.scope} log, not the ${scope} log`,
      )
    let fn: unknown
    if (def.scope === 'both') fn = scope === 'request' ? def.req : def.ses
    else fn = def.make(it.key)
    const put = def.scope === 'request' ? def.put : undefined
    parts.push({ prefix: '', fn, put, kind: def.kind, text: def.text === true, name: jsonKey(it) })
  }
  return parts
}

/** Turns text parts into JSON key prefixes (literal text is dropped in the JSON format). */
function toJson<F>(parts: Part<F>[]): Part<F>[] {
  const out: Part<F>[] = []
  const seen = new Set<string>()
  for (const p of parts) {
    // Literal text is dropped; a variable written twice gives one key.
    if (p.fn === undefined || seen.has(p.name)) continue
    seen.add(p.name)
    const prefix = `${out.length === 0 ? '{' : ','}${JSON.stringify(p.name)}:`
    out.push({ ...p, prefix })
  }
  return out
}

/**
 * Compiles a request-log template. Throws TemplateError. The text format is written piece by
 * piece (bytes.ts); a JSON line is made as a string (escaping needs the whole value) and written
 * as UTF-8, characters of received bytes included (the line stays valid JSON).
 */
export function compileRequestTemplate(t: string, format: LineFormat): RequestLineWriter {
  let parts = resolve(parseTemplate(t), 'request') as Part<RequestVar>[]
  if (format === 'json') {
    parts = toJson(parts)
    const n = parts.length
    return (buf, at, req, res, now) => {
      if (n === 0) return putBytes(buf, at, '{}\n')
      let line = ''
      for (let i = 0; i < n; i++) {
        const p = parts[i] as Part<RequestVar>
        line += p.prefix + jsonValue((p.fn as RequestVar)(req, res, now), p.kind)
      }
      return putUtf8(buf, at, `${line}}\n`)
    }
  }
  const n = parts.length
  return (buf, at, req, res, now) => {
    let o = at
    for (let i = 0; i < n; i++) {
      const p = parts[i] as Part<RequestVar>
      const fn = p.fn
      if (fn === undefined) o = putBytes(buf, o, p.prefix)
      else if (p.put !== undefined) o = p.put(buf, o, req, res, now)
      else if (p.text) o = putUtf8(buf, o, fn(req, res, now))
      else o = putBytes(buf, o, fn(req, res, now))
    }
    return putByte(buf, o, 10)
  }
}

/** Compiles a session-log template. Throws TemplateError. */
export function compileSessionTemplate(t: string, format: LineFormat): SessionLineWriter {
  let parts = resolve(parseTemplate(t), 'session') as Part<SessionVar>[]
  if (format === 'json') {
    parts = toJson(parts)
    const n = parts.length
    return (buf, at, ses, now) => {
      if (n === 0) return putBytes(buf, at, '{}\n')
      let line = ''
      for (let i = 0; i < n; i++) {
        const p = parts[i] as Part<SessionVar>
        line += p.prefix + jsonValue((p.fn as SessionVar)(ses, now), p.kind)
      }
      return putUtf8(buf, at, `${line}}\n`)
    }
  }
  const n = parts.length
  return (buf, at, ses, now) => {
    let o = at
    for (let i = 0; i < n; i++) {
      const p = parts[i] as Part<SessionVar>
      const fn = p.fn
      if (fn === undefined) o = putBytes(buf, o, p.prefix)
      else if (p.text) o = putUtf8(buf, o, fn(ses, now))
      else o = putBytes(buf, o, fn(ses, now))
    }
    return putByte(buf, o, 10)
  }
}

/** The bytes of one request line (tests, tools). */
export function requestLine(
  w: RequestLineWriter,
  req: BfeRequest,
  res: BfeResponse | undefined,
  now: number,
): Buffer {
  return writeWhole((buf) => w(buf, 0, req, res, now))
}

/** The bytes of one session line (tests, tools). */
export function sessionLine(w: SessionLineWriter, ses: Session, now: number): Buffer {
  return writeWhole((buf) => w(buf, 0, ses, now))
}

function writeWhole(write: (buf: Buffer) => number): Buffer {
  for (let size = 256; ; size *= 2) {
    const buf = Buffer.alloc(size)
    const end = write(buf)
    if (end >= 0) return buf.subarray(0, end)
  }
}
