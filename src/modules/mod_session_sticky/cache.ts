import { Redis } from 'ioredis'
import type { StickyBackend } from '../../basic/request.js'
import type { Logger } from '../../log/logger.js'

/** Where sticky ids map to backends. */
export interface StickyCache {
  /** The backend stored for `id`; a Promise for a remote cache. Never rejects. */
  get(id: string): StickyBackend | undefined | Promise<StickyBackend | undefined>
  /** Stores `bk` for `id` (a remote store happens in the background, failures counted). */
  set(id: string, bk: StickyBackend): void
  close(): Promise<void>
}

/** Counters the caches keep (shown at /monitor/mod_session_sticky). */
export interface CacheCounters {
  CACHE_HIT: number
  CACHE_MISS: number
  CACHE_SET: number
  CACHE_GET_FAIL: number
  CACHE_SET_FAIL: number
}

/** An in-process LRU cache of at most `size` ids. */
export class LocalStickyCache implements StickyCache {
  private readonly map = new Map<string, StickyBackend>()
  private readonly size: number
  private readonly counters: CacheCounters

  constructor(size: number, counters: CacheCounters) {
    this.size = size
    this.counters = counters
  }

  get(id: string): StickyBackend | undefined {
    const bk = this.map.get(id)
    if (bk === undefined) {
      this.counters.CACHE_MISS++
      return undefined
    }
    // most recently used goes to the end
    this.map.delete(id)
    this.map.set(id, bk)
    this.counters.CACHE_HIT++
    return bk
  }

  set(id: string, bk: StickyBackend): void {
    this.map.delete(id)
    this.map.set(id, bk)
    this.counters.CACHE_SET++
    if (this.map.size > this.size) {
      const oldest = this.map.keys().next()
      if (oldest.done !== true) this.map.delete(oldest.value)
    }
  }

  get length(): number {
    return this.map.size
  }

  async close(): Promise<void> {
    this.map.clear()
  }
}

export interface RedisAddress {
  host: string
  port: number
}

export interface RedisCacheOptions {
  servers: readonly RedisAddress[]
  password: string
  connectTimeoutMs: number
  readTimeoutMs: number
  writeTimeoutMs: number
  expireSeconds: number
}

/** BFE's key prefix: sticky ids written by BFE and by bfe-ts are the same keys. */
export const REDIS_KEY_PREFIX = 'bfe:stickyid:'

/**
 * Sticky ids in Redis, shared by every instance: key `bfe:stickyid:<id>`, value BFE's JSON
 * `{"addr","port","sub_cluster","created_at"}`, written with an expiry of ExpireSeconds. An id
 * always maps to the same server of the list (FNV-1a of the id), so several servers act as
 * shards. Nothing waits for a connection: while Redis is unreachable or slow a lookup is a miss
 * and a store is dropped, so requests never fail because of the cache.
 */
export class RedisStickyCache implements StickyCache {
  private readonly links: { addr: string; redis: Redis; downLogged: boolean }[]
  private readonly expire: number
  private readonly writeMs: number
  private readonly counters: CacheCounters
  private readonly log: Logger
  private closed = false
  private readonly connectTimer: NodeJS.Timeout

  constructor(o: RedisCacheOptions, counters: CacheCounters, log: Logger) {
    this.expire = o.expireSeconds
    this.writeMs = o.writeTimeoutMs
    this.counters = counters
    this.log = log
    this.links = o.servers.map((a) => {
      const redis = new Redis({
        host: a.host,
        port: a.port,
        password: o.password === '' ? undefined : o.password,
        connectTimeout: o.connectTimeoutMs,
        // a command without an answer in time fails (a lookup becomes a miss)
        commandTimeout: Math.max(o.readTimeoutMs, o.writeTimeoutMs),
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times - 1, 10), 2000),
        disableClientInfo: true,
        // connected on the next turn of the event loop: `bfe -t` loads and closes before it
        lazyConnect: true,
      })
      const link = { addr: `${a.host}:${a.port}`, redis, downLogged: false }
      redis.on('error', (err: Error) => {
        if (link.downLogged || this.closed) return
        link.downLogged = true
        this.log.warn({ server: link.addr, err: err.message }, 'sticky cache: redis unavailable')
      })
      redis.on('ready', () => {
        if (link.downLogged) this.log.info({ server: link.addr }, 'sticky cache: redis back')
        link.downLogged = false
      })
      return link
    })
    this.connectTimer = setTimeout(() => {
      if (this.closed) return
      for (const { redis } of this.links) redis.connect().catch(noop)
    }, 0)
    this.connectTimer.unref()
  }

  private pick(id: string): Redis | undefined {
    const n = this.links.length
    if (n === 0 || this.closed) return undefined
    let i = 0
    if (n > 1) {
      let h = 0x811c9dc5
      for (let k = 0; k < id.length; k++) h = Math.imul(h ^ id.charCodeAt(k), 0x01000193)
      i = (h >>> 0) % n
    }
    const r = this.links[i]?.redis
    return r?.status === 'ready' ? r : undefined
  }

  async get(id: string): Promise<StickyBackend | undefined> {
    const r = this.pick(id)
    if (r === undefined) {
      this.counters.CACHE_GET_FAIL++
      return undefined
    }
    let raw: string | null
    try {
      raw = await r.get(REDIS_KEY_PREFIX + id)
    } catch {
      this.counters.CACHE_GET_FAIL++
      return undefined
    }
    const bk = raw === null ? undefined : parseRedisValue(raw)
    if (bk === undefined) this.counters.CACHE_MISS++
    else this.counters.CACHE_HIT++
    return bk
  }

  set(id: string, bk: StickyBackend): void {
    const r = this.pick(id)
    if (r === undefined) {
      this.counters.CACHE_SET_FAIL++
      return
    }
    const value = JSON.stringify({
      addr: bk.addr,
      port: bk.port,
      sub_cluster: bk.subCluster,
      created_at: Math.floor(Date.now() / 1000),
    })
    r.setex(REDIS_KEY_PREFIX + id, this.expire, value).then(
      () => {
        this.counters.CACHE_SET++
      },
      () => {
        this.counters.CACHE_SET_FAIL++
      },
    )
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.connectTimer)
    await Promise.all(
      this.links.map(async ({ redis }) => {
        if (redis.status === 'ready') {
          let timer: NodeJS.Timeout | undefined
          const late = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, this.writeMs)
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

/** BFE's Redis value; undefined when it is not one. */
export function parseRedisValue(raw: string): StickyBackend | undefined {
  let v: unknown
  try {
    v = JSON.parse(raw)
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const { addr, port, sub_cluster } = v as Record<string, unknown>
  if (typeof addr !== 'string' || typeof sub_cluster !== 'string') return undefined
  if (typeof port !== 'number' || !Number.isInteger(port)) return undefined
  return { addr, port, subCluster: sub_cluster }
}
