import { BalTable } from '../balance/bal-table.js'
import type { ClusterBalancer } from '../balance/cluster-balancer.js'
import { clientIpKey } from '../balance/hash-key.js'
import type { BfeRequest } from '../basic/request.js'
import { type HashConf, HashStrategy } from '../config/cluster-conf-types.js'
import { CallbackPoint, CallbackPointName, HandlerResult } from '../module/callback-point.js'
import type { BfeModule, ExplainStep } from '../module/types.js'
import type { RouteExplain } from '../route/route-table.js'
import type { ServerDataConf } from '../route/server-data.js'
import type { DecisionConf } from './decision-conf.js'
import { buildRequest, type RequestSpec } from './request-spec.js'

/** One step of a decision path, in the order the pipeline takes them. */
export interface DecisionStep {
  /** `module` (a module's verdict), `product`, `route`, `cluster`, `gslb`, `backend`. */
  readonly step: 'module' | 'product' | 'route' | 'cluster' | 'gslb' | 'backend'
  /** Callback point name for module steps (`HandleFoundProduct`). */
  readonly point?: string
  readonly module?: string
  /** One line for people. */
  readonly summary: string
  /** For module steps: the filter's return code name when it is not GoOn. */
  readonly result?: string
  readonly [key: string]: unknown
}

/** The decision path of one request (`bfe explain --json` prints this object). */
export interface Explanation {
  readonly request: {
    readonly method: string
    readonly url: string
    readonly host: string
    readonly path: string
    readonly cip: string | null
    readonly vip: string | null
  }
  readonly product: string | null
  readonly hostTag: string | null
  readonly cluster: string | null
  readonly subCluster: string | null
  readonly backend: { readonly name: string; readonly addr: string; readonly port: number } | null
  /** Why the request stops before a backend: an error code and message, or a module's answer. */
  readonly error: { readonly code: string; readonly message: string } | null
  readonly answeredBy: {
    readonly module: string
    readonly point: string
    readonly result: string
  } | null
  readonly steps: DecisionStep[]
}

const RESULT_NAME: Readonly<Record<number, string>> = {
  [HandlerResult.Finish]: 'Finish',
  [HandlerResult.GoOn]: 'GoOn',
  [HandlerResult.Redirect]: 'Redirect',
  [HandlerResult.Response]: 'Response',
  [HandlerResult.Close]: 'Close',
}

const STRATEGY_NAME: Readonly<Record<number, string>> = {
  [HashStrategy.ClientIdOnly]: 'ClientIdOnly',
  [HashStrategy.ClientIpOnly]: 'ClientIpOnly',
  [HashStrategy.ClientIdPreferred]: 'ClientIdPreferred',
  [HashStrategy.RequestURI]: 'RequestURI',
}

/**
 * Explains requests against one configuration. Decisions are BFE's own functions (host table,
 * route table, the modules' explain hooks, `ClusterBalancer.balance`), run on a balancing table
 * that this explainer builds from the configuration: a pick changes its private WRR state only,
 * never a live server's. A fresh explainer gives each cluster's first pick; explaining requests
 * one after another gives the picks a fresh server makes for the same requests sent one at a time.
 */
export class Explainer {
  private readonly dc: DecisionConf
  private balTable: BalTable
  private readonly modules: readonly BfeModule[]
  /** Filter names per point (`mod_x.name`) for modules without an explain hook. */
  private readonly filters: Readonly<Record<string, string[]>>

  constructor(dc: DecisionConf) {
    this.dc = dc
    this.balTable = newTable(dc)
    this.modules = dc.framework.enabledModules
    this.filters = dc.framework.handlerView()
  }

  /** Forgets every pick made so far (the next pick of each cluster is its first). */
  reset(): void {
    this.balTable.stop()
    this.balTable = newTable(this.dc)
  }

  /** Stops the private balancing table (it starts no timers; this is for symmetry). */
  close(): void {
    this.balTable.stop()
  }

