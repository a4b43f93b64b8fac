import { BfeConfError } from '../basic/errors.js'
import { type Condition, compileCondition } from '../condition/index.js'
import { type Bound, bound, describeBound } from './bounds.js'
import type { JsonNode } from './json-node.js'

/**
 * Declarations of JSON data files, written once and used twice: `decode` validates a parsed file
 * the way BFE's loaders do (keys matched case-insensitively, `null` = absent, every error naming
 * the file and the JSON pointer of the field), and `jsonSchema` describes the same shape as a
 * JSON Schema (2020-12) for editors and CI. A module's rule table is declared with these builders,
 * so what `bfe schema` prints and what the loader accepts cannot drift apart.
 */

/** JSON Schema as a plain object. */
export interface JsonSchema {
  $schema?: string
  $id?: string
  title?: string
  type?: string
  description?: string
  default?: unknown
  enum?: unknown[]
  minLength?: number
  minimum?: number
  maximum?: number
  items?: JsonSchema
  minItems?: number
  maxItems?: number
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: JsonSchema | boolean
  propertyNames?: JsonSchema
  not?: JsonSchema
  [key: string]: unknown
}

/** What decoding collects besides the value. */
export interface DecodeCx {
  /** Load warnings (D1 condition warnings ...), each naming the file and the field. */
  readonly warnings: string[]
}

export interface Schema<T> {
  /** Validates `node` and returns its value; throws BfeConfError naming file and field. */
  decode(node: JsonNode, cx: DecodeCx): T
  /** The JSON Schema of the value. */
  jsonSchema(): JsonSchema
  /** False for a field that may be absent (optional or with a default). */
  readonly required: boolean
}

/** The decoded type of a schema. */
export type Infer<S> = S extends Schema<infer T> ? T : never

type Fields = Readonly<Record<string, Schema<unknown>>>
type ObjectOf<F extends Fields> = { -readonly [K in keyof F]: Infer<F[K]> }

export interface StringOpts {
  /** Value when absent (the field is then optional). */
  default?: string
  /** The empty string is refused. */
  nonEmpty?: boolean
  /** Allowed values (compared after `upper`). */
  oneOf?: readonly string[]
  /** Upper-case the value on load (BFE does this for `Cmd`). */
  upper?: boolean
  description?: string
}

export interface IntOpts {
  default?: number
  bound?: Bound
  /** Allowed values (checked instead of `bound`): `must be one of 0, 1, got 2`. */
  oneOf?: readonly number[]
  description?: string
}

export interface ArrayOpts<T> {
  default?: T[]
  minItems?: number
  maxItems?: number
  description?: string
}

/** A compiled `Cond` field: the condition and its text. */
export interface CondValue {
  readonly source: string
  readonly condition: Condition
}

class StringSchema implements Schema<string> {
  readonly required: boolean
  private readonly o: StringOpts
  constructor(o: StringOpts) {
    this.o = o
    this.required = o.default === undefined
  }
  decode(node: JsonNode): string {
    let v = node.string(this.o.default)
    if (this.o.upper === true) v = v.toUpperCase()
    if (this.o.nonEmpty === true && v === '') node.fail('must not be empty')
    const one = this.o.oneOf
    if (one !== undefined && !one.includes(v))
      node.fail(`"${v}" is not one of ${one.map((x) => `"${x}"`).join(', ')}`)
    return v
  }
  jsonSchema(): JsonSchema {
    const s: JsonSchema = { type: 'string' }
    if (this.o.nonEmpty === true) s.minLength = 1
    if (this.o.oneOf !== undefined) s.enum = [...this.o.oneOf]
    if (this.o.default !== undefined) s.default = this.o.default
    if (this.o.description !== undefined) s.description = this.o.description
    return s
  }
}

const ANY_INT = bound(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)

class IntSchema implements Schema<number> {
  readonly required: boolean
  private readonly o: IntOpts
  constructor(o: IntOpts) {
    this.o = o
    this.required = o.default === undefined
  }
  decode(node: JsonNode, cx: DecodeCx): number {
    const one = this.o.oneOf
    if (one !== undefined) {
      const v = node.int(this.o.default)
      if (!one.includes(v)) node.fail(`must be one of ${one.join(', ')}, got ${v}`)
      return v
    }
    return node.bounded(this.o.default, this.o.bound ?? ANY_INT, cx.warnings)
  }
  jsonSchema(): JsonSchema {
    const s: JsonSchema = { type: 'integer' }
    if (this.o.oneOf !== undefined) s.enum = [...this.o.oneOf]
    const b = this.o.bound
    if (b !== undefined) {
      s.minimum = b.min
      if (b.above === 'refuse') s.maximum = b.max
      s.description = `${this.o.description ?? ''}${this.o.description ? ' ' : ''}(${describeBound(b)})`
    } else if (this.o.description !== undefined) s.description = this.o.description
    if (this.o.default !== undefined) s.default = this.o.default
    return s
  }
}

