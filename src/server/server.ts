import cluster from 'node:cluster'
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import { BalTable } from '../balance/bal-table.js'
import type { BfeRequest } from '../basic/request.js'
import { type BfeConf, loadBfeConf } from '../config/bfe-conf.js'
import { loadGslbData } from '../config/gslb.js'
import { loadNameConf, type NameConf } from '../config/name-conf.js'
import { serverDataPaths } from '../config/server-data.js'
import { type Logger, silentLogger } from '../log/logger.js'
import { type FailedFilter, kFailedFilter } from '../module/handler-list.js'
import { loadModuleFiles } from '../module/module-file.js'
import { ModuleFramework } from '../module/registry.js'
import type { BfeModule } from '../module/types.js'
import { moduleCatalog } from '../modules/index.js'
import { newProxyDelays, type ProxyDelays } from '../monitor/delay.js'
import { localBackend, MonitorServer } from '../monitor/server.js'
import { newStateCounters, type StateCounters } from '../monitor/state-counters.js'
import type { MonitorSource, ReloadPrepare } from '../monitor/types.js'
import { restoreFastPrototypes } from '../process/fast-prototypes.js'
import { socketHealthProber } from '../proxy/health-probe.js'
import { TransportPools } from '../proxy/transport.js'
import { loadServerDataConf } from '../route/server-data.js'
import { TlsSessionCache, useSessionCache } from '../tls/session-cache.js'
import { loadTlsConf, type TlsTable } from '../tls/tls-table.js'
import { type DecisionTrace, decisionTrace } from '../tools/trace.js'
import { SlotList } from '../util/slot-list.js'
import { type AcceptContext, Acceptor, type Engine } from './accept/acceptor.js'
import type { Conn } from './accept/conn.js'
import { Sweeper } from './accept/deadlines.js'
import { ProxyProtocolStage } from './accept/proxy-protocol.js'
import { TlsHandshake } from './accept/tls-handshake.js'
import { TableTlsPolicy } from './accept/tls-policy.js'
import { Http1Engine } from './engines/http1.js'
import { Http2Engine } from './engines/http2.js'
import { StreamEngine } from './engines/stream.js'
import { MonitorSources } from './monitor-sources.js'
import { corePreparers } from './reload.js'
import { newProxyCounters, type ProxyCounters, Runtime, type ServerContext } from './runtime.js'

export interface BfeServerOptions {
  /** Configuration root (the `-c` directory). */
  confRoot: string
  /** Your own modules (TypeScript), enabled by `Modules = <name>` like the built-in ones. */
  modules?: readonly BfeModule[]
  log?: Logger
  /** Overrides `[Server] HttpPort` (0 = any free port; used by tests). */
  httpPort?: number
  /** Overrides `[Server] HttpAddr`. */
  httpAddr?: string
  /** Overrides `[Server] HttpsPort` (0 = any free port). */
  httpsPort?: number
  /** Overrides `[Server] HttpsAddr`. */
  httpsAddr?: string
  /**
   * Whether listen() opens the monitor port. Default: `[Server] MonitorEnabled` in a process that
   * is not a cluster worker (with several workers the primary owns the port: monitor/primary.ts).
   */
  monitor?: boolean
  /** Overrides `[Server] MonitorPort` (0 = any free port; used by tests). */
  monitorPort?: number
  /** Overrides `[Server] MonitorAddr`. */
  monitorAddr?: string
  /** Version shown on the monitor's index pages. */
  version?: string
  /**
   * Log the load warnings (default true). Workers of a multi-worker run pass false: their
   * primary has loaded the same configuration and logged them once.
   */
  logWarnings?: boolean
}

/**
 * A configured balancer: the loaded configuration, the enabled modules and the HTTP listener.
 * `BfeServer.load()` reads and checks everything (what `bfe -t` does); `listen()` opens the port.
 */
export class BfeServer implements ServerContext {
  readonly conf: BfeConf
  readonly framework: ModuleFramework
  readonly pools: TransportPools
  readonly counters: ProxyCounters
  /** http_state, websocket_state, stream_state, proxy_protocol_state, spdy_state counters. */
  readonly stateCounters: StateCounters
  /** The latency histograms of /monitor/proxy_delay and friends. */
  readonly delays: ProxyDelays
  readonly log: Logger
  runtime: Runtime
  shuttingDown: boolean
  readonly compatErrorStatus: boolean
  readonly keepAliveEnabled: boolean
  /** Trace on demand (`[Server] DecisionTraceToken`); undefined when off. */
  readonly trace: DecisionTrace | undefined
  /** Load-time warnings (D1 precedence, ignored TLS names ...), also logged. */
  readonly warnings: string[]

  readonly sweeper: Sweeper
  readonly conns = new SlotList<'connSlot', Conn>('connSlot')

