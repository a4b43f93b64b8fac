import { Writable } from 'node:stream'
import pino from 'pino'
import { GSLB_BLACKHOLE } from '../balance/cluster-balancer.js'
import { BfeConfError } from '../basic/errors.js'
import { type BfeConf, loadBfeConf } from '../config/bfe-conf.js'
import { type ClusterConfFile, loadClusterConf } from '../config/cluster-conf.js'
import { type GslbData, loadGslbData } from '../config/gslb.js'
import { type HostRuleConf, loadHostRule } from '../config/host-rule.js'
import { loadNameConf } from '../config/name-conf.js'
import { loadRouteRule, type RouteRuleConf } from '../config/route-rule.js'
import { checkServerDataRefs, serverDataPaths } from '../config/server-data.js'
import { loadVipRule } from '../config/vip-rule.js'
import type { Logger } from '../log/logger.js'
import { loadModuleFiles } from '../module/module-file.js'
import { ModuleFramework } from '../module/registry.js'
import type { BfeModule } from '../module/types.js'
import { moduleCatalog } from '../modules/index.js'
import { describeError } from '../process/exit.js'
import { compileRouteRule } from '../route/route-rule.js'
import { loadTlsConf } from '../tls/tls-table.js'

/** One configuration error of `bfe -t`. */
export interface CheckError {
  /** File named by the error ('' when the error is not about one file). */
  readonly file: string
  /** JSON pointer, `line N [Section] Key`, or '' */
  readonly field: string
  readonly reason: string
  /** The whole line, as `bfe -t` prints it. */
  readonly message: string
}

/** What `bfe -t` finds (`--json` prints this object). */
export interface CheckReport {
  readonly ok: boolean
  readonly confRoot: string
  readonly confFile: string
  readonly errors: CheckError[]
  readonly warnings: string[]
}

function toError(err: unknown): CheckError {
  if (err instanceof BfeConfError)
    return { file: err.file, field: err.field, reason: err.reason, message: err.message }
  const message = describeError(err)
  return { file: '', field: '', reason: message, message }
}

/** A logger whose warnings (module load warnings) are collected into `into`. */
function collectingLogger(into: string[]): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue
        try {
          const o = JSON.parse(line) as { level?: number; msg?: unknown }
          if ((o.level ?? 0) >= 40 && typeof o.msg === 'string') into.push(o.msg)
        } catch {
          // not a log line
        }
      }
      cb()
    },
  })
  return pino({ level: 'warn' }, sink)
}

/**
 * `bfe -t`: loads every file of the configuration the way start-up does, but keeps going after an
 * error so that every broken file is reported (each file stops at its first error; checks across
 * files run when the files they read loaded), and adds warnings for rules and weights that can
 * never take effect. Opens no socket and starts no timer.
 */
export async function checkConf(
  confRoot: string,
  modules: readonly BfeModule[] = [],
): Promise<CheckReport> {
  const errors: CheckError[] = []
  const warnings: string[] = []
  const attempt = <T>(f: () => T): T | undefined => {
    try {
      return f()
    } catch (err) {
      errors.push(toError(err))
      return undefined
    }
  }
  const confFile = `${confRoot.replace(/\/+$/, '')}/bfe.conf`
  const conf = attempt(() => loadBfeConf(confRoot))
  if (conf === undefined) return { ok: false, confRoot, confFile, errors, warnings }
  warnings.push(...conf.warnings)
  const s = conf.Server

  const tls = attempt(() => loadTlsConf(conf))
  if (tls !== undefined) warnings.push(...tls.warnings)

  const paths = serverDataPaths(conf)
  const hostRule = attempt(() => loadHostRule(paths.hostRule))
  attempt(() => loadVipRule(paths.vipRule))
  const routeRule = attempt(() => {
    const r = loadRouteRule(paths.routeRule)
    const compiled = compileRouteRule(paths.routeRule, r)
    warnings.push(...compiled.warnings)
    return r
  })
  const clusterConf = attempt(() => loadClusterConf(paths.clusterConf, { confRoot: conf.confRoot }))
  if (clusterConf !== undefined) warnings.push(...clusterConf.notes)
  if (hostRule !== undefined && routeRule !== undefined && clusterConf !== undefined)
    attempt(() => checkServerDataRefs(paths, hostRule, routeRule, clusterConf))
  const gslb = attempt(() => loadGslbData({ clusterTable: s.ClusterTableConf, gslb: s.GslbConf }))
  if (s.NameConf !== '') attempt(() => loadNameConf(s.NameConf))

  await checkModules(conf, modules, errors, warnings)

  if (routeRule !== undefined) warnings.push(...unreachableRules(paths.routeRule, routeRule))
  if (clusterConf !== undefined && gslb !== undefined)
    warnings.push(...balancingWarnings(paths.clusterConf, clusterConf, routeRule, gslb))
  if (hostRule !== undefined && routeRule !== undefined)
    warnings.push(...productsWithoutRoutes(paths.hostRule, hostRule, routeRule))
  return { ok: errors.length === 0, confRoot, confFile, errors, warnings }
}

