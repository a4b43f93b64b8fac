import { BfeConfError } from '../basic/errors.js'
import { SIGNED_WEIGHT } from './bounds.js'
import { type ClusterTableConf, parseClusterTable } from './cluster-table.js'
import { checkShape, gslbSchema } from './core-schemas.js'
import { readDataFile } from './data-file.js'
import { JsonNode } from './json-node.js'

/** gslb.data (config.md §5.2). Weights per cluster keep the file's key order. */
export interface GslbConf {
  Hostname: string
  Ts: string
  Clusters: Map<string, Map<string, number>>
}

/** Both balancing data files, validated together. */
export interface GslbData {
  clusterTable: ClusterTableConf
  gslb: GslbConf
  /** File names used in error messages. */
  files: { clusterTable: string; gslb: string }
}

/** Parses and validates the text of gslb.data on its own. */
export function parseGslb(file: string, text: string): GslbConf {
  const root = JsonNode.parse(file, text)
  checkShape(gslbSchema, root)
  const hostname = root.get('Hostname').string()
  const ts = root.get('Ts').string()
  const clusters = new Map<string, Map<string, number>>()
  for (const [clusterName, node] of root.get('Clusters').namedEntries('cluster', true)) {
    const weights = new Map<string, number>()
    let sum = 0
    for (const [subName, w] of node.namedEntries('sub-cluster', true)) {
      const weight = w.bounded(undefined, SIGNED_WEIGHT)
      if (weight > 0) sum += weight
      weights.set(subName, weight)
    }
    if (sum <= 0) node.fail('needs a sub-cluster with weight > 0')
    clusters.set(clusterName, weights)
  }
  return { Hostname: hostname, Ts: ts, Clusters: clusters }
}

/** Every cluster of gslb.data must be in cluster_table.data. */
export function checkGslbData(
  gslbFile: string,
  gslb: GslbConf,
  clusterTable: ClusterTableConf,
): void {
  for (const name of gslb.Clusters.keys()) {
    if (!clusterTable.Config.has(name)) {
      throw new BfeConfError(
        gslbFile,
        `/Clusters/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`,
        'is not in cluster_table.data',
      )
    }
  }
}

/** Parses both files from text (used by tests and by loadGslbData). */
export function parseGslbData(
  files: { clusterTable: string; gslb: string },
  texts: { clusterTable: string; gslb: string },
): GslbData {
  const clusterTable = parseClusterTable(files.clusterTable, texts.clusterTable)
  const gslb = parseGslb(files.gslb, texts.gslb)
  checkGslbData(files.gslb, gslb, clusterTable)
  return { clusterTable, gslb, files }
}

/**
 * Reads and validates cluster_table.data and gslb.data (startup and `/reload/gslb_data_conf`).
 * Throws BfeConfError naming the file, the JSON pointer and the reason. Both files are read
 * before either is parsed, so an unreadable file is reported first.
 */
export function loadGslbData(paths: { clusterTable: string; gslb: string }): GslbData {
  const texts = { clusterTable: readDataFile(paths.clusterTable), gslb: readDataFile(paths.gslb) }
  return parseGslbData({ clusterTable: paths.clusterTable, gslb: paths.gslb }, texts)
}
