import { BfeConfError } from '../basic/errors.js'
import { type Bound, checkBound, clampWarning, RESERVED_NAMES } from './bounds.js'

/**
 * A position in a JSON data file, read the way BFE's Go decoder reads it: object keys match field
 * names case-insensitively, unknown keys are ignored, `null` is the same as absent, and a value of
 * the wrong JSON type is an error. Every error names the file and the JSON pointer of the field.
 */
export class JsonNode {
  readonly file: string
  readonly pointer: string
  readonly value: unknown

  constructor(file: string, pointer: string, value: unknown) {
    this.file = file
    this.pointer = pointer
    this.value = value === null ? undefined : value
  }

  /** Parses `text` as JSON; a syntax error names the file, line and column. */
  static parse(file: string, text: string): JsonNode {
    try {
      return new JsonNode(file, '', JSON.parse(text) as unknown)
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      throw new BfeConfError(file, '', `is not valid JSON: ${withLine(text, msg)}`, { cause: err })
    }
  }

  get absent(): boolean {
    return this.value === undefined
  }

  /** Throws a configuration error about this field. */
  fail(reason: string): never {
    throw new BfeConfError(this.file, this.pointer === '' ? '' : this.pointer, reason)
  }

  /** Child field `name`, matched case-insensitively (an exact match wins). */
  get(name: string): JsonNode {
    const obj = this.objectValue()
    if (obj === undefined) return new JsonNode(this.file, `${this.pointer}/${name}`, undefined)
    if (Object.hasOwn(obj, name))
      return new JsonNode(this.file, `${this.pointer}/${name}`, obj[name])
    const lower = name.toLowerCase()
    for (const k of Object.keys(obj)) {
      if (k.toLowerCase() === lower) return new JsonNode(this.file, `${this.pointer}/${k}`, obj[k])
    }
    return new JsonNode(this.file, `${this.pointer}/${name}`, undefined)
  }

  /** This value as an object (error if it is another type; `{}` if absent and not required). */
  entries(required = false): [string, JsonNode][] {
    if (this.value === undefined) {
      if (required) this.fail('is required')
      return []
    }
    const obj = this.objectValue()
    if (obj === undefined) this.fail(`must be an object, got ${typeName(this.value)}`)
    return Object.keys(obj).map((k) => [
      k,
      new JsonNode(this.file, `${this.pointer}/${esc(k)}`, obj[k]),
    ])
  }

  /** This value as an array (error if another type; `[]` if absent and not required). */
  items(required = false): JsonNode[] {
    if (this.value === undefined) {
      if (required) this.fail('is required')
      return []
    }
    if (!Array.isArray(this.value)) this.fail(`must be an array, got ${typeName(this.value)}`)
    return this.value.map((v, i) => new JsonNode(this.file, `${this.pointer}/${i}`, v as unknown))
  }

  /** String value; `def` when absent, error when absent and no default is given. */
  string(def?: string): string {
    if (this.value === undefined) {
      if (def === undefined) this.fail('is required')
      return def
    }
    if (typeof this.value !== 'string') this.fail(`must be a string, got ${typeName(this.value)}`)
    return this.value
  }

  /** Integer value (JSON number without fraction, exact in a double); `def` when absent. */
  int(def?: number): number {
    if (this.value === undefined) {
      if (def === undefined) this.fail('is required')
      return def
    }
    if (typeof this.value !== 'number' || !Number.isSafeInteger(this.value)) {
      const got = typeof this.value === 'number' ? String(this.value) : typeName(this.value)
      this.fail(`must be an integer, got ${got}`)
    }
    return this.value
  }

  /**
   * Integer within `b` (decisions.md D23); `def` when absent (required when no default). Out of
   * range is an error naming the range; above the range a clamped bound gives `b.max` and adds a
   * warning to `warnings`.
   */
  bounded(def: number | undefined, b: Bound, warnings?: string[]): number {
    if (this.value === undefined) {
      if (def === undefined) this.fail('is required')
      return def
    }
    const r = checkBound(this.value, b)
    if (!r.ok) this.fail(r.reason)
    if (r.clamped)
      warnings?.push(clampWarning(`${this.file}: ${this.pointer}`, Number(this.value), b))
    return r.value
  }

  /**
   * Like `entries()`, for an object whose keys are names of `kind` (product, cluster ...): a
   * reserved name (`__proto__`, `constructor`, `prototype`) is an error.
   */
  namedEntries(kind: string, required = false): [string, JsonNode][] {
    const list = this.entries(required)
    for (const [k, node] of list) checkName(node, kind, k)
    return list
  }

  /** String value that names a `kind` (cluster, host tag ...): not a reserved name. */
  name(kind: string, def?: string): string {
    const v = this.string(def)
    checkName(this, kind, v)
    return v
  }

  bool(def?: boolean): boolean {
    if (this.value === undefined) {
      if (def === undefined) this.fail('is required')
      return def
    }
    if (typeof this.value !== 'boolean') this.fail(`must be a boolean, got ${typeName(this.value)}`)
    return this.value
  }

  /** Array of strings; `def` when absent. */
  strings(def?: string[]): string[] {
    if (this.value === undefined) {
      if (def === undefined) this.fail('is required')
      return def
    }
    return this.items().map((n) => n.string())
  }

  private objectValue(): Record<string, unknown> | undefined {
    const v = this.value
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
    return v as Record<string, unknown>
  }
}

/**
 * Runs `load` for a file named by field `field` of `node` (a rule's UserFile, KeyFile ...): a
 * failure that names no field of its own is reported at that field, with the loader's reason.
 */
export function loadAtField<T>(node: JsonNode, field: string, load: () => T): T {
  try {
    return load()
  } catch (err) {
    if (err instanceof BfeConfError && err.field !== '') throw err
    const reason = err instanceof Error ? err.message : String(err)
    throw new BfeConfError(node.file, `${node.pointer}/${field}`, reason, { cause: err })
  }
}

function checkName(node: JsonNode, kind: string, name: string): void {
  if (RESERVED_NAMES.has(name)) {
    node.fail(
      `"${name}" cannot be used as a ${kind} name (reserved: ${[...RESERVED_NAMES].join(', ')})`,
    )
  }
}

function esc(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1')
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v === 'object' ? 'object' : typeof v
}

/** Adds `line L column C` to V8's "at position N" JSON errors. */
function withLine(text: string, msg: string): string {
  const m = /position (\d+)/.exec(msg)
  if (m === null) return msg
  const pos = Number(m[1])
  const before = text.slice(0, pos)
  const line = before.split('\n').length
  const col = pos - before.lastIndexOf('\n')
  return `${msg} (line ${line} column ${col})`
}
