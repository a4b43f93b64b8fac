import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http'
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net'
import { basename, join } from 'node:path'
import { BalTable } from '../balance/bal-table.js'
import { BfeConfError } from '../basic/errors.js'
import { BfeRequest } from '../basic/request.js'
import { Session } from '../basic/session.js'
import { type BfeConf, loadBfeConf } from '../config/bfe-conf.js'
import { loadGslbData } from '../config/gslb.js'
import { loadNameConf } from '../config/name-conf.js'
import { serverDataPaths } from '../config/server-data.js'
import { type Logger, silentLogger } from '../log/logger.js'
import { HandlerResult } from '../module/callback-point.js'
import { runAcceptFilters } from '../module/handler-list.js'
import { ModuleFramework } from '../module/registry.js'
import type { BfeModule } from '../module/types.js'
import { moduleCatalog } from '../modules/index.js'
import { socketHealthProber } from '../proxy/health-probe.js'
import { TransportPools } from '../proxy/transport.js'
import { loadServerDataConf, type ServerDataConf } from '../route/server-data.js'
import { Conn } from './conn.js'
import { RequestFlow } from './reverse-proxy.js'
import { newProxyCounters, type ProxyCounters, Runtime, type ServerContext } from './runtime.js'

const kConn = Symbol('bfe.conn')
type BfeSocket = Socket & { [kConn]?: Conn }

// The response knows its flow, so one shared 'finish' listener serves every request (no closure
// per request).
const kFlow = Symbol('bfe.flow')
type FlowResponse = ServerResponse & { [kFlow]?: RequestFlow }
function onResponseFinish(this: FlowResponse): void {
  this[kFlow]?.finished()
}

