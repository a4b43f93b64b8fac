import { checkShape, hostRuleSchema } from './core-schemas.js'
import { readJsonFile } from './data-file.js'
import { JsonNode } from './json-node.js'

/** host_rule.data (config.md §4.1), validated. Hostnames are lower-cased. */
export interface HostRuleConf {
  Version: string
  /** undefined when the file has none (null, absent or ""). */
  DefaultProduct: string | undefined
  /** host tag → hostnames (exact or `*.suffix`). */
  Hosts: Map<string, string[]>
  /** product → host tags. */
  HostTags: Map<string, string[]>
}

/** Parses and validates the text of host_rule.data. Throws BfeConfError. */
export function parseHostRule(file: string, text: string): HostRuleConf {
  return decodeHostRule(JsonNode.parse(file, text))
}

/** Validates the parsed JSON of the file (`root.file` names it in errors). */
export function decodeHostRule(root: JsonNode): HostRuleConf {
  checkShape(hostRuleSchema, root)
  const version = root.get('Version').string()

  // product of every host tag, rejecting a tag listed under two products
  const tagProduct = new Map<string, string>()
  const hostTags = new Map<string, string[]>()
  for (const [product, list] of root.get('HostTags').namedEntries('product', true)) {
    if (list.absent) list.fail('must not be null')
    const tags: string[] = []
    for (const item of list.items()) {
      const tag = item.name('host tag')
      const other = tagProduct.get(tag)
      if (other !== undefined && other !== product) {
        item.fail(`host tag "${tag}" is already listed under product "${other}"`)
      }
      tagProduct.set(tag, product)
      tags.push(tag)
    }
    hostTags.set(product, tags)
  }

  const seen = new Map<string, string>()
  const hosts = new Map<string, string[]>()
  for (const [tag, list] of root.get('Hosts').namedEntries('host tag', true)) {
    if (list.absent) list.fail('must not be null')
    if (!tagProduct.has(tag)) list.fail(`host tag "${tag}" is not listed in HostTags`)
    const names: string[] = []
    for (const item of list.items()) {
      const host = normaliseRuleHost(item.string())
      const bad = checkRuleHost(host)
      if (bad !== undefined) item.fail(bad)
      const prev = seen.get(host)
      if (prev !== undefined)
        item.fail(`host duplicate: "${host}" is already under host tag "${prev}"`)
      seen.set(host, tag)
      names.push(host)
    }
    hosts.set(tag, names)
  }

  const defNode = root.get('DefaultProduct')
  const def = defNode.string('')
  if (def !== '' && !hostTags.has(def)) defNode.fail(`"${def}" is not a product of HostTags`)
  return {
    Version: version,
    DefaultProduct: def === '' ? undefined : def,
    Hosts: hosts,
    HostTags: hostTags,
  }
}

export function loadHostRule(file: string): HostRuleConf {
  return decodeHostRule(readJsonFile(file))
}

/** Lower-cases a configured hostname and drops one trailing dot. */
export function normaliseRuleHost(host: string): string {
  const h = host.trim().toLowerCase()
  return h.length > 1 && h.endsWith('.') ? h.slice(0, -1) : h
}

/** Checks a host_rule hostname: non-empty; `*` only as a whole first label. */
function checkRuleHost(host: string): string | undefined {
  if (host === '') return 'must not be empty'
  const star = host.indexOf('*')
  if (star === -1) return undefined
  if (host.indexOf('*', star + 1) !== -1) return `"${host}": only one * is allowed`
  if (host !== '*' && !host.startsWith('*.')) return `"${host}": * must be the whole first label`
  return undefined
}