class BoolSchema implements Schema<boolean> {
  readonly required: boolean
  private readonly def: boolean | undefined
  constructor(def: boolean | undefined) {
    this.def = def
    this.required = def === undefined
  }
  decode(node: JsonNode): boolean {
    return node.bool(this.def)
  }
  jsonSchema(): JsonSchema {
    return this.def === undefined ? { type: 'boolean' } : { type: 'boolean', default: this.def }
  }
}

class ArraySchema<T> implements Schema<T[]> {
  readonly required: boolean
  private readonly item: Schema<T>
  private readonly o: ArrayOpts<T>
  constructor(item: Schema<T>, o: ArrayOpts<T>) {
    this.item = item
    this.o = o
    this.required = o.default === undefined
  }
  decode(node: JsonNode, cx: DecodeCx): T[] {
    if (node.absent) {
      if (this.o.default === undefined) node.fail('is required')
      return this.o.default.slice()
    }
    const items = node.items()
    const min = this.o.minItems ?? 0
    if (items.length < min)
      node.fail(min === 1 ? 'must not be empty' : `must have at least ${min} items`)
    if (this.o.maxItems !== undefined && items.length > this.o.maxItems)
      node.fail(
        this.o.maxItems === min
          ? `must have exactly ${min} item${min === 1 ? '' : 's'}, got ${items.length}`
          : `must have at most ${this.o.maxItems} items, got ${items.length}`,
      )
    return items.map((n) => this.item.decode(n, cx))
  }
  jsonSchema(): JsonSchema {
    const s: JsonSchema = { type: 'array', items: this.item.jsonSchema() }
    if (this.o.minItems !== undefined && this.o.minItems > 0) s.minItems = this.o.minItems
    if (this.o.maxItems !== undefined) s.maxItems = this.o.maxItems
    if (this.o.description !== undefined) s.description = this.o.description
    return s
  }
}

class ObjectSchema<F extends Fields> implements Schema<ObjectOf<F>> {
  readonly required = true
  private readonly fields: F
  private readonly description: string | undefined
  constructor(fields: F, description: string | undefined) {
    this.fields = fields
    this.description = description
  }
  decode(node: JsonNode, cx: DecodeCx): ObjectOf<F> {
    node.entries(true)
    const out: Record<string, unknown> = {}
    for (const [name, s] of Object.entries(this.fields)) out[name] = s.decode(node.get(name), cx)
    return out as ObjectOf<F>
  }
  jsonSchema(): JsonSchema {
    const properties: Record<string, JsonSchema> = {}
    const required: string[] = []
    for (const [name, s] of Object.entries(this.fields)) {
      properties[name] = s.jsonSchema()
      if (s.required) required.push(name)
    }
    const out: JsonSchema = { type: 'object', properties }
    if (required.length > 0) out.required = required
    if (this.description !== undefined) out.description = this.description
    return out
  }
}

class MapSchema<T> implements Schema<Map<string, T>> {
  readonly required: boolean
  private readonly value: Schema<T>
  private readonly keyKind: string
  private readonly description: string | undefined
  constructor(
    value: Schema<T>,
    keyKind: string,
    required: boolean,
    description: string | undefined,
  ) {
    this.value = value
    this.keyKind = keyKind
    this.description = description
    this.required = required
  }
  decode(node: JsonNode, cx: DecodeCx): Map<string, T> {
    const out = new Map<string, T>()
    for (const [k, v] of node.namedEntries(this.keyKind, this.required))
      out.set(k, this.value.decode(v, cx))
    return out
  }
  jsonSchema(): JsonSchema {
    const s: JsonSchema = {
      type: 'object',
      additionalProperties: this.value.jsonSchema(),
      propertyNames: { not: { enum: ['__proto__', 'constructor', 'prototype'] } },
    }
    if (this.description !== undefined) s.description = this.description
    return s
  }
}

class OptionalSchema<T> implements Schema<T | undefined> {
  readonly required = false
  private readonly inner: Schema<T>
  constructor(inner: Schema<T>) {
    this.inner = inner
  }
  decode(node: JsonNode, cx: DecodeCx): T | undefined {
    return node.absent ? undefined : this.inner.decode(node, cx)
  }
  jsonSchema(): JsonSchema {
    return this.inner.jsonSchema()
  }
}

