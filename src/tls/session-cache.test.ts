import assert from 'node:assert/strict'
import { constants as cryptoConstants, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { createServer as createTlsServer, type Server, connect as tlsConnect } from 'node:tls'
import { Redis } from 'ioredis'
import pino from 'pino'
import { TestPki } from '../../test/helpers/certs.js'
import { type RedisProcess, sleep, startRedis } from '../../test/helpers/redis.js'
import type { Logger } from '../log/logger.js'
import {
  parseServers,
  type SessionCacheOptions,
  TlsSessionCache,
  useSessionCache,
} from './session-cache.js'

function options(port: number, over: Partial<SessionCacheOptions> = {}): SessionCacheOptions {
  return {
    servers: `127.0.0.1:${port}`,
    keyPrefix: 'bfe',
    connectTimeoutMs: 200,
    readTimeoutMs: 150,
    writeTimeoutMs: 150,
    maxIdle: 20,
    expireSec: 3600,
    ...over,
  }
}

/** A pino logger whose lines land in `lines` (parsed). */
function memoryLogger(): { log: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n'))
        if (l !== '') lines.push(JSON.parse(l) as { level: number; msg: string })
      cb()
    },
  })
  sink.on('error', () => {})
  return { log: pino({ level: 'debug' }, sink), lines }
}