  private readonly opts: BfeServerOptions
  /** The TLS stage's view of the TLS configuration (replaced as a whole on reload). */
  tlsPolicy: TableTlsPolicy
  /** name_conf.data as loaded at start-up or by `/reload/name_conf`. */
  nameConf: NameConf | undefined
  /** The TLS stage (its counters), the HTTP/2 engine (its counters): set by listen(). */
  tls: TlsHandshake | undefined
  http2: Http2Engine | undefined
  /**
   * The PROXY protocol stage (`counters`: proxy_protocol_state) and the TLS stream engine
   * (`counters`: stream_state): set by listen(); the stage reads headers only with
   * `Layer4LoadBalancer = PROXY`, its counters exist either way.
   */
  proxyProtocol: ProxyProtocolStage | undefined
  stream: StreamEngine | undefined
  private netServer: NetServer | undefined
  private tlsServer: NetServer | undefined
  private sessionCache: TlsSessionCache | undefined
  private monitorServer: MonitorServer | undefined
  private sources: MonitorSources | undefined
  private constructor(
    opts: BfeServerOptions,
    conf: BfeConf,
    framework: ModuleFramework,
    runtime: Runtime,
    tlsTable: TlsTable,
    nameConf: NameConf | undefined,
    warnings: string[],
  ) {
    this.opts = opts
    this.conf = conf
    this.framework = framework
    this.runtime = runtime
    this.stateCounters = newStateCounters()
    this.delays = newProxyDelays()
    // Pools follow the configuration in force: a reload closes those it no longer has.
    this.pools = new TransportPools((cluster, backendKey) => {
      const rt = this.runtime
      const cc = rt.serverData.clusterConfs.get(cluster)
      return cc !== undefined && rt.balancer(cluster)?.hasBackend(backendKey) === true
        ? cc
        : undefined
    }, this.stateCounters.http)
    this.counters = newProxyCounters()
    this.log = opts.log ?? silentLogger()
    this.shuttingDown = false
    this.compatErrorStatus = conf.Server.CompatErrorStatus
    this.keepAliveEnabled = conf.Server.KeepAliveEnabled
    this.trace = decisionTrace(conf)
    this.warnings = warnings
    this.sweeper = new Sweeper()
    this.tlsPolicy = new TableTlsPolicy(tlsTable)
    this.nameConf = nameConf
    this.tls = undefined
    this.http2 = undefined
    this.proxyProtocol = undefined
    this.stream = undefined
    this.sessionCache = undefined
    this.monitorServer = undefined
    this.sources = undefined
  }

  get handlers(): ServerContext['handlers'] {
    return this.framework.handlers
  }

  /**
   * Loads bfe.conf, the routing and balancing data and every enabled module, in BFE's start-up
   * order. Throws BfeConfError (file, field, reason) on bad configuration.
   */
  static async load(opts: BfeServerOptions): Promise<BfeServer> {
    const log = opts.log ?? silentLogger()
    const conf = loadBfeConf(opts.confRoot)
    const s = conf.Server
    const warnings = [...conf.warnings]
    const tlsConf = loadTlsConf(conf)
    warnings.push(...tlsConf.warnings)
    const serverData = loadServerDataConf(serverDataPaths(conf), { confRoot: conf.confRoot })
    warnings.push(...serverData.warnings)
    const gslb = loadGslbData({ clusterTable: s.ClusterTableConf, gslb: s.GslbConf })
    // No prober yet: loading (and `bfe -t`) starts no health-check sockets; listen() adds it.
    const balTable = new BalTable(gslb, serverData.clusterConfs)
    const fileModules = await loadModuleFiles(s.ModuleFile)
    const framework = new ModuleFramework(moduleCatalog([...(opts.modules ?? []), ...fileModules]))
    let nameConf: NameConf | undefined
    try {
      if (s.NameConf !== '') nameConf = loadNameConf(s.NameConf)
      await framework.init(s.Modules, { confRoot: conf.confRoot, settings: conf, log })
    } catch (err) {
      balTable.stop()
      throw err
    }
    if (opts.logWarnings !== false) for (const w of warnings) log.warn(w)
    return new BfeServer(
      opts,
      conf,
      framework,
      new Runtime(serverData, balTable),
      tlsConf.table,
      nameConf,
      warnings,
    )
  }

