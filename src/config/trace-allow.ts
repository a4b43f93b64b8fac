import ipaddr from 'ipaddr.js'

/** One entry of `[Server] DecisionTraceAllow`: a network and its prefix length. */
export type TraceRange = [ipaddr.IPv4 | ipaddr.IPv6, number]

/** Parses `[Server] DecisionTraceAllow` entries (IPs or CIDRs); the reason on a bad entry. */
export function parseTraceAllow(list: readonly string[]): TraceRange[] | string {
  const out: TraceRange[] = []
  for (const raw of list) {
    const e = raw.trim()
    if (e === '') continue
    try {
      out.push(e.includes('/') ? ipaddr.parseCIDR(e) : hostRange(ipaddr.parse(e)))
    } catch {
      return `"${e}" is not an IP address or CIDR`
    }
  }
  return out
}

function hostRange(a: ipaddr.IPv4 | ipaddr.IPv6): TraceRange {
  return [a, a.kind() === 'ipv4' ? 32 : 128]
}
