import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
} from 'node:net'
import { basename, join } from 'node:path'
import { BalTable } from '../balance/bal-table.js'
import { BfeConfError } from '../basic/errors.js'
import type { BfeRequest } from '../basic/request.js'
import { type BfeConf, loadBfeConf } from '../config/bfe-conf.js'
import { loadGslbData } from '../config/gslb.js'
import { loadNameConf } from '../config/name-conf.js'
import { serverDataPaths } from '../config/server-data.js'
import { type Logger, silentLogger } from '../log/logger.js'
import { ModuleFramework } from '../module/registry.js'
import type { BfeModule } from '../module/types.js'
import { moduleCatalog } from '../modules/index.js'
import { socketHealthProber } from '../proxy/health-probe.js'
import { TransportPools } from '../proxy/transport.js'
import { loadServerDataConf, type ServerDataConf } from '../route/server-data.js'
import { type AcceptContext, Acceptor, type Engine } from './accept/acceptor.js'
import type { Conn } from './accept/conn.js'
import { Sweeper } from './accept/deadlines.js'
import { Http1Engine } from './engines/http1.js'
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
  readonly log: Logger
  runtime: Runtime
  shuttingDown: boolean
  readonly compatErrorStatus: boolean
  readonly keepAliveEnabled: boolean
  /** Load-time warnings (D1 precedence, ignored TLS names ...), also logged. */
  readonly warnings: string[]

  readonly sweeper: Sweeper
  readonly conns = new Set<Conn>()

  private readonly opts: BfeServerOptions
  private netServer: NetServer | undefined
  private constructor(
    opts: BfeServerOptions,
    conf: BfeConf,
    framework: ModuleFramework,
    runtime: Runtime,
    warnings: string[],
  ) {
    this.opts = opts
    this.conf = conf
    this.framework = framework
    this.runtime = runtime
    this.pools = new TransportPools()
    this.counters = newProxyCounters()
    this.log = opts.log ?? silentLogger()
    this.shuttingDown = false
    this.compatErrorStatus = conf.Server.CompatErrorStatus
    this.keepAliveEnabled = conf.Server.KeepAliveEnabled
    this.warnings = warnings
    this.sweeper = new Sweeper()
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
    if (s.Layer4LoadBalancer.toUpperCase() === 'PROXY') {
      throw new BfeConfError(
        'bfe.conf',
        '[Server] Layer4LoadBalancer',
        'PROXY is not supported by this version of bfe-ts yet',
      )
    }
    const serverData = loadServerDataConf(serverDataPaths(conf), { confRoot: conf.confRoot })
    warnings.push(...serverData.warnings)
    const gslb = loadGslbData({ clusterTable: s.ClusterTableConf, gslb: s.GslbConf })
    // No prober yet: loading (and `bfe -t`) starts no health-check sockets; listen() adds it.
    const balTable = new BalTable(gslb, serverData.clusterConfs)
    const framework = new ModuleFramework(moduleCatalog(opts.modules ?? []))
    try {
      if (s.NameConf !== '') loadNameConf(s.NameConf)
      await framework.init(s.Modules, conf.confRoot)
    } catch (err) {
      balTable.stop()
      throw err
    }
    for (const w of warnings) log.warn(w)
    return new BfeServer(opts, conf, framework, new Runtime(serverData, balTable), warnings)
  }

  /** Opens the HTTP listener. Resolves with the bound port. */
  async listen(): Promise<number> {
    const s = this.conf.Server
    this.runtime.balTable.setProber(socketHealthProber)
    const http1 = new Http1Engine(this, {
      maxHeaderBytes: s.MaxHeaderBytes,
      maxUriBytes: s.MaxHeaderUriBytes,
      firstHeaderMs: s.ClientReadTimeout * 1000,
    })
    const engines = new Map<string, Engine>([['http/1.1', http1]])
    const acceptCtx = this.acceptContext()
    const plain = new Acceptor(acceptCtx, engines)
    const net = createNetServer({ noDelay: true }, plain.onConnection)
    net.on('error', (err) => this.log.error({ err }, 'http listener error'))
    this.netServer = net
    const port = this.opts.httpPort ?? s.HttpPort
    const host = this.opts.httpAddr ?? s.HttpAddr
    await listenOn(net, port, host)
    this.sweeper.start()
    const bound = (net.address() as AddressInfo).port
    this.log.info({ port: bound }, 'http listener open')
    return bound
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
    }
  }

  /** The bound HTTP port (after listen). */
  get port(): number {
    const a = this.netServer?.address()
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
    const net = this.netServer
    if (net !== undefined) await new Promise<void>((resolve) => net.close(() => resolve()))
    for (const c of this.conns) c.destroy()
    this.runtime.balTable.stop()
    await this.pools.close()
  }

  /**
   * Graceful shutdown: stop accepting, answer in-flight requests with `Connection: close`, wait for
   * connections to end or `timeoutMs`, then close the rest.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.shuttingDown = true
    const net = this.netServer
    const closed =
      net === undefined ? Promise.resolve() : new Promise<void>((r) => net.close(() => r()))
    const deadline = Date.now() + timeoutMs
    while (this.conns.size > 0 && Date.now() < deadline) {
      for (const c of this.conns) if (c.current === undefined && c.served > 0) c.destroy()
      await new Promise((r) => setTimeout(r, 50))
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 10))])
    await this.close()
  }

  /** Routing reload (`/reload/server_data_conf`): all-or-nothing; the old tables stay on failure. */
  reloadServerData(dir?: string): ServerDataConf {
    const data = loadServerDataConf(serverDataPaths(this.conf, dir), {
      confRoot: this.conf.confRoot,
    })
    this.runtime.balTable.applyClusterConfs(data.clusterConfs)
    this.runtime = new Runtime(data, this.runtime.balTable)
    for (const w of data.warnings) this.log.warn(w)
    return data
  }

  /** Balancing reload (`/reload/gslb_data_conf`). */
  reloadGslbData(dir?: string): void {
    const s = this.conf.Server
    const pick = (p: string) => (dir === undefined ? p : join(dir, basename(p)))
    const data = loadGslbData({ clusterTable: pick(s.ClusterTableConf), gslb: pick(s.GslbConf) })
    this.runtime.balTable.reloadGslb(data)
  }

  onUnexpected(err: unknown, req: BfeRequest | undefined): void {
    this.counters.PANIC_CLIENT_CONN_SERVE++
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
