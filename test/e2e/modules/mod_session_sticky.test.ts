import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { decodeCookie, encodeCookie } from '../../../src/modules/mod_session_sticky/codec.js'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf, type TestConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RedisProcess, startRedis } from '../../helpers/redis.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

const STICKY_RULE = {
  Cond: 'req_path_prefix_in("/sticky/", false)',
  Type: 'Sticky',
  CookieKey: 'sid',
  Header: 'X-Session',
  URIParam: 'session',
  StickyRequestField: 'previous_response_id',
  StickyResponseField: 'id',
}

function data(version: string, cookieRule: Record<string, unknown>): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        STICKY_RULE,
        {
          Cond: 'default_t()',
          MaskCode: 'maskone',
          StandbyMaskCode: 'masktwo',
          MaxAge: 100,
          RenewWindow: 50,
          Path: '/',
          HttpOnly: true,
          ...cookieRule,
        },
      ],
    },
  })
}

/**
 * Backends answer `ok <port>`; `/sticky/login?new=<id>` sets cookie `sid=<id>`, `/sticky/api?new=<id>`
 * answers JSON `{"id": "<id>"}`.
 */
async function backend(): Promise<Upstream> {
  const box = { port: 0 }
  const up = await startUpstream((req, res) => {
    req.resume()
    const url = new URL(req.url ?? '/', 'http://x')
    const id = url.searchParams.get('new') ?? ''
    if (url.pathname === '/sticky/login') res.setHeader('Set-Cookie', `sid=${id}; Path=/`)
    if (url.pathname === '/sticky/api') {
      res.setHeader('Content-Type', 'application/json')
      res.end(JSON.stringify({ id, served: box.port }))
      return
    }
    res.end(`ok ${box.port}`)
  })
  box.port = up.port
  return up
}

function conf(ports: number[], extra: { conf?: string; data?: string } = {}): TestConf {
  return simpleConf(ports, {
    server: ['Modules = mod_session_sticky'],
    files: {
      'mod_session_sticky/mod_session_sticky.conf':
        extra.conf ?? '[Basic]\nDataPath = mod_session_sticky/session_sticky.data\n',
      'mod_session_sticky/session_sticky.data': extra.data ?? data('v1', {}),
    },
  })
}

function portOf(body: string): number {
  const m = /ok (\d+)/.exec(body) ?? /"served":(\d+)/.exec(body)
  assert.ok(m, body)
  return Number(m[1])
}

