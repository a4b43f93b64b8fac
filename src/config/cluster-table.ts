import { PORT, SIGNED_WEIGHT } from './bounds.js'
import { checkShape, clusterTableSchema } from './core-schemas.js'
import { readJsonFile } from './data-file.js'
import { JsonNode } from './json-node.js'

/** One backend line of cluster_table.data (BFE field names, every field required). */
export interface BackendSpec {
  Name: string
  Addr: string
  Port: number
  Weight: number
}

/** cluster_table.data: cluster -> sub-cluster -> backends, in file order. */
export interface ClusterTableConf {
  Version: string
  Config: Map<string, Map<string, BackendSpec[]>>
}

/** Parses and validates the text of cluster_table.data (config.md §5.1). */
export function parseClusterTable(file: string, text: string): ClusterTableConf {
  return decodeClusterTable(JsonNode.parse(file, text))
}

/** Validates the parsed JSON of the file (`root.file` names it in errors). */
export function decodeClusterTable(root: JsonNode): ClusterTableConf {
  checkShape(clusterTableSchema, root)
  const version = root.get('Version').string()
  const config = new Map<string, Map<string, BackendSpec[]>>()
  for (const [clusterName, clusterNode] of root.get('Config').namedEntries('cluster', true)) {
    const subs = new Map<string, BackendSpec[]>()
    for (const [subName, subNode] of clusterNode.namedEntries('sub-cluster', true)) {
      const backends: BackendSpec[] = []
      let positive = false
      for (const b of subNode.items(true)) {
        b.entries(true)
        const spec: BackendSpec = {
          Name: b.get('Name').name('backend'),
          Addr: b.get('Addr').string(),
          Port: b.get('Port').bounded(undefined, PORT),
          Weight: b.get('Weight').bounded(undefined, SIGNED_WEIGHT),
        }
        if (spec.Addr === '') b.get('Addr').fail('must not be empty')
        if (spec.Weight > 0) positive = true
        backends.push(spec)
      }
      if (!positive) subNode.fail('needs at least one backend with Weight > 0')
      subs.set(subName, backends)
    }
    config.set(clusterName, subs)
  }
  return { Version: version, Config: config }
}

/** Reads cluster_table.data from disk; errors name the file. */
export function loadClusterTable(path: string): ClusterTableConf {
  return decodeClusterTable(readJsonFile(path))
}
