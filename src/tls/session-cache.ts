// BFE's [SessionCache]: TLS session-ID resumption shared by every instance through Redis
// (config.md §3.4, protocols.md §1, DESIGN.md "Beyond one machine").
//
// Facts kept from BFE: the key is `<KeyPrefix>:<session id in lower-case hex>`, the value is the
// session state bytes, written with an expiry of SessionExpire seconds; a lookup that errors or times
// out is a miss, so the handshake becomes a full one and never fails because of the cache.
//
// Where we differ: BFE dials a random server of the list for every pooled connection, so with several
// servers a lookup finds the session only by chance. Here a session id always maps to the same server
// (a hash of the id), so several servers act as shards and every instance agrees on where a session
// lives. ioredis pipelines commands over one connection per server, so MaxIdle has nothing to size; the
// number of commands waiting for a reply is capped instead (maxPending).
import type { Server as TlsServer } from 'node:tls'
import { Redis } from 'ioredis'
import { BfeConfError } from '../basic/errors.js'
import { type Logger, silentLogger } from '../log/logger.js'

export interface SessionCacheOptions {
  /** As in bfe.conf: comma-separated `host:port` (IPv6 as `[addr]:port`). */
  servers: string
  keyPrefix: string
  connectTimeoutMs: number
  readTimeoutMs: number
  writeTimeoutMs: number
  /** Accepted for bfe.conf parity (see the file comment). */
  maxIdle: number
  expireSec: number
  /** Commands waiting for a reply, all servers together; past it a lookup is an immediate miss. */
  maxPending?: number | undefined
}

/** Counters with the names BFE shows in /monitor/proxy_state, plus SESSION_CACHE_BUSY (ours). */
export interface SessionCacheCounters {
  /** Connections opened (first connect and every reconnect). */
  SESSION_CACHE_CONN: number
  /** Connection attempts that failed. */
  SESSION_CACHE_CONN_FAIL: number
  SESSION_CACHE_SET: number
  SESSION_CACHE_SET_FAIL: number
  SESSION_CACHE_GET: number
  /** Lookups that errored, timed out or found no usable connection. */
  SESSION_CACHE_GET_FAIL: number
  SESSION_CACHE_MISS: number
  SESSION_CACHE_HIT: number
  /** Commands skipped because no server is configured. */
  SESSION_CACHE_NO_INSTANCE: number
  /** Commands skipped because maxPending commands were already waiting for replies. */
  SESSION_CACHE_BUSY: number
}

const DEFAULT_MAX_PENDING = 1024
/** Reconnect back-off: 50 ms doubling up to 2 s, for as long as the cache lives. */
const RECONNECT_MIN_MS = 50
const RECONNECT_MAX_MS = 2000

interface Address {
  host: string
  port: number
}

/** Parses the Servers value of [SessionCache]. Throws BfeConfError naming the bad entry. */
export function parseServers(servers: string): Address[] {
  const out: Address[] = []
  for (const raw of servers.split(',')) {
    const s = raw.trim()
    if (s === '') continue
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s)
    const host = m?.[1] ?? m?.[2]
    const port = Number(m?.[3])
    if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65535)
      throw new BfeConfError('bfe.conf', '[SessionCache] Servers', `entry "${s}" is not host:port`)
    out.push({ host, port })
  }
  return out
}

type Link = {
  readonly addr: string
  readonly redis: Redis
  up: boolean
  /** Whether the current outage was already logged (one line per outage, not per retry). */
  downLogged: boolean
}

/** The session-ID cache a TLS listener consults from 'newSession' and 'resumeSession'. */
export class TlsSessionCache {
  readonly counters: SessionCacheCounters = {
    SESSION_CACHE_CONN: 0,
    SESSION_CACHE_CONN_FAIL: 0,
    SESSION_CACHE_SET: 0,
    SESSION_CACHE_SET_FAIL: 0,
    SESSION_CACHE_GET: 0,
    SESSION_CACHE_GET_FAIL: 0,
    SESSION_CACHE_MISS: 0,
    SESSION_CACHE_HIT: 0,
    SESSION_CACHE_NO_INSTANCE: 0,
    SESSION_CACHE_BUSY: 0,
  }
  private readonly links: Link[]
  private readonly prefix: string
  private readonly readMs: number
  private readonly writeMs: number
  private readonly expireSec: number
  private readonly maxPending: number
  private readonly log: Logger
  private pending = 0
  private closed = false

  constructor(opts: SessionCacheOptions, log?: Logger) {
    const field = (name: string, v: number, min: number): number => {
      if (!Number.isInteger(v) || v < min)
        throw new BfeConfError('bfe.conf', `[SessionCache] ${name}`, `must be an integer >= ${min}`)
      return v
    }
    this.readMs = field('ReadTimeout', opts.readTimeoutMs, 1)
    this.writeMs = field('WriteTimeout', opts.writeTimeoutMs, 1)
    this.expireSec = field('SessionExpire', opts.expireSec, 1)
    const connectMs = field('ConnectTimeout', opts.connectTimeoutMs, 1)
    field('MaxIdle', opts.maxIdle, 1)
    this.maxPending = field('maxPending', opts.maxPending ?? DEFAULT_MAX_PENDING, 1)
    this.prefix = opts.keyPrefix
    this.log = log ?? silentLogger()
    this.links = parseServers(opts.servers).map((a) => this.connect(a, connectMs))
  }