describe('mod_session_sticky', () => {
  let ups: Upstream[]
  let bfe: RunningBfe
  let url: string
  const h = (extra: Record<string, string> = {}): { headers: Record<string, string> } => ({
    headers: { host: 'p.test', ...extra },
  })

  before(async () => {
    ups = [await backend(), await backend(), await backend()]
    bfe = await startBfe(conf(ups.map((u) => u.port)))
    url = bfe.url
  })
  after(async () => {
    await bfe.close()
    for (const u of ups) await u.close()
  })

  it('without a cookie requests spread; with the issued cookie they stay (HTTP/1.1)', async () => {
    const spread = new Set<number>()
    for (let i = 0; i < 6; i++) spread.add(portOf((await get(`${url}/`, h())).body))
    assert.ok(spread.size > 1, 'round robin without stickiness')

    const first = await get(`${url}/a`, h())
    const port = portOf(first.body)
    const sc = String(first.headers['set-cookie'])
    const m = /^bfe_ssbl=([A-Za-z0-9+/]+); Path=\/; Max-Age=100; HttpOnly$/.exec(sc)
    assert.ok(m, sc)
    const cookie = m[1] as string
    const bk = decodeCookie(cookie, 'maskone')
    assert.equal(bk?.port, port)
    assert.equal(bk?.addr, '127.0.0.1')
    assert.equal(bk?.subCluster, 'c.a')
    const now = Math.floor(Date.now() / 1000)
    assert.ok((bk?.renewTime ?? 0) >= now + 49 && (bk?.renewTime ?? 0) <= now + 51)

    for (let i = 0; i < 6; i++) {
      const r = await get(`${url}/b`, h({ cookie: `bfe_ssbl=${cookie}` }))
      assert.equal(portOf(r.body), port)
      assert.equal(r.headers['set-cookie'], undefined, 'not renewed before renewtime')
    }
  })

  it('renews a cookie past its renew time, accepts the standby mask, replaces an unusable backend', async () => {
    const target = ups[2]?.port as number
    const bk = { addr: '127.0.0.1', port: target, subCluster: 'c.a' }
    const old = await get(`${url}/`, h({ cookie: `bfe_ssbl=${encodeCookie(bk, 1, 'maskone')}` }))
    assert.equal(portOf(old.body), target)
    const renewed = /^bfe_ssbl=([^;]+);/.exec(String(old.headers['set-cookie']))?.[1] ?? ''
    assert.ok((decodeCookie(renewed, 'maskone')?.renewTime ?? 0) > Date.now() / 1000)

    for (let i = 0; i < 3; i++) {
      const standby = encodeCookie(bk, undefined, 'masktwo')
      const r = await get(`${url}/`, h({ cookie: `bfe_ssbl=${standby}` }))
      assert.equal(portOf(r.body), target)
    }

    const gone = encodeCookie({ ...bk, port: 1 }, undefined, 'maskone')
    const r = await get(`${url}/`, h({ cookie: `bfe_ssbl=${gone}` }))
    assert.equal(r.status, 200)
    const now = decodeCookie(
      /^bfe_ssbl=([^;]+);/.exec(String(r.headers['set-cookie']))?.[1] ?? '',
      'maskone',
    )
    assert.equal(now?.port, portOf(r.body))

    const garbage = await get(`${url}/`, h({ cookie: 'bfe_ssbl=%%%' }))
    assert.equal(garbage.status, 200)
    assert.match(String(garbage.headers['set-cookie']), /^bfe_ssbl=/)
  })

  it('keeps HTTP/2 clients on their backend too', async () => {
    const target = ups[1]?.port as number
    const cookie = encodeCookie(
      { addr: '127.0.0.1', port: target, subCluster: 'c.a' },
      undefined,
      'maskone',
    )
    for (let i = 0; i < 4; i++) {
      const r = await h2Request(bfe.tlsPort, '/h2', {
        authority: 'p.test',
        headers: { cookie: `bfe_ssbl=${cookie}` },
      })
      assert.equal(r.status, 200)
      assert.equal(portOf(r.body.toString()), target)
    }
  })

  it('Sticky mode: an id from the response cookie or JSON body maps later requests to that backend', async () => {
    const login = await get(`${url}/sticky/login?new=S1`, h())
    const port = portOf(login.body)
    for (const opts of [
      h({ 'x-session': 'S1' }),
      h({ cookie: 'sid=S1' }),
      h(),
      h({ 'x-session': 'S1' }),
    ]) {
      const path =
        opts.headers['x-session'] || opts.headers['cookie'] ? '/sticky/x' : '/sticky/x?session=S1'
      assert.equal(portOf((await get(`${url}${path}`, opts)).body), port, path)
    }
    const unknown = new Set<number>()
    for (let i = 0; i < 6; i++)
      unknown.add(portOf((await get(`${url}/sticky/x`, h({ 'x-session': 'nope' }))).body))
    assert.ok(unknown.size > 1)

    const api = await get(`${url}/sticky/api?new=R1`, { method: 'POST', body: '{}', ...h() })
    const apiPort = portOf(api.body)
    assert.deepEqual(JSON.parse(api.body), { id: 'R1', served: apiPort })
    for (let i = 0; i < 4; i++) {
      const r = await get(`${url}/sticky/next`, {
        method: 'POST',
        body: JSON.stringify({ previous_response_id: 'R1', input: 'hi' }),
        ...h({ 'content-type': 'application/json' }),
      })
      assert.equal(portOf(r.body), apiPort)
    }
  })

  it('shows its counters at /monitor/mod_session_sticky', async () => {
    const m = await monitorGet(bfe.server.monitorPort, '/monitor/mod_session_sticky')
    const c = JSON.parse(m.body).CounterData as Record<string, number>
    assert.ok((c['COOKIE_SET'] ?? 0) >= 3)
    assert.ok((c['COOKIE_DECODE_OK'] ?? 0) >= 10)
    assert.ok((c['COOKIE_DECODE_FAIL'] ?? 0) >= 1)
    assert.ok((c['STICKY_BACKEND_KEPT'] ?? 0) >= 15)
    assert.ok((c['STICKY_ID_STORED'] ?? 0) >= 2)
    assert.ok((c['CACHE_HIT'] ?? 0) >= 8)
    assert.ok((c['CACHE_MISS'] ?? 0) >= 6)
  })

  it('reloads a good file and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_session_sticky', 'session_sticky.data')
    writeFileSync(file, data('v2', { CookieKey: 'route', MaskCode: 'maskthree' }))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_session_sticky')
    assert.deepEqual(JSON.parse(ok.body), { error: null })
    const r = await get(`${url}/`, h())
    const v = /^route=([^;]+);/.exec(String(r.headers['set-cookie']))?.[1] ?? ''
    assert.equal(decodeCookie(v, 'maskthree')?.port, portOf(r.body))

    writeFileSync(file, data('v3', { MaskCode: 'ab' }))
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_session_sticky')
    assert.match(
      JSON.parse(bad.body).error,
      /session_sticky\.data.*\/Config\/p\/1\/MaskCode.*at least 4/,
    )
    assert.match(String((await get(`${url}/`, h())).headers['set-cookie']), /^route=/)
  })

  it('refuses to start with a bad rule or conf, naming file and field', async () => {
    const ports = ups.map((u) => u.port)
    await assert.rejects(
      startBfe(
        conf(ports, {
          data: JSON.stringify({
            Version: '1',
            Config: { p: [{ Cond: 'default_t()', Type: 'Sticky' }] },
          }),
        }),
      ),
      /session_sticky\.data.*\/Config\/p\/0\/CookieKey.*required/,
    )
    await assert.rejects(
      startBfe(
        conf(ports, {
          data: JSON.stringify({
            Version: '1',
            Config: { p: [{ Cond: 'default_t()', MaxAge: 'long' }] },
          }),
        }),
      ),
      /session_sticky\.data.*\/Config\/p\/0\/MaxAge/,
    )
    await assert.rejects(
      startBfe(conf(ports, { conf: '[Basic]\nCacheType = memcache\n' })),
      /mod_session_sticky\.conf.*\[Basic\] CacheType.*"local" or "redis"/,
    )
    await assert.rejects(
      startBfe(
        conf(ports, { conf: '[Basic]\nCacheType = redis\n[Redis]\nBns = 127.0.0.1:6379\n' }),
      ),
      /mod_session_sticky\.conf.*\[Redis\] ConnectTimeout.*> 0/,
    )
  })
})

