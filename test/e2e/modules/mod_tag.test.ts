import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// Two clusters: requests tagged `color=blue` by mod_tag go to `blue`, the rest to `c`.
function tagData(version: string, host: string): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        {
          Cond: `req_host_in("${host}")`,
          Param: { TagName: 'color', TagValue: 'blue' },
          Last: true,
        },
        { Cond: 'default_t()', Param: { TagName: 'color', TagValue: 'never' }, Last: false },
      ],
    },
  })
}

describe('mod_tag', () => {
  let plain: Upstream
  let blue: Upstream
  let bfe: RunningBfe

  before(async () => {
    plain = await startUpstream()
    blue = await startUpstream()
    bfe = await startBfe(
      simpleConf([plain.port], {
        server: ['Modules = mod_tag'],
        routeRule: {
          Version: 't',
          ProductRule: {
            p: [
              { Cond: 'req_tag_match("color", "blue")', ClusterName: 'blue' },
              { Cond: 'default_t()', ClusterName: 'c' },
            ],
          },
        },
        clusterConf: { Version: 't', Config: { c: {}, blue: {} } },
        clusterTable: {
          c: { 'c.a': [{ Port: plain.port }] },
          blue: { 'blue.a': [{ Port: blue.port }] },
        },
        gslb: { c: { 'c.a': 100 }, blue: { 'blue.a': 100 } },
        files: {
          'mod_tag/mod_tag.conf':
            '[Basic]\nDataPath = mod_tag/tag_rule.data\n[Log]\nOpenDebug = false\n',
          'mod_tag/tag_rule.data': tagData('v1', 'a.test'),
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await plain.close()
    await blue.close()
  })

  it('tags requests so route rules can use req_tag_match (HTTP/1.1)', async () => {
    const a = await get(`${bfe.url}/x`, { headers: { host: 'a.test' } })
    assert.equal(a.body, `ok ${blue.port}`)
    const b = await get(`${bfe.url}/x`, { headers: { host: 'b.test' } })
    assert.equal(b.body, `ok ${plain.port}`)
  })

  it('tags HTTP/2 requests the same way', async () => {
    const r = await h2Request(bfe.tlsPort, '/x', { authority: 'a.test' })
    assert.equal(r.status, 200)
    assert.equal(r.body.toString(), `ok ${blue.port}`)
  })

  it('reloads a good file and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_tag', 'tag_rule.data')
    writeFileSync(file, tagData('v2', 'b.test'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_tag')
    assert.equal(ok.status, 200)
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'tag_rule.data=v2' })
    assert.equal(
      (await get(`${bfe.url}/`, { headers: { host: 'b.test' } })).body,
      `ok ${blue.port}`,
    )

    writeFileSync(
      file,
      JSON.stringify({ Version: 'v3', Config: { p: [{ Cond: 'req_host_in(', Param: {} }] } }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_tag')
    assert.match(JSON.parse(bad.body).error, /tag_rule\.data.*\/Config\/p\/0\/Cond/)
    assert.equal(
      (await get(`${bfe.url}/`, { headers: { host: 'b.test' } })).body,
      `ok ${blue.port}`,
    )
  })

  it('refuses to start with an empty TagName, naming file and field', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([plain.port], {
          server: ['Modules = mod_tag'],
          files: {
            'mod_tag/mod_tag.conf': '[Basic]\nDataPath = mod_tag/tag_rule.data\n',
            'mod_tag/tag_rule.data': JSON.stringify({
              Version: '1',
              Config: { p: [{ Cond: 'default_t()', Param: { TagName: '', TagValue: 'x' } }] },
            }),
          },
        }),
      ),
      /tag_rule\.data.*\/Config\/p\/0\/Param\/TagName.*must not be empty/,
    )
  })
})