  /** Opens the HTTP and HTTPS listeners. Resolves with the bound HTTP port. */
  async listen(): Promise<number> {
    // every library and module is loaded by now: undo what their classes did to V8's prototypes
    restoreFastPrototypes()
    const s = this.conf.Server
    this.runtime.balTable.setProber(socketHealthProber)
    const http1 = new Http1Engine(this, {
      maxHeaderBytes: s.MaxHeaderBytes,
      maxUriBytes: s.MaxHeaderUriBytes,
      firstHeaderMs: s.ClientReadTimeout * 1000,
    })
    const http2 = new Http2Engine(this, {
      maxHeaderBytes: s.MaxHeaderBytes,
      maxUriBytes: s.MaxHeaderUriBytes,
      firstRequestMs: s.ClientReadTimeout * 1000,
    })
    this.http2 = http2
    const stream = new StreamEngine(this, undefined, this.stateCounters.stream)
    this.stream = stream
    const tls = new TlsHandshake(() => this.tlsPolicy, this.tlsEvents(), this.delays)
    this.tls = tls
    const proxy = new ProxyProtocolStage(
      { timeoutMs: s.ClientReadTimeout * 1000, maxBytes: s.MaxProxyHeaderBytes },
      this.stateCounters.proxyProtocol,
    )
    this.proxyProtocol = proxy
    const useProxy = s.Layer4LoadBalancer.toUpperCase() === 'PROXY' ? proxy : undefined
    const acceptCtx = this.acceptContext()
    const plain = new Acceptor(
      acceptCtx,
      new Map<string, Engine>([['http/1.1', http1]]),
      undefined,
      useProxy,
    )
    const secure = new Acceptor(
      acceptCtx,
      new Map<string, Engine>([
        ['http/1.1', http1],
        ['h2', http2],
        ['stream', stream],
      ]),
      { stage: tls, handshakeTimeoutMs: s.TlsHandshakeTimeout * 1000 },
      useProxy,
    )
    this.netServer = await this.open(
      plain.onConnection,
      this.opts.httpPort ?? s.HttpPort,
      this.opts.httpAddr ?? s.HttpAddr,
      'http',
    )
    this.tlsServer = await this.open(
      secure.onConnection,
      this.opts.httpsPort ?? s.HttpsPort,
      this.opts.httpsAddr ?? s.HttpsAddr,
      'https',
    )
    this.sweeper.start()
    // The `_diff` windows start counting now, whoever asks first.
    this.monitorSources()
    const monitor = this.opts.monitor ?? (s.MonitorEnabled && cluster.isPrimary)
    if (monitor) {
      const m = new MonitorServer({
        port: this.opts.monitorPort ?? s.MonitorPort,
        addr: this.opts.monitorAddr ?? s.MonitorAddr,
        backend: localBackend(
          () => this.monitorSources(),
          () => this.reloadPreparers(),
        ),
        version: this.opts.version,
        log: this.log,
      })
      try {
        await m.start()
      } catch (err) {
        // The port is taken: nothing of this server stays open.
        await this.close()
        throw err
      }
      this.monitorServer = m
    }
    return this.port
  }

  /** Every `/monitor/<name>` of this process (core endpoints and module handlers). */
  monitorSources(): Map<string, MonitorSource> {
    if (this.sources === undefined) {
      const server = this
      this.sources = new MonitorSources(
        {
          counters: this.counters,
          stateCounters: this.stateCounters,
          delays: this.delays,
          framework: this.framework,
          get tlsCounters() {
            return server.tls?.counters
          },
          get http2Counters() {
            return server.http2?.counters
          },
          get sessionCacheCounters() {
            return server.sessionCache?.counters
          },
          get balTable() {
            return server.runtime.balTable
          },
          get serverData() {
            return server.runtime.serverData
          },
        },
        this.conf.Server.MonitorInterval,
      )
    }
    return this.sources.sources
  }

  /** The bound monitor port (0 when this process does not serve it). */
  get monitorPort(): number {
    return this.monitorServer?.port ?? 0
  }

  private async open(
    onConnection: (socket: Socket) => void,
    port: number,
    host: string,
    what: string,
  ): Promise<NetServer> {
    const net = createNetServer({ noDelay: true }, onConnection)
    net.on('error', (err: NodeJS.ErrnoException) => {
      if (err.syscall === 'accept') this.counters.ERR_CLIENT_CONN_ACCEPT++
      this.log.error({ err }, `${what} listener error`)
    })
    await listenOn(net, port, host)
    this.log.info({ port: (net.address() as AddressInfo).port }, `${what} listener open`)
    return net
  }