describe('mod_session_sticky with Redis', () => {
  let ups: Upstream[]
  let redis: RedisProcess
  let bfe: RunningBfe
  let client: Redis
  const h = (extra: Record<string, string> = {}): { headers: Record<string, string> } => ({
    headers: { host: 'p.test', ...extra },
  })

  before(async () => {
    ups = [await backend(), await backend(), await backend()]
    redis = await startRedis()
    client = new Redis({
      host: '127.0.0.1',
      port: redis.port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    })
    client.on('error', () => {})
    await client.connect()
    bfe = await startBfe(
      conf(
        ups.map((u) => u.port),
        {
          conf: [
            '[Basic]',
            'DataPath = mod_session_sticky/session_sticky.data',
            'CacheType = redis',
            '[Redis]',
            `Bns = 127.0.0.1:${redis.port}`,
            'ConnectTimeout = 200',
            'ReadTimeout = 200',
            'WriteTimeout = 200',
            'MaxIdle = 4',
            'ExpireSeconds = 120',
          ].join('\n'),
        },
      ),
    )
  })
  after(async () => {
    await bfe.close()
    client.disconnect()
    await redis.close()
    for (const u of ups) await u.close()
  })

  it('stores sticky ids in Redis in BFE format and routes by them', async () => {
    // the module's connection may still be coming up: retry the login until the id is stored
    let port = 0
    let raw: string | null = null
    const end = Date.now() + 5000
    while (raw === null && Date.now() < end) {
      port = portOf((await get(`${bfe.url}/sticky/login?new=RS1`, h())).body)
      for (let i = 0; i < 20 && raw === null; i++) {
        raw = await client.get('bfe:stickyid:RS1')
        if (raw === null) await new Promise((r) => setTimeout(r, 10))
      }
    }
    assert.ok(raw !== null, 'sticky id stored')
    const v = JSON.parse(raw) as Record<string, unknown>
    assert.equal(v['addr'], '127.0.0.1')
    assert.equal(v['port'], port)
    assert.equal(v['sub_cluster'], 'c.a')
    assert.equal(typeof v['created_at'], 'number')
    const ttl = await client.ttl('bfe:stickyid:RS1')
    assert.ok(ttl > 100 && ttl <= 120, String(ttl))
    for (let i = 0; i < 5; i++) {
      const r = await get(`${bfe.url}/sticky/x`, h({ 'x-session': 'RS1' }))
      assert.equal(portOf(r.body), port)
    }
    // an id written by another instance is honoured
    const other = ups.find((u) => u.port !== port)?.port as number
    await client.set(
      'bfe:stickyid:RS2',
      JSON.stringify({ addr: '127.0.0.1', port: other, sub_cluster: 'c.a', created_at: 1 }),
    )
    for (let i = 0; i < 3; i++)
      assert.equal(portOf((await get(`${bfe.url}/sticky/y?session=RS2`, h())).body), other)
  })

  it('answers promptly while Redis hangs (lookups time out as misses)', async () => {
    process.kill(redis.pid, 'SIGSTOP')
    try {
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now()
        const r = await get(`${bfe.url}/sticky/x`, h({ 'x-session': 'RS1' }))
        assert.equal(r.status, 200)
        assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`)
      }
    } finally {
      process.kill(redis.pid, 'SIGCONT')
    }
  })

  it('serves every request while Redis is down', async () => {
    const before = JSON.parse(
      (await monitorGet(bfe.server.monitorPort, '/monitor/mod_session_sticky')).body,
    ).CounterData as Record<string, number>
    client.disconnect()
    await redis.close()
    for (let i = 0; i < 5; i++) {
      const r = await get(`${bfe.url}/sticky/x`, h({ 'x-session': 'RS1' }))
      assert.equal(r.status, 200)
      const l = await get(`${bfe.url}/sticky/login?new=RS3`, h())
      assert.equal(l.status, 200)
    }
    const after = JSON.parse(
      (await monitorGet(bfe.server.monitorPort, '/monitor/mod_session_sticky')).body,
    ).CounterData as Record<string, number>
    assert.ok((after['CACHE_GET_FAIL'] ?? 0) >= (before['CACHE_GET_FAIL'] ?? 0) + 5)
    assert.ok((after['CACHE_SET_FAIL'] ?? 0) >= (before['CACHE_SET_FAIL'] ?? 0) + 5)
  })
})
