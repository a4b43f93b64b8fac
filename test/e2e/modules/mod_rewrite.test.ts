import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// The BFE docs scenario (docs/en_us/example/rewrite.md): /service is served as /v1/service.
function rewriteData(version: string, prefix: string): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        {
          Cond: 'req_path_prefix_in("/service", false)',
          Actions: [{ Cmd: 'PATH_PREFIX_ADD', Params: [prefix] }],
          Last: true,
        },
        {
          Cond: 'req_path_prefix_in("/api.test/", false)',
          Actions: [
            { Cmd: 'HOST_SET_FROM_PATH_PREFIX', Params: [] },
            { Cmd: 'query_add', Params: ['from', 'bfe'] },
            { Cmd: 'QUERY_DEL', Params: ['secret'] },
          ],
          Last: false,
        },
        {
          // Sees the path the rule above left.
          Cond: 'req_path_prefix_in("/v0/", false)',
          Actions: [{ Cmd: 'PATH_PREFIX_TRIM', Params: ['/v0'] }],
          Last: true,
        },
        {
          Cond: 'default_t()',
          Actions: [{ Cmd: 'PATH_SET', Params: ['/never'] }],
          Last: true,
        },
      ],
    },
  })
}

describe('mod_rewrite', () => {
  let up: Upstream
  let bfe: RunningBfe

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_rewrite'],
        files: {
          'mod_rewrite/mod_rewrite.conf': '[basic]\nDataPath = mod_rewrite/rewrite.data\n',
          'mod_rewrite/rewrite.data': rewriteData('v1', '/v1/'),
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('rewrites the path sent to the backend (BFE docs scenario, HTTP/1.1)', async () => {
    const r = await get(`${bfe.url}/service?x=1`, { headers: { host: 'example.org' } })
    assert.equal(r.status, 200)
    assert.equal(up.seen.at(-1)?.url, '/v1/service?x=1')
  })

  it('applies every matching rule until Last: host from the path, query changes, trim', async () => {
    const r = await get(`${bfe.url}/api.test/v0/x?secret=1&keep=2`)
    assert.equal(r.status, 200)
    const seen = up.seen.at(-1)
    assert.equal(seen?.headers.host, 'api.test')
    assert.equal(seen?.url, '/x?keep=2&from=bfe')
  })

  it('rewrites HTTP/2 requests the same way', async () => {
    const r = await h2Request(bfe.tlsPort, '/service/a', { authority: 'example.org' })
    assert.equal(r.status, 200)
    assert.equal(up.seen.at(-1)?.url, '/v1/service/a')
  })

  it('reloads a good file and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_rewrite', 'rewrite.data')
    writeFileSync(file, rewriteData('v2', '/v2/'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_rewrite')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'rewrite.data=v2' })
    await get(`${bfe.url}/service`)
    assert.equal(up.seen.at(-1)?.url, '/v2/service')

    writeFileSync(
      file,
      JSON.stringify({
        Version: 'v3',
        Config: {
          p: [{ Cond: 'default_t()', Actions: [{ Cmd: 'PATH_SET', Params: [] }], Last: true }],
        },
      }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_rewrite')
    assert.match(
      JSON.parse(bad.body).error,
      /rewrite\.data.*\/Config\/p\/0\/Actions\/0\/Params of PATH_SET must have 1 item, got 0/,
    )
    await get(`${bfe.url}/service`)
    assert.equal(up.seen.at(-1)?.url, '/v2/service')
  })

  it('refuses to start with an unknown action, naming file and field', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_rewrite'],
          files: {
            'mod_rewrite/mod_rewrite.conf': '[Basic]\nDataPath = mod_rewrite/rewrite.data\n',
            'mod_rewrite/rewrite.data': JSON.stringify({
              Version: '1',
              Config: {
                p: [
                  {
                    Cond: 'default_t()',
                    Actions: [{ Cmd: 'PATH_JUMP', Params: ['/'] }],
                    Last: true,
                  },
                ],
              },
            }),
          },
        }),
      ),
      /rewrite\.data.*\/Config\/p\/0\/Actions\/0\/Cmd "PATH_JUMP" is not one of/,
    )
  })
})
