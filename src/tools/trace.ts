import { timingSafeEqual } from 'node:crypto'
import ipaddr from 'ipaddr.js'
import type { BfeRequest } from '../basic/request.js'
import type { BfeConf } from '../config/bfe-conf.js'
import { parseTraceAllow, type TraceRange as Range } from '../config/trace-allow.js'
import type { ServerDataConf } from '../route/server-data.js'

/** The request header that asks for a trace; its value is the token of bfe.conf. */
export const TRACE_REQUEST_HEADER = 'X-Bfe-Trace'
/** The response header that carries the decision path. */
export const TRACE_RESPONSE_HEADER = 'X-Bfe-Decision'

/**
 * Trace on demand (ours): a request from an allowed address carrying `X-Bfe-Trace: <token>`
 * gets an `X-Bfe-Decision` response header with its decision path (product and why, the rule
 * that chose the cluster, sub-cluster, backend, retries). The request header is removed before
 * modules and backends see it, whether or not it was accepted. Off unless a token is configured.
 */
export class DecisionTrace {
  private readonly token: Buffer
  private readonly allow: readonly Range[]

  constructor(token: string, allow: readonly Range[]) {
    this.token = Buffer.from(token)
    // no list: loopback only
    this.allow =
      allow.length > 0 ? allow : [ipaddr.parseCIDR('127.0.0.0/8'), ipaddr.parseCIDR('::1/128')]
  }

  /** Whether `req` asked for a trace and may have one. Removes the request header. */
  accept(req: BfeRequest): boolean {
    const given = req.headers.get(TRACE_REQUEST_HEADER)
    if (given === undefined) return false
    req.headers.delete(TRACE_REQUEST_HEADER)
    const g = Buffer.from(given)
    if (g.length !== this.token.length || !timingSafeEqual(g, this.token)) return false
    return this.allowed(req.clientAddr)
  }

  private allowed(addr: string | undefined): boolean {
    if (addr === undefined || !ipaddr.isValid(addr)) return false
    const a = ipaddr.process(addr)
    for (const [net, bits] of this.allow) {
      if (a.kind() === net.kind() && a.match(net, bits)) return true
    }
    return false
  }

  /**
   * The decision path of `req` on the snapshot it ran with: the product lookup and route rules
   * are evaluated again (pure functions of the request), the balancing outcome is what the
   * request actually got.
   */
  describe(sd: ServerDataConf, req: BfeRequest): string {
    const parts: string[] = []
    const host = sd.hostTable.explain(req.host, req.session.vip)
    if (host === undefined) parts.push('product=none')
    else parts.push(`product=${host.product} (${host.via} ${host.matched})`)
    if (host !== undefined) {
      const r = sd.routeTable.explain(host.product, req)
      const basic = r.basic.find((b) => b.matched)
      const adv = r.advanced.find((a) => a.matched === true)
      if (basic !== undefined && !r.advancedMode) parts.push(`route=basic rule ${basic.index}`)
      else if (adv !== undefined) parts.push(`route=advanced rule ${adv.index}`)
      else parts.push(`route=none (${r.error?.msg ?? 'no match'})`)
    }
    const b = req.backend
    if (req.clusterName !== '') parts.push(`cluster=${req.clusterName}`)
    if (b.subclusterName !== '') parts.push(`subcluster=${b.subclusterName}`)
    if (b.backendName !== '')
      parts.push(`backend=${b.backendName} ${b.backendAddr}:${b.backendPort}`)
    if (req.retryTime > 0) parts.push(`retries=${req.retryTime}`)
    if (req.errCode !== undefined) parts.push(`error=${req.errCode}`)
    // header values must stay printable ASCII
    return parts.join('; ').replace(/[^\x20-\x7e]/g, '?')
  }
}

/** The trace of a loaded bfe.conf (its allow list was checked by the loader); undefined = off. */
export function decisionTrace(conf: BfeConf): DecisionTrace | undefined {
  const s = conf.Server
  if (s.DecisionTraceToken === '') return undefined
  const allow = parseTraceAllow(s.DecisionTraceAllow)
  return new DecisionTrace(s.DecisionTraceToken, typeof allow === 'string' ? [] : allow)
}
