import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { BfeError } from '../basic/errors.js'
import { type Logger, silentLogger } from '../log/logger.js'
import { DEBUG_NAMES, type DebugAnswer, runDebug } from './debug.js'
import { timeText } from './delay.js'
import { errorJson, FormatError, formatSnapshot } from './format.js'
import type { MonitorSnapshot, MonitorSource, ReloadPrepare } from './types.js'

/**
 * Where the monitor server gets its answers: the process's own sources (single process), or
 * every worker over IPC (the primary of a multi-worker run, monitor/primary.ts).
 */
export interface MonitorBackend {
  monitorNames(): Promise<string[]>
  /** Throws NotFoundError for an unknown name. */
  monitor(name: string, query: URLSearchParams): Promise<MonitorSnapshot>
  reloadNames(): Promise<string[]>
  /** Checks and switches; resolves with the version text, if any. Throws on refusal. */
  reload(name: string, query: URLSearchParams): Promise<string | undefined>
  debug(name: string, query: URLSearchParams): Promise<DebugAnswer>
}

/**
 * An error whose message is the answer as it stands (a worker's answer relayed by the primary,
 * a worker that did not answer): never prefixed with `panic:`.
 */
export class AnswerError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AnswerError'
  }
}

/** An unknown handler name: shown as BFE shows it, never as a panic. */
export class NotFoundError extends Error {
  constructor(type: 'monitor' | 'reload' | 'debug', name: string) {
    super(`handler not exist, type[${type}], command[${name}]`)
    this.name = 'NotFoundError'
  }
}

/** Errors that are answers (bad parameter, refused configuration), not bugs. */
function isExpected(err: unknown): boolean {
  return (
    err instanceof BfeError ||
    err instanceof NotFoundError ||
    err instanceof FormatError ||
    err instanceof AnswerError
  )
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message
  if (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { message?: unknown }).message === 'string'
  )
    return (err as { message: string }).message
  return String(err)
}

/** A handler's failure as the operator reads it: `monitor panic:...` for a bug. */
export function describeFailure(kind: 'monitor' | 'reload', err: unknown): string {
  return isExpected(err) ? messageOf(err) : `${kind} panic:${messageOf(err)}`
}

/** The backend of a single process: its own monitor sources and reload preparers. */
export function localBackend(
  sources: () => ReadonlyMap<string, MonitorSource>,
  preparers: () => ReadonlyMap<string, ReloadPrepare>,
): MonitorBackend {
  return {
    async monitorNames() {
      return [...sources().keys()]
    },
    async monitor(name, query) {
      const src = sources().get(name)
      if (src === undefined) throw new NotFoundError('monitor', name)
      return src(query)
    },
    async reloadNames() {
      return [...preparers().keys()]
    },
    async reload(name, query) {
      const prep = preparers().get(name)
      if (prep === undefined) throw new NotFoundError('reload', name)
      const prepared = await prep(query)
      return prepared.commit()
    },
    debug: runDebug,
  }
}

export interface MonitorServerOptions {
  /** 0 = any free port. */
  port: number
  /** '' = every interface. */
  addr: string
  backend: MonitorBackend
  /** Shown on the index pages; default: the package's version. */
  version?: string | undefined
  log?: Logger | undefined
}

let pkgVersion: string | undefined

/** bfe-ts's version from package.json (dist/src/monitor → the package root). */
function packageVersion(): string {
  if (pkgVersion === undefined) {
    try {
      const pkg = JSON.parse(
        readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
      ) as { version?: unknown }
      pkgVersion = typeof pkg.version === 'string' ? pkg.version : 'unknown'
    } catch {
      pkgVersion = 'unknown'
    }
  }
  return pkgVersion
}

/** Peers allowed to reload and to use /debug (spec/monitor.md §3, decisions.md D12). */
const LOCAL_PEERS: ReadonlySet<string> = new Set(['127.0.0.1', '::1'])

/**
 * The monitor port (spec/monitor.md §1): BFE's URL scheme, every answer with status 200 and
 * errors as `{"error":"..."}`. Ours, not BFE's: `GET /healthz` answers `ok` (liveness probe), and
 * `/debug/*` serves Node diagnostics to local peers only.
 */
export class MonitorServer {
  private readonly opts: MonitorServerOptions
  private readonly log: Logger
  private readonly startAt: string
  private readonly version: string
  private server: Server | undefined

  constructor(opts: MonitorServerOptions) {
    this.opts = opts
    this.log = opts.log ?? silentLogger()
    this.startAt = timeText(Date.now())
    this.version =
      opts.version === undefined || opts.version === '' ? packageVersion() : opts.version
    this.server = undefined
  }

