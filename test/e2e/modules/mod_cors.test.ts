import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

const CONF = '[Basic]\nDataPath = mod_cors/cors_rule.data\n[Log]\nOpenDebug = false\n'

function rules(version: string, appOrigin = 'https://app.test'): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        {
          Cond: 'req_host_in("api.test")',
          AccessControlAllowOrigins: [appOrigin, 'https://admin.test'],
          AccessControlAllowCredentials: true,
          AccessControlExposeHeaders: ['X-Total', 'X-Page'],
          AccessControlAllowMethods: ['GET', 'POST', 'PATCH'],
          AccessControlAllowHeaders: ['X-Token', 'Content-Type'],
          AccessControlMaxAge: 600,
        },
        {
          Cond: 'req_host_in("echo.test")',
          AccessControlAllowOrigins: ['%origin'],
          AccessControlMaxAge: -1,
        },
        {
          Cond: 'req_host_in("star.test")',
          AccessControlAllowOrigins: ['*'],
          AccessControlAllowMethods: ['*'],
        },
      ],
    },
  })
}

const CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
]

describe('mod_cors', () => {
  let up: Upstream
  let bfe: RunningBfe

  before(async () => {
    up = await startUpstream((req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'text/plain', vary: 'Accept-Encoding' })
      res.end('backend')
    })
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_cors'],
        files: { 'mod_cors/mod_cors.conf': CONF, 'mod_cors/cors_rule.data': rules('v1') },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  const preflight = (host: string, origin: string, method = 'PATCH') =>
    get(`${bfe.url}/items`, {
      method: 'OPTIONS',
      headers: { host, origin, 'access-control-request-method': method },
    })

  it('answers a preflight from an allowed origin with 204 and every CORS header', async () => {
    const seen = up.seen.length
    const r = await preflight('api.test', 'https://admin.test')
    assert.equal(r.status, 204)
    assert.equal(r.headers['server'], 'bfe')
    assert.equal(r.headers['access-control-allow-origin'], 'https://admin.test')
    assert.equal(r.headers['access-control-allow-credentials'], 'true')
    assert.equal(r.headers['access-control-allow-methods'], 'GET,POST,PATCH')
    assert.equal(r.headers['access-control-allow-headers'], 'X-Token,Content-Type')
    assert.equal(r.headers['access-control-max-age'], '600')
    assert.equal(r.headers['access-control-expose-headers'], undefined)
    assert.equal(r.headers['vary'], 'Origin')
    assert.equal(up.seen.length, seen, 'the backend never saw the preflight')
  })

  it('answers a preflight from another origin with a bare 204', async () => {
    const r = await preflight('api.test', 'https://evil.test')
    assert.equal(r.status, 204)
    for (const h of [...CORS_HEADERS, 'vary']) assert.equal(r.headers[h], undefined, h)
  })

  it('forwards OPTIONS that is not a preflight', async () => {
    const seen = up.seen.length
    const r = await preflight('api.test', 'https://app.test', 'FETCH')
    assert.equal(r.status, 200)
    assert.equal(r.body, 'backend')
    assert.equal(up.seen.length, seen + 1)
    // It carries an Origin, so it is an actual CORS request.
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.test')
  })

  it('adds CORS headers to actual responses for allowed origins only', async () => {
    const r = await get(`${bfe.url}/items`, {
      headers: { host: 'api.test', origin: 'https://app.test' },
    })
    assert.equal(r.status, 200)
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.test')
    assert.equal(r.headers['access-control-allow-credentials'], 'true')
    assert.equal(r.headers['access-control-expose-headers'], 'X-Total,X-Page')
    assert.equal(r.headers['access-control-allow-methods'], undefined)
    assert.equal(r.headers['access-control-max-age'], undefined)
    assert.equal(r.headers['vary'], 'Accept-Encoding,Origin')

    const other = await get(`${bfe.url}/items`, {
      headers: { host: 'api.test', origin: 'https://evil.test' },
    })
    for (const h of CORS_HEADERS) assert.equal(other.headers[h], undefined, h)
    assert.equal(other.headers['vary'], 'Accept-Encoding')

    const none = await get(`${bfe.url}/items`, { headers: { host: 'api.test' } })
    for (const h of CORS_HEADERS) assert.equal(none.headers[h], undefined, h)
  })

  it('echoes any origin for %origin and answers * for *', async () => {
    const e = await preflight('echo.test', 'https://whoever.test', 'DELETE')
    assert.equal(e.status, 204)
    assert.equal(e.headers['access-control-allow-origin'], 'https://whoever.test')
    assert.equal(e.headers['access-control-max-age'], '-1')
    assert.equal(e.headers['access-control-allow-credentials'], undefined)
    const s = await preflight('star.test', 'https://whoever.test', 'PUT')
    assert.equal(s.headers['access-control-allow-origin'], '*')
    assert.equal(s.headers['access-control-allow-methods'], '*')
    const actual = await get(`${bfe.url}/`, {
      headers: { host: 'star.test', origin: 'https://x.test' },
    })
    assert.equal(actual.headers['access-control-allow-origin'], '*')
  })

  it('works on HTTP/2 (preflight and actual request)', async () => {
    const p = await h2Request(bfe.tlsPort, '/items', {
      method: 'OPTIONS',
      authority: 'api.test',
      headers: { origin: 'https://app.test', 'access-control-request-method': 'POST' },
    })
    assert.equal(p.status, 204)
    assert.equal(p.headers['access-control-allow-origin'], 'https://app.test')
    assert.equal(p.headers['access-control-allow-methods'], 'GET,POST,PATCH')
    const a = await h2Request(bfe.tlsPort, '/items', {
      authority: 'api.test',
      headers: { origin: 'https://app.test' },
    })
    assert.equal(a.status, 200)
    assert.equal(a.headers['access-control-expose-headers'], 'X-Total,X-Page')
    assert.equal(a.headers['vary'], 'Accept-Encoding,Origin')
  })

  it('counts rule hits, preflights and origin verdicts', async () => {
    const c = JSON.parse(
      (await monitorGet(bfe.server.monitorPort, '/monitor/mod_cors')).body,
    ).CounterData
    assert.equal(c.REQ_PRE_FLIGHT_HIT, 5)
    assert.equal(c.REQ_CORS_RULE_HIT, 10)
    assert.equal(c.REQ_ALLOW_ORIGIN_HIT, 8)
    assert.equal(c.REQ_NOT_ALLOW_ORIGIN_HIT, 2)
  })

  it('reloads good rules and keeps them when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_cors', 'cors_rule.data')
    writeFileSync(file, rules('v2', 'https://new.test'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_cors')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'cors_rule.data=v2' })
    const n = await preflight('api.test', 'https://new.test')
    assert.equal(n.headers['access-control-allow-origin'], 'https://new.test')
    assert.equal((await preflight('api.test', 'https://app.test')).headers['vary'], undefined)

    writeFileSync(file, rules('v3', 'https://*.test'))
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_cors')
    assert.match(
      JSON.parse(bad.body).error,
      /cors_rule\.data: \/Config\/p\/0\/AccessControlAllowOrigins\/0 "https:\/\/\*\.test" is not supported/,
    )
    const still = await preflight('api.test', 'https://new.test')
    assert.equal(still.headers['access-control-allow-origin'], 'https://new.test')
  })

  it('refuses to start with bad rules, naming file, field and reason', async () => {
    const start = (rule: unknown) =>
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_cors'],
          files: {
            'mod_cors/mod_cors.conf': CONF,
            'mod_cors/cors_rule.data': JSON.stringify({ Version: '1', Config: { p: [rule] } }),
          },
        }),
      )
    await assert.rejects(
      start({
        Cond: 'default_t()',
        AccessControlAllowOrigins: ['*'],
        AccessControlAllowCredentials: true,
      }),
      /cors_rule\.data: \/Config\/p\/0\/AccessControlAllowOrigins\/0 "\*" cannot be used/,
    )
    await assert.rejects(
      start({
        Cond: 'default_t()',
        AccessControlAllowOrigins: ['*'],
        AccessControlAllowMethods: ['MOVE'],
      }),
      /\/Config\/p\/0\/AccessControlAllowMethods\/0 "MOVE" is not one of/,
    )
    await assert.rejects(
      start({ Cond: 'default_t()', AccessControlAllowOrigins: ['*'], AccessControlMaxAge: '10' }),
      /\/Config\/p\/0\/AccessControlMaxAge must be/,
    )
    await assert.rejects(
      start({ Cond: 'req_host_in(', AccessControlAllowOrigins: ['*'] }),
      /cors_rule\.data: \/Config\/p\/0\/Cond/,
    )
  })
})
