import { PORT, WEIGHT } from './bounds.js'
import { checkShape, nameConfSchema } from './core-schemas.js'
import { readJsonFile } from './data-file.js'
import { JsonNode } from './json-node.js'

/** One instance of a named service. */
export interface NameInstance {
  Host: string
  Port: number
  Weight: number
}

/** name_conf.data (config.md §4.5): service name → instances. */
export interface NameConf {
  Version: string
  Config: ReadonlyMap<string, readonly NameInstance[]>
}

/** Parses and validates name_conf.data text. Throws BfeConfError. */
export function parseNameConf(file: string, text: string): NameConf {
  return decodeNameConf(JsonNode.parse(file, text))
}

/** Validates the parsed JSON of the file (`root.file` names it in errors). */
export function decodeNameConf(root: JsonNode): NameConf {
  checkShape(nameConfSchema, root)
  const version = root.get('Version').string()
  const config = new Map<string, NameInstance[]>()
  for (const [name, list] of root.get('Config').namedEntries('service', true)) {
    if (list.absent) list.fail('must not be null')
    const instances: NameInstance[] = []
    for (const item of list.items()) {
      item.entries(true)
      const hostNode = item.get('Host')
      const host = hostNode.string()
      if (host === '') hostNode.fail('must not be empty')
      const port = item.get('Port').bounded(undefined, PORT)
      const weight = item.get('Weight').bounded(undefined, WEIGHT)
      instances.push({ Host: host, Port: port, Weight: weight })
    }
    config.set(name, instances)
  }
  return { Version: version, Config: config }
}

/** Reads name_conf.data (`/reload/name_conf` calls this too). */
export function loadNameConf(file: string): NameConf {
  return decodeNameConf(readJsonFile(file))
}
