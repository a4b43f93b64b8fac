import { BfeConfError } from '../basic/errors.js'
import { type Bound, checkBound, clampWarning, describeBound } from './bounds.js'

/**
 * The INI dialect of bfe.conf and of every module `.conf` file (Go "gcfg", git-config style):
 *
 * - `[Section]` headers and `Key = value` lines; section and key names compare case-insensitively.
 * - Whitespace around the name, the `=` and the value is dropped. Inside a value, double-quoted
 *   parts keep everything (spaces, `#`, `;`); `\"`, `\\`, `\n`, `\t` and `\b` are escapes.
 * - `#` or `;` outside quotes starts a comment, at the start of a line or after a value.
 * - A trailing `\` continues the value on the next line.
 * - A key listed as multi-valued gets one value per line; `Key =` with nothing after it empties
 *   the list collected so far. For other keys the last line wins.
 * - A key with no `=` at all means `true` (booleans only).
 * - Unknown sections and keys are errors, like bad integers and booleans; every error names the
 *   file, the line and the key.
 *
 * A schema declares each section's keys once with their kind and default, and the parse result is
 * typed from it:
 *
 *   const schema = { Server: { HttpPort: ini.int(8080), Modules: ini.strings() } } as const
 *   const file = parseIni('bfe.conf', text, schema)   // file.values.Server.HttpPort: number
 *
 * An integer key may carry a bound (bounds.ts, decisions.md D23): `ini.int(30, bound(1, 1200, 's'))`.
 * A value outside it is an error naming the line, the key and the range; above a clamped bound the
 * maximum is used and a warning is added to `IniFile.warnings`.
 */

export type IniKind = 'string' | 'int' | 'bool' | 'strings'

export interface IniKey<T> {
  readonly kind: IniKind
  readonly def: T
  /** `int` keys only: the allowed range. */
  readonly bound?: Bound
}

export const ini = {
  string: (def = ''): IniKey<string> => ({ kind: 'string', def }),
  int: (def = 0, b?: Bound): IniKey<number> =>
    b === undefined ? { kind: 'int', def } : { kind: 'int', def, bound: b },
  bool: (def = false): IniKey<boolean> => ({ kind: 'bool', def }),
  strings: (def: readonly string[] = []): IniKey<string[]> => ({ kind: 'strings', def: [...def] }),
} as const

export type IniSectionSchema = Readonly<Record<string, IniKey<unknown>>>
export type IniSchema = Readonly<Record<string, IniSectionSchema>>

export type IniSectionValues<S extends IniSectionSchema> = {
  -readonly [K in keyof S]: S[K] extends IniKey<infer T> ? T : never
}
export type IniValues<S extends IniSchema> = {
  -readonly [Sec in keyof S]: IniSectionValues<S[Sec]>
}

/** A parsed file: typed values plus where each key was set (for later validation errors). */
export class IniFile<S extends IniSchema> {
  readonly file: string
  readonly values: IniValues<S>
  /** Values clamped to their bound's maximum, each naming the file, line and key. */
  readonly warnings: string[]
  /** `Section.Key` (schema spelling) → line number of the last assignment. */
  private readonly lines: Map<string, number>

  constructor(
    file: string,
    values: IniValues<S>,
    lines: Map<string, number>,
    warnings: string[] = [],
  ) {
    this.file = file
    this.values = values
    this.lines = lines
    this.warnings = warnings
  }

  /** Line of the last assignment of `section.key`, undefined when the default was used. */
  lineOf(section: keyof S & string, key: string): number | undefined {
    return this.lines.get(`${section}.${key}`)
  }

  /** True when the file assigns `section.key` (even to an empty value). */
  isSet(section: keyof S & string, key: string): boolean {
    return this.lines.has(`${section}.${key}`)
  }

  /** The error for a bad value of `section.key`, naming the line when the file set it. */
  error(section: keyof S & string, key: string, reason: string): BfeConfError {
    const line = this.lineOf(section, key)
    const field = line === undefined ? `[${section}] ${key}` : `line ${line} [${section}] ${key}`
    return new BfeConfError(this.file, field, reason)
  }

  fail(section: keyof S & string, key: string, reason: string): never {
    throw this.error(section, key, reason)
  }
}

const BOOLS: ReadonlyMap<string, boolean> = new Map([
  ['true', true],
  ['yes', true],
  ['on', true],
  ['1', true],
  ['false', false],
  ['no', false],
  ['off', false],
  ['0', false],
])

/** Parses a gcfg boolean (case-insensitive); undefined when it is not one. */
export function parseIniBool(s: string): boolean | undefined {
  return BOOLS.get(s.toLowerCase())
}

/** Parses a decimal integer with an optional sign; undefined when it is not one. */
export function parseIniInt(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined
  const n = Number(s)
  return Number.isSafeInteger(n) ? n : undefined
}

interface Lookup {
  name: string
  keys: Map<string, [string, IniKey<unknown>]>
}

