import path from 'node:path'
import type { BfeRequest } from '../basic/request.js'
import type { BfeConf } from '../config/bfe-conf.js'
import { readDataFile } from '../config/data-file.js'
import { type IniSchema, type IniValues, parseIni } from '../config/ini.js'
import { resolveConfPath, resolveDataPath } from '../config/paths.js'
import type { Logger } from '../log/logger.js'
import type { MetricsSnapshot } from '../monitor/types.js'
import { type BodyPeek, readRequestBody } from './body.js'
import { loadProductRules, type ProductRuleDecl, type ProductRuleTable } from './rule-table.js'
import type { Callbacks, WebHandlers } from './types.js'

/** What a loader returns: the new data, its version (shown on reload) and load warnings. */
export interface Loaded<T> {
  value: T
  /** Version text answered by `/reload/<name>` (`<file>=<Version>`); none when undefined. */
  version?: string | undefined
  warnings?: readonly string[] | undefined
}

/** Data read from a file at start-up and replaced by `/reload/<name>`. */
export interface Reloadable<T> {
  /** The data in force. Read it on every request (a reload swaps it). */
  readonly value: T
  /** The file the data was last read from. */
  readonly file: string
}

/**
 * Everything a module's `init` gets: where its files are, the server's settings, a logger that
 * names it, counters the monitor serves (summed across workers), and the registration of filters
 * and of monitor and reload handlers.
 */
export interface ModuleContext {
  /** The module's name (`mod_block`). */
  readonly name: string
  /** Absolute configuration root (the directory of bfe.conf's parent, BFE's `-c`). */
  readonly confRoot: string
  /** `<confRoot>/<name>/<name>.conf`, BFE's ModConfPath. */
  readonly confPath: string
  /** bfe.conf as loaded (read only). */
  readonly settings: Readonly<BfeConf>
  /** A logger whose lines carry `module: <name>`. */
  readonly log: Logger
  /** Filter registration at the nine callback points. */
  readonly callbacks: Callbacks
  /** Monitor and reload handler registration (served on the monitor port). */
  readonly web: WebHandlers
  /**
   * Reads the module's INI file (`confPath`, or `file`) with `schema`: unknown sections and keys
   * are load errors, as in bfe.conf.
   */
  readConf<S extends IniSchema>(schema: S, file?: string): IniValues<S>
  /** A path written in the module's .conf: relative to the configuration root. */
  confFile(p: string): string
  /**
   * A path written inside JSON rule data (decisions.md D17): the working directory first, then the
   * configuration root; the choice is logged at debug level.
   */
  dataFile(p: string): string
  /**
   * Counters (and gauges) served at `/monitor/<name>` (and `<name>.diff`), summed across workers.
   * Returns a plain object: increment its fields on the request path. Call once per module.
   */
  metrics<C extends string, G extends string = never>(
    counters: readonly C[],
    gauges?: readonly G[],
  ): Record<C | G, number>
  /**
   * Loads data now (a failure stops start-up and is what `bfe -t` reports) and registers
   * `/reload/<reloadName>` to load it again, from `?path=<file>` when given: a file that fails to
   * load leaves the data in force.
   */
  reloadable<T>(reloadName: string, file: string, load: (file: string) => Loaded<T>): Reloadable<T>
  /** `reloadable` for a BFE per-product rule file declared with `decl`. */
  ruleTable<R>(
    reloadName: string,
    file: string,
    decl: ProductRuleDecl<R>,
  ): Reloadable<ProductRuleTable<R>>
  /**
   * Reads the start of the request body, up to `[Server] AccessibleBodySize` bytes (or `max` when
   * smaller), without losing it: the backend still receives the whole body.
   */
  readRequestBody(req: BfeRequest, max?: number): Promise<BodyPeek>
  /**
   * Runs `fn` when the server closes (or when a later module's init fails): close clients,
   * flush exporters. Errors are logged, never thrown.
   */
  onClose(fn: () => void | Promise<void>): void
}

/** What the framework knows when it creates contexts. */
export interface ModuleEnv {
  confRoot: string
  settings: BfeConf
  log: Logger
}

/** Builds the context of one module. */
export function createModuleContext(
  name: string,
  env: ModuleEnv,
  callbacks: Callbacks,
  web: WebHandlers,
  closers: (() => void | Promise<void>)[] = [],
): ModuleContext {
  const log = env.log.child({ module: name })
  const confRoot = env.confRoot
  const bodyMax = env.settings.Server.AccessibleBodySize
  let metricsTaken = false
  return {
    name,
    confRoot,
    confPath: path.join(confRoot, name, `${name}.conf`),
    settings: env.settings,
    log,
    callbacks,
    web,
    readConf<S extends IniSchema>(schema: S, file?: string): IniValues<S> {
      const f = file ?? path.join(confRoot, name, `${name}.conf`)
      const parsed = parseIni(f, readDataFile(f), schema)
      for (const w of parsed.warnings) log.warn(w)
      return parsed.values
    },
    confFile: (p) => resolveConfPath(p, confRoot),
    dataFile(p) {
      const r = resolveDataPath(p, confRoot)
      if (log.isLevelEnabled('debug'))
        log.debug({ path: p, resolved: r.path, base: r.base }, 'data path resolved')
      return r.path
    },
    metrics<C extends string, G extends string = never>(
      counters: readonly C[],
      gauges: readonly G[] = [],
    ): Record<C | G, number> {
      if (metricsTaken) throw new Error(`module ${name} asked for its metrics twice`)
      metricsTaken = true
      // Built in one step (fromEntries) so V8 keeps fast properties: filters bump these on every
      // request, and an object grown key by key past a dozen keys (or made with
      // Object.create(null)) is a dictionary, a hash lookup per increment.
      const values = Object.setPrototypeOf(
        Object.fromEntries([...counters, ...gauges].map((k) => [k, 0])),
        null,
      ) as Record<C | G, number>
      web.registerMonitor(name, () => {
        const c: Record<string, number> = {}
        const g: Record<string, number> = {}
        for (const k of counters) c[k] = values[k]
        for (const k of gauges) g[k] = values[k]
        const snap: MetricsSnapshot = {
          type: 'metrics',
          prefix: name,
          kind: 'total',
          counters: c,
          gauges: g,
          states: {},
        }
        return snap
      })
      return values
    },
    reloadable<T>(
      reloadName: string,
      file: string,
      load: (file: string) => Loaded<T>,
    ): Reloadable<T> {
      const first = load(file)
      for (const w of first.warnings ?? []) log.warn(w)
      const holder = { value: first.value, file }
      web.registerReload(reloadName, (query) => {
        const p = query.get('path')
        const f = p === null || p === '' ? holder.file : path.resolve(p)
        const next = load(f)
        return {
          commit() {
            holder.value = next.value
            holder.file = f
            for (const w of next.warnings ?? []) log.warn(w)
            return next.version
          },
          abort() {},
        }
      })
      return holder
    },
    ruleTable<R>(reloadName: string, file: string, decl: ProductRuleDecl<R>) {
      return this.reloadable(reloadName, file, (f) => {
        const t = loadProductRules(f, decl)
        return { value: t, version: t.versionText(), warnings: t.warnings }
      })
    },
    readRequestBody: (req, max) =>
      readRequestBody(req, max === undefined ? bodyMax : Math.min(max, bodyMax)),
    onClose(fn) {
      closers.push(async () => {
        try {
          await fn()
        } catch (err) {
          log.warn({ err: err instanceof Error ? err.message : String(err) }, 'close failed')
        }
      })
    },
  }
}
