import type { DecisionConf } from './decision-conf.js'
import { Explainer, type Explanation } from './explain.js'
import type { RequestSpec } from './request-spec.js'

/** The part of a decision that `bfe simulate` compares. */
export interface Decision {
  product: string | null
  cluster: string | null
  /** The GSLB choice (GSLB_BLACKHOLE included), before any backend is picked. */
  subCluster: string | null
  error: string | null
}

export interface ChangeExample {
  request: string
  old: Decision
  new: Decision
}

export type ChangeKind = 'product' | 'cluster' | 'subCluster'

/** What `bfe simulate` reports (`--json` prints this object). */
export interface SimulationReport {
  requests: number
  unchanged: number
  changed: Record<ChangeKind, number>
  /** Requests whose error (none, BK_FIND_PRODUCT ...) differs. */
  errorChanged: number
  /** Per kind, requests whose first changed level (product, then cluster, then sub-cluster) it is. */
  examples: Record<ChangeKind, ChangeExample[]>
}

/** Decision of one explained request. */
export function decisionOf(e: Explanation): Decision {
  const gslb = e.steps.find((s) => s.step === 'gslb')
  const sc = gslb?.['subCluster']
  return {
    product: e.product,
    cluster: e.cluster,
    subCluster: typeof sc === 'string' ? sc : e.subCluster,
    error: e.error?.code ?? (e.answeredBy === null ? null : `answered by ${e.answeredBy.module}`),
  }
}

/**
 * Replays `requests` through the decisions of two configurations and counts the requests whose
 * product, cluster or GSLB sub-cluster changes, with up to `maxExamples` examples of each.
 * Nothing is sent anywhere; both sides run on private balancing tables.
 */
export function simulate(
  oldConf: DecisionConf,
  newConf: DecisionConf,
  requests: readonly RequestSpec[],
  maxExamples = 5,
): SimulationReport {
  const a = new Explainer(oldConf)
  const b = new Explainer(newConf)
  const report: SimulationReport = {
    requests: 0,
    unchanged: 0,
    changed: { product: 0, cluster: 0, subCluster: 0 },
    errorChanged: 0,
    examples: { product: [], cluster: [], subCluster: [] },
  }
  try {
    for (const spec of requests) {
      report.requests++
      const o = decisionOf(a.explain(spec))
      const n = decisionOf(b.explain(spec))
      let same = true
      // counted at every level that changed; an example goes under the first one only
      let example = true
      for (const k of ['product', 'cluster', 'subCluster'] as const) {
        if (o[k] === n[k]) continue
        same = false
        report.changed[k]++
        if (example && report.examples[k].length < maxExamples)
          report.examples[k].push({ request: describe(spec), old: o, new: n })
        example = false
      }
      if (o.error !== n.error) {
        report.errorChanged++
        same = false
      }
      if (same) report.unchanged++
    }
  } finally {
    a.close()
    b.close()
  }
  return report
}

function describe(spec: RequestSpec): string {
  const hs = spec.headers.map(([k, v]) => ` ${k}: ${v}`).join('')
  return `${spec.method} ${spec.url}${hs}${spec.cip === undefined ? '' : ` (client ${spec.cip})`}`
}

function show(d: Decision): string {
  if (d.product === null) return `no product (${d.error})`
  return `${d.product} / ${d.cluster ?? `no cluster (${d.error})`} / ${d.subCluster ?? '-'}`
}

/** Text output of `bfe simulate`. */
export function formatReport(r: SimulationReport): string {
  const lines = [
    `requests replayed:   ${r.requests}`,
    `unchanged:           ${r.unchanged}`,
    `product changed:     ${r.changed.product}`,
    `cluster changed:     ${r.changed.cluster}`,
    `sub-cluster changed: ${r.changed.subCluster}`,
    `error changed:       ${r.errorChanged}`,
  ]
  const titles: Record<ChangeKind, string> = {
    product: 'product changes',
    cluster: 'cluster changes',
    subCluster: 'sub-cluster changes',
  }
  for (const k of ['product', 'cluster', 'subCluster'] as const) {
    if (r.examples[k].length === 0) continue
    lines.push('', `examples of ${titles[k]} (product / cluster / sub-cluster):`)
    for (const ex of r.examples[k])
      lines.push(`  ${ex.request}`, `    old: ${show(ex.old)}`, `    new: ${show(ex.new)}`)
  }
  return `${lines.join('\n')}\n`
}
