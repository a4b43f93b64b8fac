import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

function data(version: string, config: Record<string, unknown[]>): string {
  return JSON.stringify({ Version: version, Config: config })
}

const RULES = {
  p: [
    {
      Cond: 'req_path_prefix_in("/shop/", false)',
      Params: { Name: 'shop_uid', Domain: 'p.test', Path: '/shop', MaxAge: 600 },
    },
    { Cond: 'default_t()', Params: { Name: 'uid', Path: '/', MaxAge: 3600 } },
  ],
}

describe('mod_userid', () => {
  let up: Upstream
  let bfe: RunningBfe

  before(async () => {
    // The backend answers with the Cookie header it received.
    up = await startUpstream((req, res) => {
      req.resume()
      res.end(String(req.headers.cookie ?? ''))
    })
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_userid'],
        files: {
          'mod_userid/mod_userid.conf': '[Basic]\nDataPath = mod_userid/userid_rule.data\n',
          'mod_userid/userid_rule.data': data('v1', RULES),
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('gives a client without the cookie a new id, seen by the backend too (HTTP/1.1)', async () => {
    const before = Date.now()
    const r = await get(`${bfe.url}/page`, { headers: { host: 'p.test', cookie: 'a=1' } })
    assert.equal(r.status, 200)
    const m = /^a=1; uid=([0-9a-f]+)$/.exec(r.body)
    assert.ok(m, r.body)
    const id = m[1] as string
    assert.match(Buffer.from(id, 'hex').toString(), /^\d{19}_\d+$/)
    const sc = String(r.headers['set-cookie'])
    const parts = sc.split('; ')
    assert.equal(parts[0], `uid=${id}`)
    assert.equal(parts[1], 'Path=/')
    assert.equal(parts[3], 'Max-Age=3600')
    const expires = Date.parse((parts[2] as string).replace(/^Expires=/, ''))
    assert.ok(expires >= Math.floor(before / 1000) * 1000 + 3600_000 - 1000, parts[2])
    assert.ok(expires <= Date.now() + 3600_000 + 1000, parts[2])
  })

  it('leaves a client that has the cookie alone; the first matching rule decides', async () => {
    const r = await get(`${bfe.url}/page`, { headers: { host: 'p.test', cookie: 'uid=known' } })
    assert.equal(r.body, 'uid=known')
    assert.equal(r.headers['set-cookie'], undefined)
    // /shop/ matches the first rule: its own cookie, even when uid is present
    const s = await get(`${bfe.url}/shop/x`, { headers: { host: 'p.test', cookie: 'uid=known' } })
    assert.match(s.body, /^uid=known; shop_uid=[0-9a-f]+$/)
    assert.match(
      String(s.headers['set-cookie']),
      /^shop_uid=[0-9a-f]+; Path=\/shop; Domain=p\.test; Expires=[^;]+ GMT; Max-Age=600$/,
    )
  })

  it('works the same on HTTP/2', async () => {
    const r = await h2Request(bfe.tlsPort, '/h2', { authority: 'p.test' })
    assert.equal(r.status, 200)
    const id = /^uid=([0-9a-f]+)$/.exec(r.body.toString())?.[1]
    assert.ok(id, r.body.toString())
    assert.match(String(r.headers['set-cookie']), new RegExp(`^uid=${id}; Path=/;`))
    const again = await h2Request(bfe.tlsPort, '/h2', {
      authority: 'p.test',
      headers: { cookie: `uid=${id}` },
    })
    assert.equal(again.headers['set-cookie'], undefined)
  })

  it('reloads (global rules when the product has none) and keeps the rules on a broken file', async () => {
    const file = join(bfe.confRoot, 'mod_userid', 'userid_rule.data')
    writeFileSync(
      file,
      data('v2', { global: [{ Cond: 'default_t()', Params: { Name: 'gid', MaxAge: 5 } }] }),
    )
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_userid')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'userid_rule.data=v2' })
    const g = await get(`${bfe.url}/`, { headers: { host: 'p.test' } })
    assert.match(g.body, /^gid=[0-9a-f]+$/)
    assert.match(String(g.headers['set-cookie']), /^gid=[0-9a-f]+; Expires=[^;]+; Max-Age=5$/)

    writeFileSync(file, data('v3', { p: [] }))
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_userid')
    assert.match(JSON.parse(bad.body).error, /userid_rule\.data.*\/Config\/p.*must not be empty/)
    const still = await get(`${bfe.url}/`, { headers: { host: 'p.test' } })
    assert.match(still.body, /^gid=/)
  })

  it('refuses to start with a rule without Params, naming file and field', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_userid'],
          files: {
            'mod_userid/mod_userid.conf': '[Basic]\nDataPath = mod_userid/userid_rule.data\n',
            'mod_userid/userid_rule.data': data('1', { p: [{ Cond: 'default_t()' }] }),
          },
        }),
      ),
      /userid_rule\.data.*\/Config\/p\/0\/Params.*required/,
    )
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_userid'],
          files: {
            'mod_userid/mod_userid.conf': '[Basic]\nDataPath = mod_userid/userid_rule.data\n',
            'mod_userid/userid_rule.data': data('1', {
              p: [{ Cond: 'default_t()', Params: { Name: 'u', MaxAge: '10' } }],
            }),
          },
        }),
      ),
      /userid_rule\.data.*\/Config\/p\/0\/Params\/MaxAge/,
    )
  })
})