  explain(spec: RequestSpec): Explanation {
    const req = buildRequest(spec)
    const steps: DecisionStep[] = []
    const out = {
      request: {
        method: req.method,
        url: spec.url,
        host: req.host,
        path: req.path,
        cip: spec.cip ?? null,
        vip: spec.vip ?? null,
      },
      product: null as string | null,
      hostTag: null as string | null,
      cluster: null as string | null,
      subCluster: null as string | null,
      backend: null as Explanation['backend'],
      error: null as Explanation['error'],
      answeredBy: null as Explanation['answeredBy'],
      steps,
    }
    const sd = this.dc.serverData
    if (this.runModules(req, CallbackPoint.Accept, steps, out)) return out
    if (this.runModules(req, CallbackPoint.BeforeLocation, steps, out)) return out

    const host = sd.hostTable.explain(req.host, req.session.vip)
    if (host === undefined) {
      steps.push({
        step: 'product',
        summary: `no product: host "${req.host}" matches no host rule, no VIP product, no DefaultProduct`,
      })
      out.error = { code: 'BK_FIND_PRODUCT', message: 'no product found for this request' }
      return out
    }
    req.product = host.product
    req.hostTag = host.hostTag
    out.product = host.product
    out.hostTag = host.hostTag === '' ? null : host.hostTag
    steps.push({
      step: 'product',
      summary: productSummary(host.product, host.via, host.matched, host.hostTag),
      product: host.product,
      via: host.via,
      matched: host.matched,
      hostTag: host.hostTag === '' ? null : host.hostTag,
    })
    if (this.runModules(req, CallbackPoint.FoundProduct, steps, out)) return out

    const route = sd.routeTable.explain(req.product, req)
    steps.push({
      step: 'route',
      summary: routeSummary(req.product, route),
      basic: route.basic,
      advancedMode: route.advancedMode,
      advanced: route.advanced,
    })
    if (route.cluster === undefined) {
      out.error = {
        code: route.error?.code ?? 'BK_FIND_LOCATION',
        message: route.error?.msg ?? 'no rule match for this req',
      }
      return out
    }
    req.clusterName = route.cluster
    out.cluster = route.cluster
    if (!sd.clusterConfs.has(route.cluster)) {
      steps.push({ step: 'cluster', summary: `cluster ${route.cluster} is not in cluster_conf` })
      out.error = { code: 'BK_NO_CLUSTER', message: `cluster ${route.cluster} not in cluster_conf` }
      return out
    }
    if (this.runModules(req, CallbackPoint.AfterLocation, steps, out)) return out

    const bal = this.balTable.lookup(route.cluster)
    if (bal === undefined) {
      steps.push({
        step: 'gslb',
        summary: `cluster ${route.cluster} has no balancer (not in gslb.data)`,
      })
      out.error = { code: 'BK_NO_CLUSTER', message: `no balancer for cluster ${route.cluster}` }
      return out
    }
    steps.push(gslbStep(bal, req))
    const pick = bal.balance(req, 0)
    if (!pick.ok) {
      steps.push({ step: 'backend', summary: `no backend: ${pick.code} (${pick.msg})` })
      out.error = { code: pick.code, message: pick.msg }
      return out
    }
    const b = pick.backend
    out.subCluster = pick.subCluster.name
    out.backend = { name: b.name, addr: b.addr, port: b.port }
    req.backend.clusterName = route.cluster
    req.backend.subclusterName = pick.subCluster.name
    req.backend.backendName = b.name
    req.backend.backendAddr = b.addr
    req.backend.backendPort = b.port
    steps.push({
      step: 'backend',
      summary: `${b.name} ${b.addr}:${b.port} in ${pick.subCluster.name} (${pickMethod(bal)})`,
      name: b.name,
      addr: b.addr,
      port: b.port,
      subCluster: pick.subCluster.name,
      method: pickMethod(bal),
    })
    if (this.runModules(req, CallbackPoint.Forward, steps, out)) return out
    this.runModules(req, CallbackPoint.ReadResponse, steps, out)
    return out
  }