/** Each enabled module on its own, so that one broken module does not hide another. */
async function checkModules(
  conf: BfeConf,
  modules: readonly BfeModule[],
  errors: CheckError[],
  warnings: string[],
): Promise<void> {
  let fileModules: BfeModule[] = []
  try {
    fileModules = await loadModuleFiles(conf.Server.ModuleFile)
  } catch (err) {
    errors.push(toError(err))
  }
  const log = collectingLogger(warnings)
  for (const name of conf.Server.Modules) {
    try {
      const fw = new ModuleFramework(moduleCatalog([...modules, ...fileModules]))
      await fw.init([name], { confRoot: conf.confRoot, settings: conf, log })
    } catch (err) {
      errors.push(toError(err))
    }
  }
  log.flush()
  // pino writes asynchronously through the stream: let it drain
  await new Promise((r) => setImmediate(r))
}

/** Advanced rules after an unconditional `default_t()` rule can never match. */
export function unreachableRules(file: string, conf: RouteRuleConf): string[] {
  const out: string[] = []
  for (const [product, rules] of conf.ProductRule) {
    const i = rules.findIndex((r) => /^\s*default_t\(\s*\)\s*$/.test(r.Cond))
    if (i === -1 || i === rules.length - 1) continue
    const first = rules[i + 1]
    out.push(
      `${file}: ${first?.pointer ?? `/ProductRule/${product}`} product "${product}": ${rules.length - i - 1} rule(s) after the default_t() rule ${i} can never match`,
    )
  }
  return out
}

/** Clusters that route rules can reach but that have no backends; sub-clusters without traffic. */
export function balancingWarnings(
  clusterConfFile: string,
  clusterConf: ClusterConfFile,
  routeRule: RouteRuleConf | undefined,
  gslb: GslbData,
): string[] {
  const out: string[] = []
  const routed = new Set<string>()
  if (routeRule !== undefined) {
    for (const rules of routeRule.BasicRule.values())
      for (const r of rules) routed.add(r.ClusterName)
    for (const rules of routeRule.ProductRule.values())
      for (const r of rules) routed.add(r.ClusterName)
  }
  for (const name of clusterConf.Config.keys()) {
    if (gslb.gslb.Clusters.has(name)) continue
    const table = gslb.clusterTable.Config.get(name)
    const how = table === undefined ? 'is in neither' : 'is not in'
    out.push(
      `${clusterConfFile}: cluster "${name}" has no backends: it ${how} ${table === undefined ? `${gslb.files.clusterTable} nor ${gslb.files.gslb}` : gslb.files.gslb}${routed.has(name) ? ' (route rules send requests there; they fail with 500)' : ''}`,
    )
  }
  for (const [cluster, subs] of gslb.clusterTable.Config) {
    const weights = gslb.gslb.Clusters.get(cluster)
    if (weights === undefined) continue
    for (const sub of subs.keys()) {
      if (sub === GSLB_BLACKHOLE) continue
      const w = weights.get(sub)
      if (w === undefined)
        out.push(
          `${gslb.files.gslb}: sub-cluster "${sub}" of cluster "${cluster}" (in ${gslb.files.clusterTable}) has no weight in gslb.data: it gets no traffic`,
        )
      else if (w <= 0)
        out.push(
          `${gslb.files.gslb}: /Clusters/${cluster}/${sub} has weight ${w}: the sub-cluster gets no traffic (only cross-retries when the weight is 0)`,
        )
    }
  }
  return out
}

/** Products of host_rule.data with no route rule at all: every request fails with 500. */
function productsWithoutRoutes(file: string, host: HostRuleConf, route: RouteRuleConf): string[] {
  const out: string[] = []
  for (const p of host.HostTags.keys())
    if (!route.BasicRule.has(p) && !route.ProductRule.has(p))
      out.push(`${file}: product "${p}" has no route rules: its requests fail (BK_FIND_LOCATION)`)
  return out
}

/** Text output of `bfe -t`, BFE's last line included. */
export function formatCheck(r: CheckReport): { stdout: string; stderr: string } {
  let stderr = ''
  for (const w of r.warnings) stderr += `bfe: warning: ${w}\n`
  for (const e of r.errors) stderr += `bfe: ${e.message}\n`
  if (r.ok) return { stdout: `bfe: configuration file ${r.confFile} test is successful\n`, stderr }
  if (r.errors.length > 1) stderr += `bfe: ${r.errors.length} errors\n`
  return { stdout: '', stderr: `${stderr}bfe: configuration file ${r.confFile} test failed\n` }
}
