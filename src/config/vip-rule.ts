import { normalizeIp } from '../util/ip.js'
import { checkShape, vipRuleSchema } from './core-schemas.js'
import { readJsonFile } from './data-file.js'
import { JsonNode } from './json-node.js'

/** vip_rule.data (config.md §4.2), validated. */
export interface VipRuleConf {
  Version: string
  /** product → VIPs (normalised address text). */
  Vips: Map<string, string[]>
}

/** Parses and validates the text of vip_rule.data. Throws BfeConfError. */
export function parseVipRule(file: string, text: string): VipRuleConf {
  return decodeVipRule(JsonNode.parse(file, text))
}

/** Validates the parsed JSON of the file (`root.file` names it in errors). */
export function decodeVipRule(root: JsonNode): VipRuleConf {
  checkShape(vipRuleSchema, root)
  const versionNode = root.get('Version')
  const version = versionNode.string()
  if (version === '') versionNode.fail('must not be empty')
  const vips = new Map<string, string[]>()
  const owner = new Map<string, string>()
  for (const [product, list] of root.get('Vips').namedEntries('product')) {
    const ips: string[] = []
    for (const item of list.items()) {
      const raw = item.string()
      const ip = normalizeIp(raw)
      if (ip === undefined) return item.fail(`"${raw}" is not a valid IP address`)
      const other = owner.get(ip)
      if (other !== undefined && other !== product) {
        item.fail(`VIP ${ip} is already listed under product "${other}"`)
      }
      owner.set(ip, product)
      ips.push(ip)
    }
    vips.set(product, ips)
  }
  return { Version: version, Vips: vips }
}

export function loadVipRule(file: string): VipRuleConf {
  return decodeVipRule(readJsonFile(file))
}
