import type { BfeRequest } from '../../basic/request.js'
import { normalizeIp } from '../../util/ip.js'

/**
 * The client address of a request on a trusted session (lifecycle.md §5 step 2; sessions are
 * trusted by mod_trust_clientip): `X-Real-Ip` with `X-Real-Port`, or when `X-Real-Ip` is empty
 * the first comma-separated item of `X-Forwarded-For` with that of `X-Forwarded-Port`. An address
 * that does not parse leaves the client address unknown (undefined); a port that does not parse
 * becomes 0. Untrusted sessions keep the remote address set when the request was made.
 */
export function setTrustedClientAddr(req: BfeRequest): void {
  const h = req.headers
  let ip = h.get('x-real-ip') ?? ''
  let port = h.get('x-real-port') ?? ''
  if (ip === '') {
    ip = firstItem(h.get('x-forwarded-for'))
    port = firstItem(h.get('x-forwarded-port'))
  }
  req.clientAddr = undefined
  req.clientPort = 0
  if (ip === '') return
  // Go's net.ParseIP: no surrounding spaces, no zone, no shortened IPv4 forms.
  const addr = ip.includes('%') || ip.trim() !== ip ? undefined : normalizeIp(ip)
  if (addr === undefined) return
  req.clientAddr = addr
  req.clientPort = /^[+-]?\d{1,10}$/.test(port) ? Number(port) : 0
}

function firstItem(v: string | undefined): string {
  if (v === undefined || v === '') return ''
  const comma = v.indexOf(',')
  return (comma === -1 ? v : v.slice(0, comma)).trim()
}