/** Polls `f` every 20 ms until it returns true or `ms` passes. */
async function until(f: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await f()) return
    await sleep(20)
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`)
}

/** Waits for the cache to connect (it connects on construction, lookups before that miss). */
async function ready(cache: TlsSessionCache): Promise<void> {
  await until(() => cache.counters.SESSION_CACHE_CONN > 0, 3000, 'the cache to connect')
}

function raw(port: number): Redis {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: false, maxRetriesPerRequest: 1 })
  r.on('error', () => {})
  return r
}

describe('parseServers', () => {
  it('reads host:port lists as bfe.conf writes them, IPv6 in brackets', () => {
    assert.deepEqual(parseServers(' 10.0.0.1:6379, redis.local:7000 ,[::1]:6380,'), [
      { host: '10.0.0.1', port: 6379 },
      { host: 'redis.local', port: 7000 },
      { host: '::1', port: 6380 },
    ])
    assert.throws(() => parseServers('10.0.0.1'), /Servers entry "10.0.0.1" is not host:port/)
    assert.throws(() => parseServers('h:70000'), /not host:port/)
  })

  it('rejects the values BFE rejects when the cache is enabled', () => {
    assert.throws(() => new TlsSessionCache(options(1, { readTimeoutMs: 0 })), /ReadTimeout/)
    assert.throws(() => new TlsSessionCache(options(1, { expireSec: 0 })), /SessionExpire/)
    assert.throws(() => new TlsSessionCache(options(1, { maxIdle: 0 })), /MaxIdle/)
  })
})

describe('TlsSessionCache on a real redis-server', () => {
  let redis: RedisProcess
  let client: Redis
  before(async () => {
    redis = await startRedis()
    client = raw(redis.port)
  })
  after(async () => {
    client.disconnect()
    await redis.close()
  })

  it('round trip with BFE key format `<prefix>:<hex id>` and SessionExpire as TTL', async () => {
    const cache = new TlsSessionCache(options(redis.port, { keyPrefix: 'bfe-test' }))
    try {
      await ready(cache)
      const id = randomBytes(32)
      const data = randomBytes(200)
      assert.equal(await cache.get(id), undefined)
      cache.set(id, data)
      assert.deepEqual(await cache.get(id), data)
      const key = `bfe-test:${id.toString('hex')}`
      assert.deepEqual(await client.getBuffer(key), data)
      const ttl = await client.ttl(key)
      assert.ok(ttl > 3590 && ttl <= 3600, `ttl ${ttl}`)
      assert.equal(cache.counters.SESSION_CACHE_HIT, 1)
      assert.equal(cache.counters.SESSION_CACHE_MISS, 1)
      assert.equal(cache.counters.SESSION_CACHE_GET, 2)
      assert.equal(cache.counters.SESSION_CACHE_SET, 1)
      assert.equal(cache.counters.SESSION_CACHE_GET_FAIL + cache.counters.SESSION_CACHE_SET_FAIL, 0)
    } finally {
      await cache.close()
    }
  })

  it('two instances share sessions', async () => {
    const a = new TlsSessionCache(options(redis.port))
    const b = new TlsSessionCache(options(redis.port))
    try {
      await Promise.all([ready(a), ready(b)])
      const id = randomBytes(32)
      const data = Buffer.from('session state from instance A')
      a.set(id, data)
      await until(() => a.pendingCommands === 0, 1000, 'the SET reply')
      assert.deepEqual(await b.get(id), data)
      assert.equal(b.counters.SESSION_CACHE_HIT, 1)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('expiry is honoured', async () => {
    const cache = new TlsSessionCache(options(redis.port, { expireSec: 1 }))
    try {
      await ready(cache)
      const id = randomBytes(32)
      cache.set(id, Buffer.from('short-lived'))
      assert.deepEqual(await cache.get(id), Buffer.from('short-lived'))
      const ttl = await client.ttl(`bfe:${id.toString('hex')}`)
      assert.ok(ttl === 1 || ttl === 0, `ttl ${ttl}`)
      const t0 = Date.now()
      await until(async () => (await cache.get(id)) === undefined, 3000, 'the key to expire')
      assert.ok(Date.now() - t0 <= 2500)
      assert.ok(cache.counters.SESSION_CACHE_MISS >= 1)
    } finally {
      await cache.close()
    }
  })

  it('close() lets the last SET land, then gets are misses without touching Redis', async () => {
    const cache = new TlsSessionCache(options(redis.port))
    await ready(cache)
    const id = randomBytes(32)
    cache.set(id, Buffer.from('last words'))
    await cache.close()
    assert.deepEqual(await client.getBuffer(`bfe:${id.toString('hex')}`), Buffer.from('last words'))
    assert.equal(await cache.get(id), undefined)
    cache.set(id, Buffer.from('ignored'))
    assert.equal(cache.counters.SESSION_CACHE_SET_FAIL, 1)
  })
})

describe('TlsSessionCache when Redis fails', () => {
  it('Redis stopped: misses at once, set does not throw, one log line; restarted: works again', async () => {
    let redis = await startRedis()
    const port = redis.port
    const { log, lines } = memoryLogger()
    const cache = new TlsSessionCache(options(port), log)
    try {
      await ready(cache)
      const id = randomBytes(32)
      cache.set(id, Buffer.from('before'))
      assert.deepEqual(await cache.get(id), Buffer.from('before'))

      await redis.close()
      await until(() => cache.counters.SESSION_CACHE_CONN_FAIL >= 3, 3000, 'reconnect attempts')
      for (let i = 0; i < 50; i++) {
        const t0 = Date.now()
        assert.equal(await cache.get(id), undefined)
        assert.ok(Date.now() - t0 < 150, 'no wait on a down Redis')
        cache.set(randomBytes(32), Buffer.from('lost'))
      }
      assert.equal(cache.pendingCommands, 0, 'nothing queued while offline')
      assert.ok(cache.counters.SESSION_CACHE_GET_FAIL >= 50)
      assert.ok(cache.counters.SESSION_CACHE_SET_FAIL >= 50)
      const warns = lines.filter((l) => l.level === 40)
      assert.equal(warns.length, 1, `one warning per outage, got ${JSON.stringify(warns)}`)
      assert.match(warns[0]?.msg ?? '', /redis unavailable/)

      redis = await startRedis(port)
      await until(
        async () => {
          cache.set(id, Buffer.from('after'))
          const got = await cache.get(id)
          return got?.equals(Buffer.from('after')) === true
        },
        5000,
        'the cache to work again',
      )
      assert.ok(lines.some((l) => l.level === 30 && /redis back/.test(l.msg)))
      assert.equal(lines.filter((l) => l.level === 40).length, 1)
    } finally {
      await cache.close()
      await redis.close()
    }
  })

  it('Redis stuck (SIGSTOP): get gives undefined within the read timeout; pending is bounded', async () => {
    const redis = await startRedis()
    const cache = new TlsSessionCache(
      options(redis.port, { readTimeoutMs: 100, writeTimeoutMs: 100, maxPending: 64 }),
    )
    try {
      await ready(cache)
      const id = randomBytes(32)
      cache.set(id, Buffer.from('x'))
      assert.deepEqual(await cache.get(id), Buffer.from('x'))

      process.kill(redis.pid, 'SIGSTOP')
      const t0 = Date.now()
      const results = await Promise.all(Array.from({ length: 200 }, () => cache.get(id)))
      const took = Date.now() - t0
      assert.ok(
        results.every((r) => r === undefined),
        'every lookup misses',
      )
      assert.ok(took < 100 + 150, `all answered within the read timeout (+ slack), took ${took} ms`)
      assert.ok(cache.pendingCommands <= 64)
      assert.ok(cache.counters.SESSION_CACHE_BUSY >= 200 - 64, 'lookups past maxPending skipped')
      // The stuck socket is dropped (socketTimeout), which frees every waiting command.
      await until(() => cache.pendingCommands === 0, 2000, 'waiting commands to be dropped')

      process.kill(redis.pid, 'SIGCONT')
      await until(
        async () => (await cache.get(id))?.equals(Buffer.from('x')) === true,
        5000,
        'the cache to work again after SIGCONT',
      )
    } finally {
      await cache.close()
      await redis.close()
    }
  })

  it('no Redis at all from the start: every call is a quick miss', async () => {
    const cache = new TlsSessionCache(options(1))
    try {
      await until(() => cache.counters.SESSION_CACHE_CONN_FAIL >= 1, 2000, 'a failed connect')
      const t0 = Date.now()
      assert.equal(await cache.get(randomBytes(32)), undefined)
      assert.ok(Date.now() - t0 < 100)
      cache.set(randomBytes(32), Buffer.from('x'))
      assert.equal(cache.counters.SESSION_CACHE_SET_FAIL, 1)
    } finally {
      await cache.close()
    }
  })
})

/** A self-signed certificate for localhost from the shared test PKI. */
function makeCert(): { key: Buffer; cert: Buffer } {
  const pki = new TestPki('bfe-cert-')
  try {
    const c = pki.selfSigned('localhost', { dns: ['localhost'] })
    return { key: Buffer.from(c.keyPem), cert: Buffer.from(c.certPem) }
  } finally {
    pki.cleanup()
  }
}

describe('TLS 1.2 session-ID resumption across two servers through Redis', () => {
  let redis: RedisProcess
  const servers: Server[] = []
  const caches: TlsSessionCache[] = []
  let creds: { key: Buffer; cert: Buffer }

  before(async () => {
    redis = await startRedis()
    creds = makeCert()
  })
  after(async () => {
    for (const s of servers) s.close()
    await Promise.all(caches.map((c) => c.close()))
    await redis.close()
  })

  async function tlsServer(cache: TlsSessionCache | undefined): Promise<number> {
    const s = createTlsServer(
      {
        key: creds.key,
        cert: creds.cert,
        sessionIdContext: 'bfe-ts',
        maxVersion: 'TLSv1.2',
        // Tickets off: resumption can only come from the session-ID cache.
        secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
      },
      (sock) => {
        sock.on('error', () => {})
        sock.end('hello')
      },
    )
    s.on('error', () => {})
    s.on('tlsClientError', () => {})
    if (cache !== undefined) useSessionCache(s, cache)
    servers.push(s)
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
    return (s.address() as AddressInfo).port
  }

  function handshake(
    port: number,
    session?: Buffer,
  ): Promise<{ reused: boolean; session: Buffer | undefined }> {
    return new Promise((resolve, reject) => {
      const sock = tlsConnect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: creds.cert,
        maxVersion: 'TLSv1.2',
        ...(session === undefined ? {} : { session }),
      })
      sock.on('error', reject)
      sock.on('secureConnect', () => {
        const out = { reused: sock.isSessionReused(), session: sock.getSession() }
        sock.destroy()
        resolve(out)
      })
    })
  }

  it('a session made on server A resumes on server B; without the cache it does not', async () => {
    const cacheA = new TlsSessionCache(options(redis.port))
    const cacheB = new TlsSessionCache(options(redis.port))
    caches.push(cacheA, cacheB)
    await Promise.all([ready(cacheA), ready(cacheB)])
    const portA = await tlsServer(cacheA)
    const portB = await tlsServer(cacheB)
    const portNoCache = await tlsServer(undefined)

    const first = await handshake(portA)
    assert.equal(first.reused, false)
    assert.ok(first.session !== undefined)
    await until(
      () => cacheA.counters.SESSION_CACHE_SET === 1 && cacheA.pendingCommands === 0,
      1000,
      'server A to store the session',
    )
    assert.equal((await redisKeys(redis.port)).length, 1)

    const onB = await handshake(portB, first.session)
    assert.equal(onB.reused, true, 'resumed on another server through Redis')
    assert.equal(cacheB.counters.SESSION_CACHE_HIT, 1)

    const onPlain = await handshake(portNoCache, first.session)
    assert.equal(onPlain.reused, false, 'control: a server without the cache does a full handshake')
  })

  it('Redis down: the handshake still succeeds, as a full one', async () => {
    const cache = new TlsSessionCache(options(1))
    caches.push(cache)
    const port = await tlsServer(cache)
    const first = await handshake(port)
    const again = await handshake(port, first.session)
    assert.equal(again.reused, false)
    assert.ok(cache.counters.SESSION_CACHE_GET >= 1)
    assert.equal(cache.counters.SESSION_CACHE_HIT, 0)
  })
})

async function redisKeys(port: number): Promise<string[]> {
  const r = raw(port)
  try {
    return await r.keys('bfe:*')
  } finally {
    r.disconnect()
  }
}
