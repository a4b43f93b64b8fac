import {
  clusterConfSchema,
  clusterTableSchema,
  gslbSchema,
  hostRuleSchema,
  nameConfSchema,
  routeRuleSchema,
  serverCertConfSchema,
  tlsRuleConfSchema,
  vipRuleSchema,
} from '../config/core-schemas.js'
import { type JsonSchema, type Schema, schemaDocument } from '../config/schema.js'
import { schemaId } from '../module/rule-table.js'
import type { BfeModule } from '../module/types.js'
import { moduleCatalog } from '../modules/index.js'

/** The core data files: kind (BFE's default path under the conf root) → declaration and title. */
const CORE: readonly { kind: string; schema: Schema<unknown>; title: string }[] = [
  { kind: 'server_data_conf/host_rule.data', schema: hostRuleSchema, title: 'BFE host_rule.data' },
  { kind: 'server_data_conf/vip_rule.data', schema: vipRuleSchema, title: 'BFE vip_rule.data' },
  {
    kind: 'server_data_conf/route_rule.data',
    schema: routeRuleSchema,
    title: 'BFE route_rule.data',
  },
  {
    kind: 'server_data_conf/cluster_conf.data',
    schema: clusterConfSchema,
    title: 'BFE cluster_conf.data',
  },
  {
    kind: 'server_data_conf/name_conf.data',
    schema: nameConfSchema,
    title: 'BFE name_conf.data',
  },
  {
    kind: 'cluster_conf/cluster_table.data',
    schema: clusterTableSchema,
    title: 'BFE cluster_table.data',
  },
  { kind: 'cluster_conf/gslb.data', schema: gslbSchema, title: 'BFE gslb.data' },
  {
    kind: 'tls_conf/server_cert_conf.data',
    schema: serverCertConfSchema,
    title: 'BFE server_cert_conf.data',
  },
  {
    kind: 'tls_conf/tls_rule_conf.data',
    schema: tlsRuleConfSchema,
    title: 'BFE tls_rule_conf.data',
  },
]

/**
 * The file name a schema is shipped under (`dist/schemas/<name>`) and that bundled files name in
 * `$schema`: the kind with `/` as `.`, plus `.json`.
 */
export function schemaFileName(kind: string): string {
  return `${kind.replace(/\//g, '.')}.json`
}

/** Modules whose data files have schemas: the built-ins and `extra`. */
function moduleFiles(extra: readonly BfeModule[]): { kind: string; jsonSchema(): JsonSchema }[] {
  const out: { kind: string; jsonSchema(): JsonSchema }[] = []
  for (const e of moduleCatalog(extra)) for (const f of e.module?.dataFiles ?? []) out.push(f)
  return out
}

/** Every file kind `bfe schema` knows: core files, then module files. */
export function schemaKinds(extra: readonly BfeModule[] = []): string[] {
  return [...CORE.map((c) => c.kind), ...moduleFiles(extra).map((f) => f.kind)]
}

/**
 * The JSON Schema (2020-12) of a file kind, generated from the declaration its loader validates
 * with. A kind may be given by its base name alone (`host_rule.data`, `tag_rule.data`).
 */
export function schemaFor(kind: string, extra: readonly BfeModule[] = []): JsonSchema | undefined {
  const match = (k: string): boolean => k === kind || k.endsWith(`/${kind}`)
  const core = CORE.find((c) => match(c.kind))
  if (core !== undefined) {
    const doc = schemaDocument(schemaId(core.kind), core.title, core.schema)
    allowSchemaKey(doc)
    return doc
  }
  const mod = moduleFiles(extra).find((f) => match(f.kind))
  if (mod === undefined) return undefined
  const doc = mod.jsonSchema()
  allowSchemaKey(doc)
  return doc
}

/** Data files may name their schema (`"$schema": ...`): BFE's loaders ignore the key. */
function allowSchemaKey(doc: JsonSchema): void {
  if (doc.properties !== undefined)
    doc.properties = { $schema: { type: 'string' }, ...doc.properties }
}

/** Every schema by file name, for writing them out (`dist/schemas/`). */
export function allSchemas(extra: readonly BfeModule[] = []): Map<string, JsonSchema> {
  const out = new Map<string, JsonSchema>()
  for (const k of schemaKinds(extra)) {
    const doc = schemaFor(k, extra)
    if (doc !== undefined) out.set(schemaFileName(k), doc)
  }
  return out
}