  /** Opens the port; resolves with the bound port. */
  async start(): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'monitor request failed')
        if (!res.headersSent)
          send(res, 'application/json; charset=utf-8', errorJson(messageOf(err)))
        else res.destroy()
      })
    })
    server.on('clientError', (_err, socket) => socket.destroy())
    server.on('connection', (s) => s.on('error', () => {}))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(
        { port: this.opts.port, host: this.opts.addr === '' ? undefined : this.opts.addr },
        () => {
          server.off('error', reject)
          resolve()
        },
      )
    })
    server.on('error', (err) => this.log.error({ err }, 'monitor listener error'))
    this.server = server
    this.log.info({ port: this.port }, 'monitor listener open')
    return this.port
  }

  get port(): number {
    const a = this.server?.address()
    return typeof a === 'object' && a !== null ? (a as AddressInfo).port : 0
  }

  async close(): Promise<void> {
    const s = this.server
    if (s === undefined) return
    this.server = undefined
    const closed = new Promise<void>((r) => s.close(() => r()))
    s.closeAllConnections()
    await closed
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://monitor')
    const path = url.pathname.slice(1)
    const query = url.searchParams
    const peer = peerOf(req)
    if (path === 'healthz') {
      send(res, 'text/plain; charset=utf-8', 'ok')
      return
    }
    const slash = path.indexOf('/')
    const first = slash === -1 ? path : path.slice(0, slash)
    const rest = slash === -1 ? undefined : path.slice(slash + 1)
    const b = this.opts.backend
    const json = 'application/json; charset=utf-8'
    if (path === '') {
      send(res, 'text/html; charset=utf-8', this.welcome())
      return
    }
    if (rest === undefined) {
      if (first === 'monitor')
        send(res, 'text/html; charset=utf-8', this.index('monitor', await b.monitorNames()))
      else if (first === 'reload')
        send(res, 'text/html; charset=utf-8', this.index('reload', await b.reloadNames()))
      else if (first === 'debug')
        send(res, 'text/html; charset=utf-8', this.index('debug', [...DEBUG_NAMES]))
      else send(res, json, errorJson(`invalid command [${first}]`))
      return
    }
    switch (first) {
      case 'monitor': {
        let out: { contentType: string; body: string }
        try {
          out = formatSnapshot(rest, await b.monitor(rest, query), query.get('format'))
        } catch (err) {
          if (!isExpected(err)) this.log.warn({ err, name: rest }, 'monitor handler failed')
          out = { contentType: json, body: errorJson(describeFailure('monitor', err)) }
        }
        send(res, out.contentType, out.body)
        return
      }
      case 'reload': {
        if (!LOCAL_PEERS.has(peer.ip)) {
          this.log.warn({ peer: peer.text, name: rest }, 'reload refused: not a local peer')
          send(res, json, errorJson(`reload is not allowed from [${peer.text}]`))
          return
        }
        try {
          const version = await b.reload(rest, query)
          this.log.info({ name: rest, query: query.toString(), peer: peer.text }, 'reload done')
          send(
            res,
            json,
            version === undefined || version === ''
              ? '{"error":null}'
              : `{"error":null,"version":${JSON.stringify(version)}}`,
          )
        } catch (err) {
          const msg = describeFailure('reload', err)
          this.log.error(
            { name: rest, query: query.toString(), peer: peer.text, err: msg },
            'reload failed',
          )
          send(res, json, errorJson(msg))
        }
        return
      }
      case 'debug': {
        if (!LOCAL_PEERS.has(peer.ip)) {
          send(res, json, errorJson(`debug is not allowed from [${peer.text}]`))
          return
        }
        // Go's pprof paths (`/debug/pprof/profile`) work too; `/debug/pprof` is the index.
        const name = rest.startsWith('pprof/') ? rest.slice(6) : rest
        if (name === 'pprof' || name === '') {
          send(res, 'text/html; charset=utf-8', this.index('debug', [...DEBUG_NAMES]))
          return
        }
        try {
          const a = await b.debug(name, query)
          if (a.fileName !== undefined)
            res.setHeader('Content-Disposition', `attachment; filename="${a.fileName}"`)
          send(res, a.contentType, a.body)
        } catch (err) {
          send(res, json, errorJson(messageOf(err)))
        }
        return
      }
      default:
        send(res, json, errorJson(`invalid command [${first}]`))
    }
  }

  private welcome(): string {
    return page([
      `<p>Welcome to bfe</p>`,
      `<p>version: ${esc(this.version)}</p>`,
      `<p>start_at: ${this.startAt}</p>`,
      '<p><a href="/monitor">monitor</a></p>',
      '<p><a href="/reload">reload</a></p>',
      '<p><a href="/debug">debug</a></p>',
    ])
  }

  private index(type: string, names: string[]): string {
    return page([
      `<p>${type} manual for bfe</p>`,
      `<p>version: ${esc(this.version)}</p>`,
      `<p>start_at: ${this.startAt}</p>`,
      ...names
        .slice()
        .sort()
        .map((n) => `<p><a href="/${type}/${encodeURI(n)}">${esc(n)}</a></p>`),
    ])
  }
}

function page(lines: string[]): string {
  return `<html>\n<body>\n${lines.join('\n')}\n</body></html>`
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function send(res: ServerResponse, contentType: string, body: string): void {
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) })
  res.end(body)
}

/** The TCP peer: plain IP (an IPv4-mapped address as IPv4) and `ip:port` as Go prints it. */
function peerOf(req: IncomingMessage): { ip: string; text: string } {
  let ip = req.socket.remoteAddress ?? ''
  if (ip.startsWith('::ffff:') && ip.includes('.')) ip = ip.slice(7)
  const port = req.socket.remotePort ?? 0
  return { ip, text: ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}` }
}