  /** Asks each enabled module about `point`; true when one of them ends the request there. */
  private runModules(
    req: BfeRequest,
    point: CallbackPoint,
    steps: DecisionStep[],
    out: { answeredBy: Explanation['answeredBy']; error: Explanation['error'] },
  ): boolean {
    const pointName = CallbackPointName[point] ?? String(point)
    const registered = this.filters[`${point}#${pointName}`] ?? []
    for (const m of this.modules) {
      if (m.explain === undefined) {
        const mine = registered.filter((n) => n.startsWith(`${m.name}.`))
        if (mine.length > 0)
          steps.push({
            step: 'module',
            point: pointName,
            module: m.name,
            summary: `has a filter here (${mine.join(', ')}) but no explain hook: not explained`,
            explained: false,
          })
        continue
      }
      let st: ExplainStep | undefined
      try {
        st = m.explain(req, point)
      } catch (err) {
        steps.push({
          step: 'module',
          point: pointName,
          module: m.name,
          summary: `explain failed: ${err instanceof Error ? err.message : String(err)}`,
          explained: false,
        })
        continue
      }
      if (st === undefined) continue
      const result = st.result ?? HandlerResult.GoOn
      const step: DecisionStep = {
        step: 'module',
        point: pointName,
        module: m.name,
        summary: st.summary,
        ...(result === HandlerResult.GoOn ? {} : { result: RESULT_NAME[result] ?? String(result) }),
        ...(st.rules === undefined ? {} : { rules: st.rules }),
        ...(st.detail === undefined ? {} : { detail: st.detail }),
      }
      steps.push(step)
      if (result !== HandlerResult.GoOn) {
        out.answeredBy = {
          module: m.name,
          point: pointName,
          result: RESULT_NAME[result] ?? String(result),
        }
        return true
      }
    }
    return false
  }
}

function newTable(dc: DecisionConf): BalTable {
  // No prober: no health check, no timer. A fixed random source makes an empty hash key (BFE
  // hashes random bytes then) give the same answer every run; the step says the key was random.
  return new BalTable(dc.gslb, dc.serverData.clusterConfs, { random: () => 0 })
}

function productSummary(product: string, via: string, matched: string, tag: string): string {
  switch (via) {
    case 'host':
      return `${product} (host ${matched}, host tag ${tag})`
    case 'wildcard':
      return `${product} (wildcard host ${matched}, host tag ${tag})`
    case 'vip':
      return `${product} (VIP ${matched})`
    default:
      return `${product} (DefaultProduct: no host rule matched)`
  }
}

function routeSummary(product: string, r: RouteExplain): string {
  if (r.basic.length === 0 && r.advanced.length === 0 && r.error !== undefined)
    return `product ${product} has no route rules (${r.error.msg})`
  const chosen = r.basic.find((b) => b.matched)
  const adv = r.advanced.find((a) => a.matched === true)
  if (chosen !== undefined && !r.advancedMode)
    return `basic rule ${chosen.index} -> ${chosen.cluster}`
  if (adv !== undefined)
    return `${r.advancedMode ? `basic rule ${chosen?.index} is ADVANCED_MODE; ` : ''}advanced rule ${adv.index} (${adv.cond}) -> ${adv.cluster}`
  return `no rule matched (${r.error?.msg ?? 'no rule match for this req'})`
}

/** How the backend is chosen in `bal`'s cluster. */
function pickMethod(bal: ClusterBalancer): string {
  if (bal.hashConf.SessionSticky) return 'sticky hash of the GSLB key'
  return bal.wlc ? 'weighted least connections' : 'smooth weighted round robin'
}

/** The GSLB step: hash strategy, the key the request gives, the bucket and the sub-cluster. */
function gslbStep(bal: ClusterBalancer, req: BfeRequest): DecisionStep {
  const key = describeHashKey(req, bal.hashConf)
  const positive = bal.subClusters.filter((s) => s.weight > 0)
  const weights = Object.fromEntries(bal.subClusters.map((s) => [s.name, s.weight]))
  const base = {
    step: 'gslb' as const,
    strategy: STRATEGY_NAME[bal.hashConf.HashStrategy] ?? String(bal.hashConf.HashStrategy),
    hashKey: key,
    weights,
  }
  if (positive.length === 1 && !bal.hashConf.SessionSticky) {
    const only = positive[0]?.name ?? ''
    return {
      ...base,
      summary: `${only} (the only sub-cluster with weight > 0; no hash needed)`,
      subCluster: only,
      bucket: null,
      totalWeight: bal.totalWeight,
    }
  }
  const hash = bal.hashOf(req)
  const sc = bal.pickSubCluster(hash)
  const bucket = bal.totalWeight > 0 ? Number(hash % BigInt(bal.totalWeight)) : null
  return {
    ...base,
    summary:
      sc === undefined
        ? 'no sub-cluster has weight > 0'
        : `${sc.name} (hash key ${key.source}${key.value === null ? '' : ` "${key.value}"`}, bucket ${bucket} of ${bal.totalWeight})`,
    subCluster: sc?.name ?? null,
    bucket,
    totalWeight: bal.totalWeight,
  }
}

