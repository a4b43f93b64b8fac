import { basename } from 'node:path'
import type { BfeRequest } from '../basic/request.js'
import { readJsonFile } from '../config/data-file.js'
import type { JsonNode } from '../config/json-node.js'
import { type DecodeCx, type JsonSchema, type Schema, s, schemaDocument } from '../config/schema.js'

/**
 * BFE's per-product rule files, shared by most modules:
 * `{ "Version": "...", "Config": { "<product>": [ rule, ... ], ... } }`.
 * A module declares the shape of one rule (with `s.*` builders, `Cond` fields as `s.cond()`), and
 * this loader reads the file, validates every rule (errors name the file and the JSON pointer),
 * compiles the conditions and returns an immutable table; the module swaps tables on reload.
 */
export interface ProductRuleDecl<R> {
  /** One rule. */
  readonly rule: Schema<R>
  /** `Version` must be present (BFE: almost always); default true. */
  readonly versionRequired?: boolean
  /** `Version` must be a non-empty string (mod_tag, mod_cors); default false. */
  readonly versionNonEmpty?: boolean
  /** A product's list may not be empty; default false. */
  readonly nonEmptyList?: boolean
  /** Checks over one product's whole list (unique names ...); reports with `node.fail`. */
  readonly checkList?: (rules: readonly R[], node: JsonNode) => void
  /** Title for the JSON Schema. */
  readonly title?: string
}

const EMPTY: readonly never[] = Object.freeze([])

/** A loaded rule file: rules by product, in file order. */
export class ProductRuleTable<R> {
  readonly version: string
  /** File the table was read from. */
  readonly file: string
  readonly warnings: readonly string[]
  private readonly products: ReadonlyMap<string, readonly R[]>
  /**
   * The last product asked for and its rules: most requests of a listener belong to a few
   * products, and filters of several modules ask on every request (a string compare, usually
   * of the same string, instead of a hash lookup).
   */
  private lastProduct: string | undefined
  private lastRules: readonly R[]

  constructor(
    file: string,
    version: string,
    products: ReadonlyMap<string, readonly R[]>,
    warnings: readonly string[],
  ) {
    this.file = file
    this.version = version
    this.products = products
    this.warnings = warnings
    this.lastProduct = undefined
    this.lastRules = EMPTY
  }

  /** The rules of `product` (empty when it has none). */
  rules(product: string): readonly R[] {
    if (product === this.lastProduct) return this.lastRules
    const r = this.products.get(product) ?? EMPTY
    this.lastProduct = product
    this.lastRules = r
    return r
  }

  /** The rules of `product`, or those of `global` when it has none (mod_userid, mod_session_sticky). */
  rulesOrGlobal(product: string): readonly R[] {
    const own = this.rules(product)
    return own.length > 0 ? own : this.rules('global')
  }

  /** Products with rules. */
  productNames(): string[] {
    return [...this.products.keys()]
  }

  get size(): number {
    let n = 0
    for (const l of this.products.values()) n += l.length
    return n
  }

  /** `<file base name>=<Version>`, what a reload answers with. */
  versionText(): string {
    return `${basename(this.file)}=${this.version}`
  }
}

/** The schema of a whole rule file for `decl`. */
export function productRuleSchema<R>(
  decl: ProductRuleDecl<R>,
): Schema<{ Version: string; Config: Map<string, R[]> }> {
  const list = s.check(
    s.array(decl.rule, { minItems: decl.nonEmptyList === true ? 1 : 0 }),
    (rules, node) => decl.checkList?.(rules, node),
  )
  return s.object({
    Version:
      decl.versionRequired === false
        ? s.string({ default: '' })
        : s.string({ nonEmpty: decl.versionNonEmpty === true }),
    Config: s.map(list, 'product'),
  })
}

/** The JSON Schema document of a rule file (what `bfe schema` prints). */
export function productRuleJsonSchema<R>(id: string, decl: ProductRuleDecl<R>): JsonSchema {
  return schemaDocument(id, decl.title ?? id, productRuleSchema(decl))
}

/** A module data file declared with `decl`, for `BfeModule.dataFiles` (`bfe schema <kind>`). */
export function productRuleFile<R>(
  kind: string,
  decl: ProductRuleDecl<R>,
): { readonly kind: string; jsonSchema(): JsonSchema } {
  return { kind, jsonSchema: () => productRuleJsonSchema(schemaId(kind), decl) }
}

/** The `$id` of the schema of a data file kind. */
export function schemaId(kind: string): string {
  return `urn:bfe-ts:schema:${kind}`
}

/** Decodes an already parsed rule file. Throws BfeConfError naming file and field. */
export function decodeProductRules<R>(
  root: JsonNode,
  decl: ProductRuleDecl<R>,
): ProductRuleTable<R> {
  if (root.absent) root.fail('is empty')
  const cx: DecodeCx = { warnings: [] }
  const v = productRuleSchema(decl).decode(root, cx)
  return new ProductRuleTable(root.file, v.Version, v.Config, cx.warnings)
}

/** Reads, validates and compiles a rule file. Throws BfeConfError naming file and field. */
export function loadProductRules<R>(file: string, decl: ProductRuleDecl<R>): ProductRuleTable<R> {
  return decodeProductRules(readJsonFile(file), decl)
}

/** A rule with a compiled condition. */
export interface CondRule {
  readonly Cond: { readonly condition: { test(req: BfeRequest): boolean } }
}

/** The first rule of `rules` whose condition matches `req`. */
export function firstMatch<R extends CondRule>(
  rules: readonly R[],
  req: BfeRequest,
): R | undefined {
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i] as R
    if (r.Cond.condition.test(req)) return r
  }
  return undefined
}