/** Parses `text` (the contents of `file`) against `schema`. Throws BfeConfError. */
export function parseIni<S extends IniSchema>(file: string, text: string, schema: S): IniFile<S> {
  const sections = new Map<string, Lookup>()
  const values: Record<string, Record<string, unknown>> = {}
  for (const [secName, keys] of Object.entries(schema)) {
    const lookup: Lookup = { name: secName, keys: new Map() }
    const vals: Record<string, unknown> = {}
    for (const [keyName, spec] of Object.entries(keys)) {
      lookup.keys.set(keyName.toLowerCase(), [keyName, spec])
      vals[keyName] = Array.isArray(spec.def) ? [...(spec.def as unknown[])] : spec.def
    }
    sections.set(secName.toLowerCase(), lookup)
    values[secName] = vals
  }
  const lines = new Map<string, number>()
  const warnings: string[] = []
  // Multi-valued keys start from their default list; the first line of the file replaces it.
  const touchedLists = new Set<string>()

  const src = text.replace(/\r\n?/g, '\n').split('\n')
  let current: Lookup | undefined
  for (let i = 0; i < src.length; i++) {
    const lineNo = i + 1
    let raw = src[i] ?? ''
    // joined continuation lines
    while (endsWithContinuation(raw) && i + 1 < src.length) {
      raw = raw.slice(0, -1) + (src[++i] ?? '')
    }
    const line = raw.trim()
    if (line === '' || line[0] === '#' || line[0] === ';') continue
    const at = `line ${lineNo}`

    if (line[0] === '[') {
      const m =
        /^\[\s*([A-Za-z][A-Za-z0-9_.-]*)\s*(?:"((?:[^"\\]|\\.)*)")?\s*\]\s*(?:[#;].*)?$/.exec(line)
      if (m === null) throw new BfeConfError(file, at, `invalid section header: ${line}`)
      const name = m[1] ?? ''
      if (m[2] !== undefined) {
        throw new BfeConfError(file, at, `subsections are not supported: ${line}`)
      }
      current = sections.get(name.toLowerCase())
      if (current === undefined) throw new BfeConfError(file, at, `unknown section [${name}]`)
      continue
    }

    const km = /^([A-Za-z][A-Za-z0-9_-]*)\s*(=|$|[#;])/.exec(line)
    if (km === null) throw new BfeConfError(file, at, `invalid line: ${line}`)
    const keyRaw = km[1] ?? ''
    if (current === undefined) {
      throw new BfeConfError(file, `${at} ${keyRaw}`, 'is outside of any section')
    }
    const found = current.keys.get(keyRaw.toLowerCase())
    if (found === undefined) {
      throw new BfeConfError(file, `${at} [${current.name}] ${keyRaw}`, 'is an unknown key')
    }
    const [keyName, spec] = found
    const field = `${at} [${current.name}] ${keyName}`
    const vals = values[current.name] ?? {}
    const id = `${current.name}.${keyName}`
    lines.set(id, lineNo)

    if (km[2] !== '=') {
      // no '=': a bare key means true
      if (spec.kind !== 'bool') throw new BfeConfError(file, field, 'has no value')
      vals[keyName] = true
      continue
    }
    const value = readValue(file, field, line.slice(km[0].length))
    switch (spec.kind) {
      case 'string':
        vals[keyName] = value
        break
      case 'int': {
        vals[keyName] = readInt(file, field, value, spec.bound, warnings)
        break
      }
      case 'bool': {
        const b = parseIniBool(value)
        if (b === undefined) {
          throw new BfeConfError(
            file,
            field,
            `must be a boolean (true/false, yes/no, on/off, 1/0), got "${value}"`,
          )
        }
        vals[keyName] = b
        break
      }
      case 'strings': {
        const prev = vals[keyName]
        const list = touchedLists.has(id) && Array.isArray(prev) ? (prev as string[]) : []
        touchedLists.add(id)
        if (value === '') list.length = 0
        else list.push(value)
        vals[keyName] = list
        break
      }
    }
  }
  return new IniFile(file, values as IniValues<S>, lines, warnings)
}

/** An `int` value: decimal, exact, and within `b` when the key has a bound. */
function readInt(
  file: string,
  field: string,
  value: string,
  b: Bound | undefined,
  warnings: string[],
): number {
  const n = parseIniInt(value)
  if (b === undefined) {
    if (n === undefined) throw new BfeConfError(file, field, `must be an integer, got "${value}"`)
    return n
  }
  // digits too long for a double are still "a number out of range", not "not a number"
  const digits = /^[+-]?\d+$/.test(value)
  if (!digits) {
    throw new BfeConfError(file, field, `must be an integer in ${describeBound(b)}, got "${value}"`)
  }
  const r = checkBound(n ?? Number(value), b)
  if (!r.ok) throw new BfeConfError(file, field, r.reason)
  if (r.clamped) warnings.push(clampWarning(`${file}: ${field}`, Number(value), b))
  return r.value
}

function endsWithContinuation(line: string): boolean {
  let n = 0
  for (let i = line.length - 1; i >= 0 && line[i] === '\\'; i--) n++
  return n % 2 === 1
}

/** Reads a value after `=`: quotes, escapes and trailing comments. */
function readValue(file: string, field: string, s: string): string {
  let out = ''
  let pendingSpace = ''
  let inQuote = false
  let started = false
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? ''
    if (!inQuote && (c === '#' || c === ';')) break
    if (c === '"') {
      inQuote = !inQuote
      out += pendingSpace
      pendingSpace = ''
      started = true
      continue
    }
    if (c === '\\') {
      const n = s[i + 1]
      i++
      let ch: string
      switch (n) {
        case '"':
        case '\\':
          ch = n
          break
        case 'n':
          ch = '\n'
          break
        case 't':
          ch = '\t'
          break
        case 'b':
          ch = '\b'
          break
        default:
          throw new BfeConfError(file, field, `has an invalid escape \\${n ?? ''}`)
      }
      out += pendingSpace + ch
      pendingSpace = ''
      started = true
      continue
    }
    if (!inQuote && (c === ' ' || c === '\t')) {
      // keep inner unquoted whitespace, drop leading and trailing
      if (started) pendingSpace += c
      continue
    }
    out += pendingSpace + c
    pendingSpace = ''
    started = true
  }
  if (inQuote) throw new BfeConfError(file, field, 'has an unterminated quoted string')
  return out
}