/** Which request value BFE hashes under `conf` (balancing.md §2), as `hashKey` chooses it. */
export function describeHashKey(
  req: BfeRequest,
  conf: HashConf,
): { source: string; value: string | null } {
  const id = (): { source: string; value: string } | undefined => {
    const h = conf.HashHeader
    if (h === '') return undefined
    const v = req.headers.get(h)
    if (v !== undefined && v !== '') return { source: `header ${h}`, value: v }
    if (h.length > 7 && h.slice(0, 7).toLowerCase() === 'cookie:') {
      const c = req.cookies().get(h.slice(7))
      if (c !== undefined && c !== '') return { source: `cookie ${h.slice(7)}`, value: c }
    }
    return undefined
  }
  const ip = (): { source: string; value: string } | undefined =>
    clientIpKey(req.clientAddr) === undefined
      ? undefined
      : { source: 'client IP', value: req.clientAddr ?? '' }
  let k: { source: string; value: string } | undefined
  switch (conf.HashStrategy) {
    case HashStrategy.ClientIdOnly:
      k = id()
      break
    case HashStrategy.ClientIdPreferred:
      k = id() ?? ip()
      break
    case HashStrategy.RequestURI:
      k = req.rawUri === '' ? undefined : { source: 'request URI', value: req.rawUri }
      break
    default:
      k = ip()
  }
  return k ?? { source: 'random (the request has no key; BFE hashes random bytes)', value: null }
}

/** Text output of `bfe explain`: one block per request. */
export function formatExplanation(e: Explanation): string {
  const lines: string[] = []
  const r = e.request
  lines.push(
    `request   ${r.method} ${r.url}  host "${r.host}" path "${r.path}"${r.cip === null ? '' : ` client ${r.cip}`}${r.vip === null ? '' : ` vip ${r.vip}`}`,
  )
  for (const s of e.steps) {
    switch (s.step) {
      case 'module':
        lines.push(
          `module    ${s.point} ${s.module}: ${s.summary}${s.result === undefined ? '' : ` => ${s.result}`}`,
        )
        for (const rule of (s['rules'] as ExplainStep['rules']) ?? [])
          lines.push(
            `            rule ${rule.index} ${matchWord(rule.matched)}${rule.cond === undefined ? '' : `  ${rule.cond}`}`,
          )
        break
      case 'route': {
        lines.push(`route     ${s.summary}`)
        for (const b of (s['basic'] as RouteExplain['basic']) ?? [])
          lines.push(
            `            basic ${b.index} ${b.matched ? 'chosen     ' : 'not chosen '} host ${list(b.hostname)} path ${list(b.path)} -> ${b.cluster}`,
          )
        for (const a of (s['advanced'] as RouteExplain['advanced']) ?? [])
          lines.push(
            `            advanced ${a.index} ${matchWord(a.matched)}  ${a.cond} -> ${a.cluster}`,
          )
        break
      }
      default:
        lines.push(`${s.step.padEnd(9)} ${s.summary}`)
    }
  }
  if (e.answeredBy !== null)
    lines.push(
      `answered  by ${e.answeredBy.module} at ${e.answeredBy.point} (${e.answeredBy.result})`,
    )
  if (e.error !== null) lines.push(`error     ${e.error.code}: ${e.error.message}`)
  return `${lines.join('\n')}\n`
}

function matchWord(m: boolean | undefined): string {
  return m === undefined ? 'not evaluated' : m ? 'matched      ' : 'no match     '
}

function list(l: readonly string[]): string {
  return l.length === 0 ? '*' : l.join(',')
}

/** Product and cluster decision only (simulate, the trace header): pure, no balancer. */
export function routeOf(
  sd: ServerDataConf,
  req: BfeRequest,
): { product: string | null; cluster: string | null; error: string | null } {
  const host = sd.hostTable.lookup(req.host, req.session.vip)
  if (host === undefined) return { product: null, cluster: null, error: 'BK_FIND_PRODUCT' }
  req.product = host.product
  req.hostTag = host.hostTag
  const c = sd.routeTable.lookup(host.product, req)
  if (typeof c !== 'string') return { product: host.product, cluster: null, error: c.code }
  return { product: host.product, cluster: c, error: null }
}
