import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// The BFE docs scenario (docs/en_us/example/redirect.md), plus one rule of each other command.
function redirectData(version: string, status: number): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        {
          Cond: '!req_proto_secure() && req_host_in("example.org")',
          Actions: [{ Cmd: 'SCHEME_SET', Params: ['https'] }],
          Status: status,
        },
        {
          Cond: 'req_path_prefix_in("/redirect", false)',
          Actions: [{ Cmd: 'URL_SET', Params: ['https://example.org'] }],
          Status: 301,
        },
        {
          Cond: 'req_path_prefix_in("/rel/", false)',
          Actions: [{ Cmd: 'URL_SET', Params: ['../other/./page'] }],
          Status: 302,
        },
        {
          Cond: 'req_path_prefix_in("/go", false)',
          Actions: [{ Cmd: 'URL_FROM_QUERY', Params: ['to'] }],
          Status: 307,
        },
        {
          Cond: 'req_path_prefix_in("/mirror", false)',
          Actions: [{ Cmd: 'URL_PREFIX_ADD', Params: ['http://mirror.test'] }],
          Status: 308,
        },
      ],
    },
  })
}

describe('mod_redirect', () => {
  let up: Upstream
  let bfe: RunningBfe

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_redirect'],
        files: {
          'mod_redirect/mod_redirect.conf': '[basic]\nDataPath = mod_redirect/redirect.data\n',
          'mod_redirect/redirect.data': redirectData('v1', 301),
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('redirects plain HTTP to HTTPS (BFE docs scenario)', async () => {
    const doc = await get(`${bfe.url}/test`, { headers: { host: 'example.org' } })
    assert.equal(doc.status, 301)
    assert.equal(doc.headers['location'], 'https://example.org/test')
    const r = await get(`${bfe.url}/test?b=1`, { headers: { host: 'example.org' } })
    assert.equal(r.status, 301)
    assert.equal(r.headers['location'], 'https://example.org/test?b=1')
    assert.equal(r.headers['server'], 'bfe')
    assert.equal(r.body, '<a href="https://example.org/test?b=1">Moved Permanently</a>.\n\n')
    assert.equal(up.seen.length, 0)
  })

  it('writes each command with its status; HEAD gets no body', async () => {
    const set = await get(`${bfe.url}/redirect`)
    assert.equal(set.status, 301)
    assert.equal(set.headers['location'], 'https://example.org')
    const rel = await get(`${bfe.url}/rel/a/b`)
    assert.equal(rel.status, 302)
    assert.equal(rel.headers['location'], '/rel/other/page')
    const q = await get(`${bfe.url}/go?to=${encodeURIComponent('https://x.test/?a=1&b=2')}`)
    assert.equal(q.status, 307)
    assert.equal(q.headers['location'], 'https://x.test/?a=1&b=2')
    const head = await get(`${bfe.url}/mirror/p?q=1`, { method: 'HEAD' })
    assert.equal(head.status, 308)
    assert.equal(head.headers['location'], 'http://mirror.test/mirror/p?q=1')
    assert.equal(head.body, '')
    const none = await get(`${bfe.url}/plain`)
    assert.equal(none.status, 200)
  })

  it('leaves HTTPS requests alone and redirects HTTP/2 requests by their rules', async () => {
    const secure = await h2Request(bfe.tlsPort, '/test', { authority: 'example.org' })
    assert.equal(secure.status, 200)
    const r = await h2Request(bfe.tlsPort, '/redirect', { authority: 'example.org' })
    assert.equal(r.status, 301)
    assert.equal(r.headers['location'], 'https://example.org')
  })

  it('reloads a good file (answering its version) and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_redirect', 'redirect.data')
    writeFileSync(file, redirectData('v2', 302))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_redirect')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'redirect.data=v2' })
    assert.equal((await get(`${bfe.url}/`, { headers: { host: 'example.org' } })).status, 302)

    writeFileSync(
      file,
      JSON.stringify({
        Version: 'v3',
        Config: { p: [{ Cond: 'default_t()', Actions: [{ Cmd: 'URL_SET', Params: ['/x'] }] }] },
      }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_redirect')
    assert.match(JSON.parse(bad.body).error, /redirect\.data.*\/Config\/p\/0\/Status is required/)
    assert.equal((await get(`${bfe.url}/`, { headers: { host: 'example.org' } })).status, 302)
  })

  it('refuses to start with a wrong parameter count, naming file and field', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_redirect'],
          files: {
            'mod_redirect/mod_redirect.conf': '[Basic]\nDataPath = mod_redirect/redirect.data\n',
            'mod_redirect/redirect.data': JSON.stringify({
              Version: '1',
              Config: {
                p: [
                  {
                    Cond: 'default_t()',
                    Actions: [{ Cmd: 'URL_SET', Params: ['a', 'b'] }],
                    Status: 301,
                  },
                ],
              },
            }),
          },
        }),
      ),
      /redirect\.data.*\/Config\/p\/0\/Actions\/0\/Params must have exactly 1 item, got 2/,
    )
  })
})