/** How often connection deadlines are checked (ms). */
const SWEEP_INTERVAL_MS = 100

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

  private readonly opts: BfeServerOptions
  private readonly conns = new Set<Conn>()
  private netServer: NetServer | undefined
  private httpServer: HttpServer | undefined
  private sweeper: NodeJS.Timeout | undefined
  private readonly clientReadTimeoutMs: number
  private readonly maxUriBytes: number

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
    this.clientReadTimeoutMs = conf.Server.ClientReadTimeout * 1000
    this.maxUriBytes = conf.Server.MaxHeaderUriBytes
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
    const balTable = new BalTable(gslb, serverData.clusterConfs, { prober: socketHealthProber })
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
    const http = createHttpServer(
      {
        maxHeaderSize: s.MaxHeaderBytes + 4096,
        requireHostHeader: false,
        keepAliveTimeout: 0,
        headersTimeout: 0,
        requestTimeout: 0,
        connectionsCheckingInterval: 2 ** 30,
        noDelay: true,
      },
      (nreq, nres) => this.onRequest(nreq, nres),
    )
    http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) =>
      this.onClientError(err, socket),
    )
    http.on('checkContinue', (nreq: IncomingMessage, nres: ServerResponse) =>
      this.onExpectContinue(nreq, nres),
    )
    http.on('checkExpectation', (nreq: IncomingMessage, nres: ServerResponse) =>
      this.onExpectOther(nreq, nres),
    )
    this.httpServer = http
    const net = createNetServer({ noDelay: true }, (socket) =>
      this.onConnection(socket as BfeSocket),
    )
    net.on('error', (err) => this.log.error({ err }, 'http listener error'))
    this.netServer = net
    const port = this.opts.httpPort ?? s.HttpPort
    const host = this.opts.httpAddr ?? s.HttpAddr
    await new Promise<void>((resolve, reject) => {
      net.once('error', reject)
      net.listen({ port, host: host === '' ? undefined : host }, () => {
        net.off('error', reject)
        resolve()
      })
    })
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS)
    this.sweeper.unref()
    const bound = (net.address() as AddressInfo).port
    this.log.info({ port: bound }, 'http listener open')
    return bound
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
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    const net = this.netServer
    if (net !== undefined) await new Promise<void>((resolve) => net.close(() => resolve()))
    for (const c of this.conns) c.socket.destroy()
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
      for (const c of this.conns) if (c.flow === undefined && c.served > 0) c.socket.destroy()
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

  // ---- connections ------------------------------------------------------------------------

  private onConnection(socket: BfeSocket): void {
    socket.on('error', (err: NodeJS.ErrnoException) => this.onSocketError(socket, err))
    const session = new Session({
      remoteAddr: plainIp(socket.remoteAddress ?? ''),
      remotePort: socket.remotePort ?? 0,
    })
    const conn = new Conn(socket, session)
    socket[kConn] = conn
    this.conns.add(conn)
    this.counters.CLIENT_CONN_SERVED++
    this.counters.CLIENT_CONN_ACTIVE++
    socket.once('close', () => this.onClose(conn))
    if (this.shuttingDown) {
      socket.destroy()
      return
    }
    conn.readDeadline = Date.now() + this.clientReadTimeoutMs
    const list = this.framework.handlers.accept
    if (list.length === 0) {
      this.httpServer?.emit('connection', socket)
      return
    }
    let r: HandlerResult | Promise<HandlerResult>
    try {
      r = runAcceptFilters(list, session)
    } catch (err) {
      this.onUnexpected(err, undefined)
      socket.destroy()
      return
    }
    if (typeof r === 'number') {
      this.afterAccept(conn, r)
      return
    }
    socket.pause()
    r.then(
      (v) => {
        this.afterAccept(conn, v)
        if (!socket.destroyed) socket.resume()
      },
      (err: unknown) => {
        this.onUnexpected(err, undefined)
        socket.destroy()
      },
    )
  }

  private afterAccept(conn: Conn, r: HandlerResult): void {
    if (conn.closed) return
    if (r === HandlerResult.Close) {
      conn.socket.destroy()
      return
    }
    this.httpServer?.emit('connection', conn.socket)
  }

  private onSocketError(socket: BfeSocket, err: NodeJS.ErrnoException): void {
    const conn = socket[kConn]
    if (conn !== undefined && conn.session.errCode === undefined) {
      conn.session.errCode = err.code === 'ECONNRESET' ? 'CLIENT_RESET' : 'CLIENT_CLOSE'
      conn.session.errMsg = err.message
    }
  }

  private onClose(conn: Conn): void {
    if (conn.closed) return
    conn.closed = true
    this.conns.delete(conn)
    this.counters.CLIENT_CONN_ACTIVE--
    const ses = conn.session
    ses.endTime = Date.now()
    conn.flow?.clientGone()
    if (ses.errCode === undefined && conn.served === 0) ses.errCode = 'CLIENT_CLOSE'
    for (const f of this.framework.handlers.finish) {
      try {
        const r = f(ses)
        if (typeof r !== 'number') r.catch((err: unknown) => this.onUnexpected(err, undefined))
      } catch (err) {
        this.onUnexpected(err, undefined)
      }
    }
  }

  /** Enforces the read and write deadlines of every connection. */
  private sweep(): void {
    const now = Date.now()
    for (const c of this.conns) {
      if (c.readDeadline !== 0 && now > c.readDeadline) {
        c.readDeadline = 0
        if (c.session.errCode === undefined) c.session.errCode = 'CLIENT_TIMEOUT'
        this.counters.ERR_CLIENT_TIMEOUT++
        c.socket.destroy()
        continue
      }
      const f = c.flow
      if (f !== undefined && f.headerDeadline !== 0 && now > f.headerDeadline) f.headerTimeout()
      if (c.writeDeadline !== 0 && now > c.writeDeadline) {
        c.writeDeadline = 0
        if (c.session.errCode === undefined) c.session.errCode = 'CLIENT_WRITE'
        c.socket.destroy()
      }
    }
  }

  // ---- requests ---------------------------------------------------------------------------

  private onRequest(nreq: IncomingMessage, nres: ServerResponse): void {
    const socket = nreq.socket as BfeSocket
    const conn = socket[kConn]
    if (conn === undefined) {
      socket.destroy()
      return
    }
    conn.readDeadline = 0
    const rawUri = nreq.url ?? '/'
    if (rawUri.length > this.maxUriBytes) {
      this.counters.ERR_CLIENT_LONG_URL++
      conn.session.errCode = 'CLIENT_LONG_URL'
      rawReply(socket, 'HTTP/1.1 414 Request-URI Too Long\r\n\r\n', false)
      return
    }
    const ses = conn.session
    let req: BfeRequest
    try {
      req = new BfeRequest(ses, {
        method: nreq.method ?? 'GET',
        rawUri,
        proto: nreq.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${nreq.httpVersion}`,
        headers: nreq.rawHeaders,
        body: nreq,
      })
    } catch {
      // A malformed percent-escape in the path.
      this.counters.ERR_CLIENT_BAD_REQUEST++
      ses.errCode = 'CLIENT_BAD_REQUEST'
      rawReply(socket, 'HTTP/1.1 400 Bad Request\r\n\r\n', false)
      return
    }
    ses.reqNum++
    ses.reqNumActive++
    const accept = req.headers.get('accept')
    if (accept?.includes('text/event-stream')) req.isSse = true
    const flow = new RequestFlow(conn, req, nreq, nres, this)
    conn.flow = flow
    conn.served++
    ;(nres as FlowResponse)[kFlow] = flow
    nres.on('finish', onResponseFinish)
    flow.start()
  }

  private onExpectContinue(nreq: IncomingMessage, nres: ServerResponse): void {
    const socket = nreq.socket as BfeSocket
    const conn = socket[kConn]
    if (conn === undefined) {
      socket.destroy()
      return
    }
    conn.session.useExpect100 = true
    const cl = nreq.headers['content-length']
    if (cl === '0') {
      this.counters.ERR_CLIENT_ZERO_CONTENTLEN++
      conn.session.errCode = 'CLIENT_ZERO_CONTENTLEN'
      replyAndClose(nres, 400)
      return
    }
    this.onRequest(nreq, nres)
  }

  private onExpectOther(nreq: IncomingMessage, nres: ServerResponse): void {
    const conn = (nreq.socket as BfeSocket)[kConn]
    if (conn !== undefined) conn.session.errCode = 'CLIENT_EXPECT_FAIL'
    this.counters.ERR_CLIENT_EXPECT_FAIL++
    replyAndClose(nres, 417)
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const conn = (socket as BfeSocket)[kConn]
    const ses = conn?.session
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      this.counters.ERR_CLIENT_LONG_HEADER++
      if (ses !== undefined) ses.errCode = 'CLIENT_LONG_HEADER'
      rawReply(socket, 'HTTP/1.1 413 Request Entity Too Large\r\n\r\n', true)
      return
    }
    if (err.code === 'ECONNRESET') {
      if (ses !== undefined) ses.errCode = 'CLIENT_RESET'
      socket.destroy()
      return
    }
    this.counters.ERR_CLIENT_BAD_REQUEST++
    if (ses !== undefined && ses.errCode === undefined) ses.errCode = 'CLIENT_BAD_REQUEST'
    rawReply(socket, 'HTTP/1.1 400 Bad Request\r\n\r\n', false)
  }
}

/** An empty internal response with `Connection: close` (Expect failures). */
function replyAndClose(nres: ServerResponse, status: number): void {
  nres.shouldKeepAlive = false
  const headers = [
    'Server',
    'bfe',
    'Content-Type',
    'text/plain; charset=utf-8',
    'Content-Length',
    '0',
  ]
  nres.writeHead(status, headers)
  nres.end()
}

/**
 * Writes a raw status line to a client and closes. `linger` half-closes first and waits ~500 ms
 * so the client can read the answer before the reset (BFE's 413 behaviour).
 */
function rawReply(socket: Socket, text: string, linger: boolean): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  socket.end(text)
  const t = setTimeout(() => socket.destroy(), linger ? 500 : 50)
  t.unref()
}

/** `::ffff:1.2.3.4` → `1.2.3.4`. */
function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
}
