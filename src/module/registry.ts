import { BfeConfError } from '../basic/errors.js'
import type { ReloadPrepare } from '../monitor/types.js'
import { CallbackPoint, CallbackPointName, FilterKind, PointKind } from './callback-point.js'
import { createModuleContext, type ModuleEnv } from './context.js'
import type {
  AcceptFilter,
  BfeModule,
  Callbacks,
  FinishFilter,
  ForwardFilter,
  MonitorHandler,
  RequestFilter,
  ResponseFilter,
  WebHandlers,
} from './types.js'

/**
 * The filters registered at each callback point, in registration order. Built once at start-up;
 * the server reads the arrays directly on the request path.
 */
export class HandlerTable implements Callbacks {
  readonly accept: AcceptFilter[] = []
  readonly handshake: AcceptFilter[] = []
  readonly beforeLocation: RequestFilter[] = []
  readonly foundProduct: RequestFilter[] = []
  readonly afterLocation: RequestFilter[] = []
  readonly forward: ForwardFilter[] = []
  readonly readResponse: ResponseFilter[] = []
  readonly requestFinish: ResponseFilter[] = []
  readonly finish: FinishFilter[] = []
  /** Filter names per point, for /monitor/module_handlers. */
  private readonly names: string[][] = CallbackPointName.map(() => [])
  /** Name of the module being initialised (prefix of default filter names). */
  owner = ''

  addAcceptFilter(point: 0 | 1, filter: AcceptFilter, name?: string): void {
    this.add(point, FilterKind.Accept, filter, name)
  }
  addRequestFilter(point: 2 | 3 | 4, filter: RequestFilter, name?: string): void {
    this.add(point, FilterKind.Request, filter, name)
  }
  addForwardFilter(point: 5, filter: ForwardFilter, name?: string): void {
    this.add(point, FilterKind.Forward, filter, name)
  }
  addResponseFilter(point: 6 | 7, filter: ResponseFilter, name?: string): void {
    this.add(point, FilterKind.Response, filter, name)
  }
  addFinishFilter(point: 8, filter: FinishFilter, name?: string): void {
    this.add(point, FilterKind.Finish, filter, name)
  }

  /** `{"2#HandleBeforeLocation": ["mod_logid.beforeLocation", ...], ...}` (empty points left out). */
  view(): Record<string, string[]> {
    const out: Record<string, string[]> = {}
    this.names.forEach((list, i) => {
      if (list.length > 0) out[`${i}#${CallbackPointName[i]}`] = list.slice()
    })
    return out
  }

  /**
   * `HandleBeforeLocation: mod_x.name` for the filter at `index` of one of this table's lists
   * (an error's FailedFilter mark); undefined for a list that is not this table's.
   */
  filterName(list: readonly unknown[], index: number): string | undefined {
    for (let p = 0; p <= CallbackPoint.Finish; p++) {
      if (this.listOf(p) === list)
        return `${CallbackPointName[p]}: ${this.names[p]?.[index] ?? '?'}`
    }
    return undefined
  }

  private add(point: number, kind: FilterKind, filter: unknown, name: string | undefined): void {
    const who = this.owner === '' ? 'filter' : `module ${this.owner}`
    if (!Number.isInteger(point) || point < 0 || point > CallbackPoint.Finish) {
      throw new BfeConfError(
        '',
        who,
        `registers a filter at unknown callback point ${String(point)}`,
      )
    }
    const expected = PointKind[point]
    if (kind !== expected) {
      throw new BfeConfError(
        '',
        who,
        `registers a ${kind} filter at ${CallbackPointName[point]}, which takes ${expected} filters`,
      )
    }
    if (typeof filter !== 'function') {
      throw new BfeConfError(
        '',
        who,
        `registers a non-function filter at ${CallbackPointName[point]}`,
      )
    }
    const fname = name ?? (filter.name === '' ? 'anonymous' : filter.name)
    this.names[point]!.push(this.owner === '' ? fname : `${this.owner}.${fname}`)
    this.listOf(point).push(filter as never)
  }

  private listOf(point: number): unknown[] {
    switch (point) {
      case CallbackPoint.Accept:
        return this.accept
      case CallbackPoint.Handshake:
        return this.handshake
      case CallbackPoint.BeforeLocation:
        return this.beforeLocation
      case CallbackPoint.FoundProduct:
        return this.foundProduct
      case CallbackPoint.AfterLocation:
        return this.afterLocation
      case CallbackPoint.Forward:
        return this.forward
      case CallbackPoint.ReadResponse:
        return this.readResponse
      case CallbackPoint.RequestFinish:
        return this.requestFinish
      default:
        return this.finish
    }
  }
}