class CondSchema implements Schema<CondValue> {
  readonly required = true
  decode(node: JsonNode, cx: DecodeCx): CondValue {
    const source = node.string()
    if (source.trim() === '') node.fail('must not be empty')
    let compiled: ReturnType<typeof compileCondition>
    try {
      compiled = compileCondition(source)
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      throw new BfeConfError(node.file, node.pointer, msg, { cause: err })
    }
    for (const w of compiled.warnings) cx.warnings.push(`${node.file}: ${node.pointer} ${w}`)
    return { source, condition: compiled.condition }
  }
  jsonSchema(): JsonSchema {
    return {
      type: 'string',
      minLength: 1,
      description: 'A BFE condition expression, e.g. req_path_prefix_in("/api/", false)',
    }
  }
}

class CheckedSchema<T> implements Schema<T> {
  readonly required: boolean
  private readonly inner: Schema<T>
  private readonly check: (value: T, node: JsonNode) => void
  constructor(inner: Schema<T>, check: (value: T, node: JsonNode) => void) {
    this.inner = inner
    this.check = check
    this.required = inner.required
  }
  decode(node: JsonNode, cx: DecodeCx): T {
    const v = this.inner.decode(node, cx)
    this.check(v, node)
    return v
  }
  jsonSchema(): JsonSchema {
    return this.inner.jsonSchema()
  }
}

/** A value in any JSON shape, checked by the caller (`decode` returns the node itself). */
class NodeSchema implements Schema<JsonNode> {
  readonly required: boolean
  private readonly schema: JsonSchema
  constructor(required: boolean, schema: JsonSchema) {
    this.required = required
    this.schema = schema
  }
  decode(node: JsonNode): JsonNode {
    if (this.required && node.absent) node.fail('is required')
    return node
  }
  jsonSchema(): JsonSchema {
    return this.schema
  }
}

/** A string that names a `kind` (cluster, backend ...): not a reserved name (`__proto__` ...). */
class NameSchema implements Schema<string> {
  readonly required = true
  private readonly kind: string
  private readonly description: string | undefined
  constructor(kind: string, description: string | undefined) {
    this.kind = kind
    this.description = description
  }
  decode(node: JsonNode): string {
    return node.name(this.kind)
  }
  jsonSchema(): JsonSchema {
    const s: JsonSchema = {
      type: 'string',
      not: { enum: ['__proto__', 'constructor', 'prototype'] },
    }
    s.description = this.description ?? `a ${this.kind} name`
    return s
  }
}

/** The schema builders. */
export const s = {
  string: (o: StringOpts = {}): Schema<string> => new StringSchema(o),
  int: (o: IntOpts = {}): Schema<number> => new IntSchema(o),
  bool: (def?: boolean): Schema<boolean> => new BoolSchema(def),
  array: <T>(item: Schema<T>, o: ArrayOpts<T> = {}): Schema<T[]> => new ArraySchema(item, o),
  object: <F extends Fields>(fields: F, description?: string): Schema<ObjectOf<F>> =>
    new ObjectSchema(fields, description),
  /** An object whose keys are names of `keyKind` (product ...), each holding a `value`. */
  map: <T>(
    value: Schema<T>,
    keyKind: string,
    o: { required?: boolean; description?: string } = {},
  ): Schema<Map<string, T>> => new MapSchema(value, keyKind, o.required ?? true, o.description),
  optional: <T>(inner: Schema<T>): Schema<T | undefined> => new OptionalSchema(inner),
  /** A string naming a `kind` (cluster, backend ...): reserved names are refused. */
  name: (kind: string, description?: string): Schema<string> => new NameSchema(kind, description),
  /** A condition expression, compiled on load (condition errors name the field). */
  cond: (): Schema<CondValue> => new CondSchema(),
  /** Adds a check that runs after decoding; it reports with `node.fail(reason)`. */
  check: <T>(inner: Schema<T>, check: (value: T, node: JsonNode) => void): Schema<T> =>
    new CheckedSchema(inner, check),
  /** A field checked by hand (the caller gets the node); `schema` describes it. */
  node: (schema: JsonSchema, required = true): Schema<JsonNode> => new NodeSchema(required, schema),
}

/** A complete JSON Schema document for a data file. */
export function schemaDocument(id: string, title: string, root: Schema<unknown>): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: id,
    title,
    ...root.jsonSchema(),
  }
}