  private connect(a: Address, connectMs: number): Link {
    const redis = new Redis({
      host: a.host,
      port: a.port,
      connectTimeout: connectMs,
      // A reply later than this (while commands wait) means the server is stuck: drop the socket,
      // which fails every waiting command at once and frees their memory, then reconnect.
      socketTimeout: Math.max(this.readMs, this.writeMs),
      // Nothing waits for a connection: without one, a command fails at once (no offline queue).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (times: number) =>
        Math.min(RECONNECT_MIN_MS * 2 ** Math.min(times - 1, 10), RECONNECT_MAX_MS),
      disableClientInfo: true,
      lazyConnect: false,
    })
    const link: Link = { addr: `${a.host}:${a.port}`, redis, up: false, downLogged: false }
    // ioredis reports every failed attempt as 'error'; we count them and log once per outage.
    redis.on('error', (err: Error) => {
      this.counters.SESSION_CACHE_CONN_FAIL++
      if (link.downLogged || this.closed) return
      link.downLogged = true
      this.log.warn({ server: link.addr, err: err.message }, 'tls session cache: redis unavailable')
    })
    redis.on('ready', () => {
      this.counters.SESSION_CACHE_CONN++
      link.up = true
      if (link.downLogged) this.log.info({ server: link.addr }, 'tls session cache: redis back')
      link.downLogged = false
    })
    redis.on('close', () => {
      link.up = false
    })
    return link
  }

  private key(id: Buffer): string {
    return `${this.prefix}:${id.toString('hex')}`
  }

  /** The server a session id lives on: FNV-1a of the id, so every instance picks the same one. */
  private pick(id: Buffer): Link | undefined {
    const n = this.links.length
    if (n <= 1) return this.links[0]
    let h = 0x811c9dc5
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ (id[i] ?? 0), 0x01000193)
    return this.links[(h >>> 0) % n]
  }

  /** A usable connection for `id`, or undefined after counting why there is none. */
  private usable(
    id: Buffer,
    fail: 'SESSION_CACHE_GET_FAIL' | 'SESSION_CACHE_SET_FAIL',
  ): Link | undefined {
    const link = this.pick(id)
    if (link === undefined) {
      this.counters.SESSION_CACHE_NO_INSTANCE++
      this.counters[fail]++
      return undefined
    }
    if (this.closed || !link.up || link.redis.status !== 'ready') {
      this.counters[fail]++
      return undefined
    }
    if (this.pending >= this.maxPending) {
      this.counters.SESSION_CACHE_BUSY++
      this.counters[fail]++
      return undefined
    }
    return link
  }

  /** Session state for `id`; undefined on a miss, a timeout or an unreachable Redis. Never rejects. */
  get(id: Buffer): Promise<Buffer | undefined> {
    this.counters.SESSION_CACHE_GET++
    const link = this.usable(id, 'SESSION_CACHE_GET_FAIL')
    if (link === undefined) return Promise.resolve(undefined)
    this.pending++
    return new Promise<Buffer | undefined>((resolve) => {
      let done = false
      const timer = setTimeout(() => {
        done = true
        this.counters.SESSION_CACHE_GET_FAIL++
        resolve(undefined)
      }, this.readMs)
      timer.unref()
      link.redis.getBuffer(this.key(id)).then(
        (v) => {
          this.pending--
          if (done) return
          clearTimeout(timer)
          if (v === null) this.counters.SESSION_CACHE_MISS++
          else this.counters.SESSION_CACHE_HIT++
          resolve(v ?? undefined)
        },
        () => {
          this.pending--
          if (done) return
          clearTimeout(timer)
          this.counters.SESSION_CACHE_GET_FAIL++
          resolve(undefined)
        },
      )
    })
  }

  /** Stores session state for `id` with the configured expiry. Fire and forget; never throws. */
  set(id: Buffer, data: Buffer): void {
    this.counters.SESSION_CACHE_SET++
    const link = this.usable(id, 'SESSION_CACHE_SET_FAIL')
    if (link === undefined) return
    this.pending++
    // One SET with EX: the same effect as BFE's SET then EXPIRE, and never a key without expiry.
    link.redis.set(this.key(id), data, 'EX', this.expireSec).then(
      () => {
        this.pending--
      },
      () => {
        this.pending--
        this.counters.SESSION_CACHE_SET_FAIL++
      },
    )
  }

  /** Commands sent and not yet answered (bounded by maxPending). */
  get pendingCommands(): number {
    return this.pending
  }

  /** Waits (up to the write timeout) for replies still due, then closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all(
      this.links.map(async ({ redis }) => {
        if (redis.status === 'ready') {
          let timer: NodeJS.Timeout | undefined
          const late = new Promise<void>((r) => {
            timer = setTimeout(r, this.writeMs)
          })
          await Promise.race([redis.quit().then(noop, noop), late])
          clearTimeout(timer)
        }
        redis.disconnect()
      }),
    )
  }
}

function noop(): void {}

/**
 * Wires a node:tls server's session-ID events to the cache. 'newSession' must call back for the
 * handshake to go on, so the store is fire and forget; 'resumeSession' answers null on any miss.
 */
export function useSessionCache(server: TlsServer, cache: TlsSessionCache): void {
  server.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
    cache.set(id, data)
    done()
  })
  server.on(
    'resumeSession',
    (id: Buffer, done: (err: Error | null, data: Buffer | null) => void) => {
      cache.get(id).then((data) => done(null, data ?? null), noop)
    },
  )
}