/** The server's own reloads (config.md §7): a module cannot register these names. */
export const CORE_RELOADS: ReadonlySet<string> = new Set([
  'server_data_conf',
  'gslb_data_conf',
  'name_conf',
  'tls_conf',
  'tls_session_ticket_key',
])

/** Monitor and reload handlers registered by the core and by modules. */
export class WebHandlerTable implements WebHandlers {
  readonly monitor = new Map<string, MonitorHandler>()
  /** Two-phase reloads by name (`/reload/<name>`). */
  readonly reload = new Map<string, ReloadPrepare>()

  registerMonitor(name: string, handler: MonitorHandler): void {
    if (this.monitor.has(name))
      throw new BfeConfError('', `monitor handler ${name}`, 'is registered twice')
    this.monitor.set(name, handler)
  }

  registerReload(name: string, prepare: ReloadPrepare): void {
    if (this.reload.has(name))
      throw new BfeConfError('', `reload handler ${name}`, 'is registered twice')
    if (CORE_RELOADS.has(name))
      throw new BfeConfError('', `reload handler ${name}`, 'is a reload of the server itself')
    if (typeof prepare !== 'function')
      throw new BfeConfError('', `reload handler ${name}`, 'is not a function')
    this.reload.set(name, prepare)
  }
}

/** How a module name in `Modules =` is known. */
export interface ModuleCatalogEntry {
  name: string
  /** The implementation; undefined for a BFE module bfe-ts does not provide yet. */
  module: BfeModule | undefined
  /** Out of scope by decision (decisions.md D19): naming it fails start-up. */
  unsupported: boolean
}

/**
 * Enables and initialises modules in the catalog's fixed order (BFE's order, not the order of the
 * `Modules` lines), and keeps the data behind /monitor/module_status and /monitor/module_handlers.
 */
export class ModuleFramework {
  readonly handlers = new HandlerTable()
  readonly web = new WebHandlerTable()
  readonly available: readonly string[]
  /** The enabled modules in catalog order (what `bfe explain` asks). */
  readonly enabledModules: BfeModule[] = []
  private readonly catalog: readonly ModuleCatalogEntry[]
  /** What modules asked to run at close (`ctx.onClose`), in registration order. */
  private readonly closers: (() => void | Promise<void>)[] = []

  constructor(catalog: readonly ModuleCatalogEntry[]) {
    this.catalog = catalog
    this.available = catalog.map((e) => e.name)
  }

  /**
   * Checks every name first (unknown, unsupported, not built yet), then runs `init` of each enabled
   * module in catalog order. `file` names the config file the names came from, for messages.
   */
  async init(names: readonly string[], env: ModuleEnv, file = 'bfe.conf'): Promise<void> {
    const wanted = new Set<string>()
    for (const raw of names) {
      const name = raw.trim()
      if (name === '') continue
      const entry = this.catalog.find((e) => e.name === name)
      if (entry === undefined)
        throw new BfeConfError(file, '[Server] Modules', `names unknown module "${name}"`)
      if (entry.unsupported) {
        throw new BfeConfError(
          file,
          '[Server] Modules',
          `names "${name}", which bfe-ts does not support`,
        )
      }
      if (entry.module === undefined) {
        throw new BfeConfError(
          file,
          '[Server] Modules',
          `names "${name}", a BFE module that is not built in this version of bfe-ts yet`,
        )
      }
      wanted.add(name)
    }
    for (const entry of this.catalog) {
      if (!wanted.has(entry.name) || entry.module === undefined) continue
      this.handlers.owner = entry.name
      try {
        await entry.module.init(
          createModuleContext(entry.name, env, this.handlers, this.web, this.closers),
        )
      } catch (err) {
        await this.close()
        throw err
      } finally {
        this.handlers.owner = ''
      }
      this.enabledModules.push(entry.module)
    }
  }

  /** Runs the modules' close hooks (each once; they log their own errors). */
  async close(): Promise<void> {
    const list = this.closers.splice(0)
    await Promise.all(list.map((fn) => fn()))
  }

  /** Every module of the catalog that is implemented (enabled or not). */
  implementedModules(): BfeModule[] {
    const out: BfeModule[] = []
    for (const e of this.catalog) if (e.module !== undefined) out.push(e.module)
    return out
  }

  /** `/monitor/module_status`. */
  status(): { available: string[]; enabled: string[] } {
    return { available: this.available.slice(), enabled: this.enabledModules.map((m) => m.name) }
  }

  /** `/monitor/module_handlers`. */
  handlerView(): Record<string, string[]> {
    return this.handlers.view()
  }
}
