import ipaddr from 'ipaddr.js'
import { JsonNode } from './json-node.js'
import { readDataFile } from './paths.js'

/** vip_rule.data (config.md §4.2), validated. */
export interface VipRuleConf {
  Version: string
  /** product → VIPs (normalised address text). */
  Vips: Map<string, string[]>
}

/** Parses and validates the text of vip_rule.data. Throws BfeConfError. */
export function parseVipRule(file: string, text: string): VipRuleConf {
  const root = JsonNode.parse(file, text)
  if (root.absent) root.fail('is empty')
  root.entries(true)
  const versionNode = root.get('Version')
  const version = versionNode.string()
  if (version === '') versionNode.fail('must not be empty')
  const vips = new Map<string, string[]>()
  const owner = new Map<string, string>()
  for (const [product, list] of root.get('Vips').entries()) {
    const ips: string[] = []
    for (const item of list.items()) {
      const raw = item.string()
      const ip = normaliseIp(raw)
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
  return parseVipRule(file, readDataFile(file))
}

/**
 * Canonical text of an IP address (IPv4-mapped IPv6 becomes IPv4, IPv6 is compressed);
 * undefined when `s` is not an address.
 */
export function normaliseIp(s: string): string | undefined {
  const t = s.trim()
  if (!ipaddr.isValid(t)) return undefined
  // ipaddr.isValid accepts shorthand IPv4 forms such as "10.1"; require four parts
  if (!t.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(t)) return undefined
  return ipaddr.process(t).toString()
}
