import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { closedPort, startUpstream, type Upstream } from '../../helpers/upstream.js'

const TIMEOUT_MS = 300

function conf(address: string, timeout = TIMEOUT_MS): string {
  return `[Basic]\nDataPath = mod_auth_request/auth_request_rule.data\nAuthAddress = ${address}\nAuthTimeout = ${timeout} # ms\n[Log]\nOpenDebug = false\n`
}

function rules(version: string, apiEnabled = true): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        { Cond: 'req_path_prefix_in("/api/", false)', Enable: apiEnabled },
        { Cond: 'req_path_prefix_in("/api/double", false)', Enable: true },
        { Cond: 'req_path_prefix_in("/off/", false)', Enable: false },
      ],
    },
  })
}

describe('mod_auth_request', () => {
  let backend: Upstream
  let auth: Upstream
  let bfe: RunningBfe
  const slowTimers = new Set<NodeJS.Timeout>()

  before(async () => {
    backend = await startUpstream()
    // The auth service decides by the client's Authorization header.
    auth = await startUpstream((req, res) => {
      req.resume()
      const who = req.headers.authorization ?? ''
      if (who === 'Bearer allow') res.writeHead(200).end('fine')
      else if (who === 'Bearer deny') res.writeHead(403).end('no')
      else if (who === 'Bearer teapot') res.writeHead(418).end()
      else if (who === 'Bearer moved') res.writeHead(302, { location: '/elsewhere' }).end()
      else if (who === 'Bearer slow') {
        const t = setTimeout(() => res.writeHead(403).end(), 6000)
        slowTimers.add(t)
      } else res.writeHead(401, { 'www-authenticate': 'Bearer realm="sso"' }).end()
    })
    bfe = await startBfe(
      simpleConf([backend.port], {
        server: ['Modules = mod_auth_request'],
        files: {
          'mod_auth_request/mod_auth_request.conf': conf(
            `http://127.0.0.1:${auth.port}/check?src=bfe`,
          ),
          'mod_auth_request/auth_request_rule.data': rules('v1'),
        },
      }),
    )
  })
  after(async () => {
    for (const t of slowTimers) clearTimeout(t)
    await bfe.close()
    await auth.close()
    await backend.close()
  })

  const call = (authorization: string, path = '/api/a?b=1', method = 'GET', body?: string) =>
    get(`${bfe.url}${path}`, {
      method,
      headers: { host: 'shop.test', authorization, 'x-trace': 't1' },
      ...(body === undefined ? {} : { body }),
    })

  it('asks the auth service with the request headers and forwards when it says 2xx', async () => {
    const r = await call('Bearer allow', '/api/a?b=1', 'POST', 'payload')
    assert.equal(r.status, 200)
    assert.equal(r.body, `ok ${backend.port}`)
    const sub = auth.seen.at(-1)
    assert.ok(sub !== undefined)
    assert.equal(sub.method, 'GET')
    assert.equal(sub.url, '/check?src=bfe')
    assert.equal(sub.headers.host, `127.0.0.1:${auth.port}`)
    assert.equal(sub.headers.authorization, 'Bearer allow')
    assert.equal(sub.headers['x-trace'], 't1')
    assert.equal(sub.headers['x-forwarded-method'], 'POST')
    assert.equal(sub.headers['x-forwarded-uri'], '/api/a?b=1')
    assert.equal(sub.headers['content-length'], undefined)
    assert.equal(backend.seen.at(-1)?.method, 'POST')
  })

  it('answers 401 with the service WWW-Authenticate, 403 as 403 (HTTP/1.1)', async () => {
    const seen = backend.seen.length
    const u = await call('Bearer nobody')
    assert.equal(u.status, 401)
    assert.equal(u.headers['www-authenticate'], 'Bearer realm="sso"')
    assert.equal(u.headers['server'], 'bfe')
    const f = await call('Bearer deny')
    assert.equal(f.status, 403)
    assert.equal(f.headers['www-authenticate'], undefined)
    assert.equal(backend.seen.length, seen, 'refused requests never reach the backend')
  })

  it('fails open on other statuses, without following redirects', async () => {
    const before = auth.seen.length
    assert.equal((await call('Bearer teapot')).status, 200)
    assert.equal((await call('Bearer moved')).status, 200)
    assert.equal(auth.seen.length, before + 2, 'the redirect was not followed')
  })

  it('fails open within AuthTimeout when the service is slow, never hangs', async () => {
    const t0 = Date.now()
    const r = await call('Bearer slow')
    const took = Date.now() - t0
    // 200, not the 403 the service sends after 6 s: the timeout let the request through.
    assert.equal(r.status, 200)
    assert.ok(took >= TIMEOUT_MS - 20, `took ${took} ms`)
    assert.ok(took < 4500, `took ${took} ms`)
  })

  it('asks once per enabled matching rule; disabled rules and other paths are not asked', async () => {
    let before = auth.seen.length
    assert.equal((await call('Bearer allow', '/api/double')).status, 200)
    assert.equal(auth.seen.length, before + 2)
    before = auth.seen.length
    assert.equal((await call('Bearer deny', '/off/x')).status, 200)
    assert.equal((await call('Bearer deny', '/public')).status, 200)
    assert.equal(auth.seen.length, before)
  })

  it('works on HTTP/2', async () => {
    const no = await h2Request(bfe.tlsPort, '/api/h2', {
      authority: 'shop.test',
      headers: { authorization: 'Bearer deny' },
    })
    assert.equal(no.status, 403)
    const yes = await h2Request(bfe.tlsPort, '/api/h2?q', {
      authority: 'shop.test',
      headers: { authorization: 'Bearer allow' },
    })
    assert.equal(yes.status, 200)
    assert.equal(auth.seen.at(-1)?.headers['x-forwarded-uri'], '/api/h2?q')
    assert.equal(auth.seen.at(-1)?.headers.host, `127.0.0.1:${auth.port}`)
  })

  it('counts every outcome and records the latency histogram', async () => {
    const c = JSON.parse(
      (await monitorGet(bfe.server.monitorPort, '/monitor/mod_auth_request')).body,
    ).CounterData
    assert.deepEqual(c, {
      AUTH_REQUEST_CHECKED: 10,
      AUTH_REQUEST_PASS: 4,
      AUTH_REQUEST_FORBIDDEN: 2,
      AUTH_REQUEST_UNAUTHORIZED: 1,
      AUTH_REQUEST_FAIL: 1,
      AUTH_REQUEST_UNCERTAIN: 2,
    })
    const d = JSON.parse(
      (await monitorGet(bfe.server.monitorPort, '/monitor/mod_auth_request.delay')).body,
    )
    assert.equal(d.KeyPrefix, 'mod_auth_request')
    assert.equal(d.Current.BucketSize, 1)
    assert.equal(d.Current.Count + d.Past.Count, 10)
    // The timed-out call took at least AuthTimeout: it is in the last bucket.
    assert.ok(d.Current.Counters[10] + d.Past.Counters[10] >= 1)
  })

  it('fails open at once when the auth service is down', async () => {
    const port = await closedPort()
    const down = await startBfe(
      simpleConf([backend.port], {
        server: ['Modules = mod_auth_request'],
        files: {
          'mod_auth_request/mod_auth_request.conf': conf(`http://127.0.0.1:${port}`, 20000),
          'mod_auth_request/auth_request_rule.data': rules('v1'),
        },
      }),
    )
    try {
      const t0 = Date.now()
      const r = await get(`${down.url}/api/x`, { headers: { authorization: 'Bearer deny' } })
      assert.equal(r.status, 200)
      // Refused at once: far below AuthTimeout (20 s).
      assert.ok(Date.now() - t0 < 8000)
      const c = JSON.parse(
        (await monitorGet(down.server.monitorPort, '/monitor/mod_auth_request')).body,
      ).CounterData
      assert.equal(c.AUTH_REQUEST_FAIL, 1)
    } finally {
      await down.close()
    }
  })

  it('reloads rules and keeps them when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_auth_request', 'auth_request_rule.data')
    writeFileSync(file, rules('v2', false))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_auth_request')
    assert.deepEqual(JSON.parse(ok.body), {
      error: null,
      version: 'auth_request_rule.data=v2',
    })
    assert.equal((await call('Bearer deny', '/api/x')).status, 200)

    writeFileSync(
      file,
      JSON.stringify({ Version: 'v3', Config: { p: [{ Cond: 'default_t()', Enable: 'yes' }] } }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_auth_request')
    assert.match(JSON.parse(bad.body).error, /auth_request_rule\.data: \/Config\/p\/0\/Enable/)
    assert.equal((await call('Bearer deny', '/api/x')).status, 200)
    assert.equal((await call('Bearer deny', '/api/double')).status, 403)
  })

  it('refuses to start with a bad .conf or rule file, naming file, field and reason', async () => {
    const start = (c: string, data = rules('v1')) =>
      startBfe(
        simpleConf([backend.port], {
          server: ['Modules = mod_auth_request'],
          files: {
            'mod_auth_request/mod_auth_request.conf': c,
            'mod_auth_request/auth_request_rule.data': data,
          },
        }),
      )
    await assert.rejects(
      start('[Basic]\nAuthTimeout = 100\n'),
      /mod_auth_request\.conf: \[Basic\] AuthAddress is required/,
    )
    await assert.rejects(
      start(conf('http://127.0.0.1:1', 0)),
      /mod_auth_request\.conf: \[Basic\] AuthTimeout must be > 0/,
    )
    await assert.rejects(
      start(
        conf('http://127.0.0.1:1'),
        JSON.stringify({ Version: '1', Config: { p: [{ Cond: 'req_path_in(', Enable: true }] } }),
      ),
      /auth_request_rule\.data: \/Config\/p\/0\/Cond/,
    )
    await assert.rejects(
      start(conf('http://127.0.0.1:1'), JSON.stringify({ Config: {} })),
      /auth_request_rule\.data: \/Version is required/,
    )
    await assert.rejects(
      start(conf('http://127.0.0.1:1'), JSON.stringify({ Version: '', Config: {} })),
      /auth_request_rule\.data: \/Version must not be empty/,
    )
  })
})