  /**
   * The tls.Servers that never listen but carry the TLS sockets' events: session-cache lookups
   * ([SessionCache] on Redis, when enabled) and OCSP stapling. node:tls asks the socket's server
   * for the OCSP response without saying which certificate, so each stapled response gets a
   * server of its own.
   */
  private tlsEvents(): (ocsp: Buffer | undefined) => TlsServer | undefined {
    const c = this.conf.SessionCache
    if (!c.SessionCacheDisabled) {
      this.sessionCache = new TlsSessionCache(
        {
          servers: c.Servers,
          keyPrefix: c.KeyPrefix,
          connectTimeoutMs: c.ConnectTimeout,
          readTimeoutMs: c.ReadTimeout,
          writeTimeoutMs: c.WriteTimeout,
          maxIdle: c.MaxIdle,
          expireSec: c.SessionExpire,
        },
        this.log,
      )
    }
    const cache = this.sessionCache
    const make = (ocsp: Buffer | undefined): TlsServer => {
      const events = createTlsServer()
      if (ocsp !== undefined)
        events.on('OCSPRequest', (_c: Buffer, _i: Buffer, cb: (e: null, r: Buffer) => void) =>
          cb(null, ocsp),
        )
      if (cache !== undefined) useSessionCache(events, cache)
      return events
    }
    const plain = cache === undefined ? undefined : make(undefined)
    const stapling = new WeakMap<Buffer, TlsServer>()
    return (ocsp) => {
      if (ocsp === undefined) return plain
      let s = stapling.get(ocsp)
      if (s === undefined) {
        s = make(ocsp)
        stapling.set(ocsp, s)
      }
      return s
    }
  }

  /** The acceptors' view of this server (shutting-down state read live). */
  private acceptContext(): AcceptContext {
    const server = this
    return {
      handlers: this.framework.handlers,
      counters: this.counters,
      log: this.log,
      sweeper: this.sweeper,
      conns: this.conns,
      get shuttingDown() {
        return server.shuttingDown
      },
      onUnexpected: (err: unknown) => this.onUnexpected(err, undefined),
      productByVip: (vip: string) =>
        this.runtime.serverData.hostTable.lookupVip(vip)?.product ?? '',
    }
  }

  /** The bound HTTP port (after listen). */
  get port(): number {
    const a = this.netServer?.address()
    return typeof a === 'object' && a !== null ? a.port : 0
  }

  /** The bound HTTPS port (after listen). */
  get httpsPort(): number {
    const a = this.tlsServer?.address()
    return typeof a === 'object' && a !== null ? a.port : 0
  }

  /** Connections currently open. */
  get connectionCount(): number {
    return this.conns.size
  }

  /** Closes the listener and every connection, and the upstream pools. */
  async close(): Promise<void> {
    this.shuttingDown = true
    this.sweeper.stop()
    this.sources?.stop()
    const monitor = this.monitorServer?.close()
    this.monitorServer = undefined
    const listeners = [this.netServer, this.tlsServer].filter((n) => n !== undefined)
    // A listener's close() waits for its connections: cut them first.
    const closed = listeners.map((n) => new Promise<void>((resolve) => n.close(() => resolve())))
    for (const c of this.conns.toArray()) c.destroy()
    await Promise.all(closed)
    this.runtime.balTable.stop()
    await Promise.all([
      this.pools.close(),
      this.sessionCache?.close(),
      monitor,
      this.framework.close(),
    ])
  }

  /**
   * Graceful shutdown: stop accepting, answer in-flight requests with `Connection: close`, wait for
   * connections to end or `timeoutMs`, then close the rest.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.shuttingDown = true
    const listeners = [this.netServer, this.tlsServer].filter((n) => n !== undefined)
    const closed = Promise.all(listeners.map((n) => new Promise<void>((r) => n.close(() => r()))))
    const deadline = Date.now() + timeoutMs
    while (this.conns.size > 0 && Date.now() < deadline) {
      for (const c of this.conns.toArray()) if (c.served > 0) c.handler?.drain(c)
      await new Promise((r) => setTimeout(r, 50))
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 10))])
    await this.close()
  }

  /**
   * Every reload of this worker by name, in two phases (see `server/reload.ts`): the core ones of
   * config.md §7 and those registered by modules. The monitor server calls `prepare` in every
   * worker, then `commit()` everywhere or `abort()` everywhere.
   */
  reloadPreparers(): Map<string, ReloadPrepare> {
    const all = corePreparers(this)
    for (const [name, prepare] of this.framework.web.reload) all.set(name, prepare)
    return all
  }

  onUnexpected(err: unknown, req: BfeRequest | undefined): void {
    this.counters.PANIC_CLIENT_CONN_SERVE++
    const failed =
      typeof err === 'object' && err !== null
        ? (err as { [kFailedFilter]?: FailedFilter })[kFailedFilter]
        : undefined
    const filter =
      failed === undefined
        ? undefined
        : this.framework.handlers.filterName(failed.list, failed.index)
    if (filter !== undefined) {
      this.log.error({ err, filter, uri: req?.rawUri }, `module filter ${filter} failed`)
      return
    }
    this.log.error({ err, uri: req?.rawUri }, 'unexpected error while serving a request')
  }
}

/** Listens on `port` (0 = any) and `host` ('' = every interface). */
function listenOn(net: NetServer, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    net.once('error', reject)
    net.listen({ port, host: host === '' ? undefined : host }, () => {
      net.off('error', reject)
      resolve()
    })
  })
}
