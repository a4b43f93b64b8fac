import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

function headerData(version: string, proxiedBy: string): string {
  return JSON.stringify({
    Version: version,
    Config: {
      global: [
        {
          cond: 'default_t()',
          actions: [{ cmd: 'REQ_HEADER_ADD', params: ['x-global', 'g'] }],
          last: false,
        },
      ],
      p: [
        // BFE's shipped rule: /header responses carry X-Proxied-By.
        {
          cond: 'req_path_prefix_in("/header", false)',
          actions: [{ cmd: 'RSP_HEADER_SET', params: ['X-Proxied-By', proxiedBy] }],
          last: true,
        },
        {
          Cond: 'req_path_prefix_in("/api/", false)',
          Actions: [
            { Cmd: 'REQ_HEADER_SET', Params: ['X-Client', '%bfe_client_ip:%bfe_client_port'] },
            { Cmd: 'REQ_HEADER_SET', Params: ['X-Proto', '%bfe_protocol %bfe_ssl_version|%%'] },
            { Cmd: 'REQ_HEADER_RENAME', Params: ['X-Old', 'X-New'] },
            { Cmd: 'REQ_COOKIE_SET', Params: ['lang', 'en'] },
            { Cmd: 'RSP_HEADER_DEL', Params: ['X-Powered-By'] },
            { Cmd: 'RSP_HEADER_MOD', Params: ['scheme_set', 'Location', 'https'] },
            { Cmd: 'RSP_HEADER_ADD', Params: ['X-Backend', '%bfe_backend_info'] },
          ],
          Last: true,
        },
        // Never reached for /api/ (the rule above is Last) at either stage.
        {
          Cond: 'default_t()',
          Actions: [
            { Cmd: 'REQ_HEADER_SET', Params: ['X-Default', '1'] },
            { Cmd: 'RSP_HEADER_SET', Params: ['X-Default', '1'] },
          ],
          Last: false,
        },
      ],
    },
  })
}

describe('mod_header', () => {
  let up: Upstream
  let bfe: RunningBfe

  before(async () => {
    up = await startUpstream((req, res) => {
      req.resume()
      res.writeHead(200, {
        'X-Powered-By': 'php',
        Location: 'http://a.test/next',
        'Content-Length': '2',
      })
      res.end('ok')
    })
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_header'],
        files: {
          'mod_header/mod_header.conf': '[basic]\nDataPath = mod_header/header_rule.data\n',
          'mod_header/header_rule.data': headerData('v1', 'bfe'),
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('adds the default forwarding headers (HTTP/1.1)', async () => {
    await get(`${bfe.url}/plain`, {
      headers: { host: 'a.test', 'x-forwarded-for': '192.0.2.1', 'x-real-ip': '192.0.2.9' },
    })
    const h = up.seen.at(-1)?.headers
    assert.equal(h?.['x-forwarded-for'], '192.0.2.1, 127.0.0.1')
    assert.match(String(h?.['x-forwarded-port']), /^\d+$/)
    assert.equal(h?.['x-forwarded-host'], 'a.test')
    assert.equal(h?.['x-real-ip'], '127.0.0.1')
    assert.equal(h?.['x-real-port'], h?.['x-forwarded-port'])
    assert.equal(h?.['x-bfe-ip'], '127.0.0.1')
    assert.equal(h?.['x-global'], 'g')
    assert.equal(h?.['x-default'], '1')
  })

  it('runs request and response actions with variables; Last stops each stage', async () => {
    const r = await get(`${bfe.url}/api/x`, { headers: { 'x-old': 'o', cookie: 'a=1' } })
    const h = up.seen.at(-1)?.headers
    assert.match(String(h?.['x-client']), /^127\.0\.0\.1:\d+$/)
    assert.equal(h?.['x-proto'], 'HTTP/1.1 |%')
    assert.equal(h?.['x-new'], 'o')
    assert.equal(h?.['x-old'], undefined)
    assert.equal(h?.cookie, 'a=1; lang=en')
    assert.equal(h?.['x-default'], undefined)
    assert.equal(r.headers['x-powered-by'], undefined)
    assert.equal(r.headers['location'], 'https://a.test/next')
    assert.equal(
      r.headers['x-backend'],
      `ClusterName:c,SubClusterName:c.a,BackendName:b0(127.0.0.1)`,
    )
    assert.equal(r.headers['x-default'], undefined)
  })

  it('sets response headers of BFE shipped rule, also on HTTP/2', async () => {
    const r = await get(`${bfe.url}/header`)
    assert.equal(r.headers['x-proxied-by'], 'bfe')
    const h2 = await h2Request(bfe.tlsPort, '/header', { authority: 'a.test' })
    assert.equal(h2.status, 200)
    assert.equal(h2.headers['x-proxied-by'], 'bfe')
    await h2Request(bfe.tlsPort, '/api/y', { authority: 'a.test' })
    assert.equal(up.seen.at(-1)?.headers['x-proto'], 'h2 TLSv1.3|%')
  })

  it('reloads a good file and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_header', 'header_rule.data')
    writeFileSync(file, headerData('v2', 'bfe-ts'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_header')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'header_rule.data=v2' })
    assert.equal((await get(`${bfe.url}/header`)).headers['x-proxied-by'], 'bfe-ts')

    writeFileSync(
      file,
      JSON.stringify({
        Version: 'v3',
        Config: {
          p: [
            {
              Cond: 'default_t()',
              Actions: [{ Cmd: 'RSP_HEADER_SET', Params: ['X-A', '%no_such_var'] }],
              Last: true,
            },
          ],
        },
      }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_header')
    assert.match(
      JSON.parse(bad.body).error,
      /header_rule\.data.*\/Config\/p\/0\/Actions\/0\/Params\/1 uses unknown variable %no_such_var/,
    )
    assert.equal((await get(`${bfe.url}/header`)).headers['x-proxied-by'], 'bfe-ts')
  })

  it('DisableDefaultHeader leaves the forwarding headers out', async () => {
    const quiet = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_header'],
        files: {
          'mod_header/mod_header.conf':
            '[Basic]\nDataPath = mod_header/header_rule.data\nDisableDefaultHeader = true\n',
          'mod_header/header_rule.data': JSON.stringify({ Version: '1', Config: {} }),
        },
      }),
    )
    try {
      await get(`${quiet.url}/plain`)
      const h = up.seen.at(-1)?.headers
      assert.equal(h?.['x-forwarded-for'], undefined)
      assert.equal(h?.['x-bfe-ip'], undefined)
    } finally {
      await quiet.close()
    }
  })

  it('refuses to start with a missing Last, naming file and field', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_header'],
          files: {
            'mod_header/mod_header.data': JSON.stringify({
              Version: '1',
              Config: {
                p: [{ Cond: 'default_t()', Actions: [{ Cmd: 'REQ_HEADER_DEL', Params: ['X-A'] }] }],
              },
            }),
            'mod_header/mod_header.conf': '[Log]\nOpenDebug = false\n',
          },
        }),
      ),
      /mod_header\.data.*\/Config\/p\/0\/Last is required/,
    )
  })
})
