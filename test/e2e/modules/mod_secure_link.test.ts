import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { COUNTERS } from '../../../src/modules/mod_secure_link/index.js'
import { get, h2Request, rawExchange } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

const SECRET = 'k3y-for-tests'

function sign(text: string): string {
  return createHash('md5').update(text).digest('base64url')
}

function data(version: string, secret: string): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        {
          Cond: 'req_path_prefix_in("/dl/", false)',
          ChecksumKey: 'sign',
          ExpiresKey: 'e',
          ExpressionNodes: [
            { Type: 'label', Param: secret },
            { Type: 'uri' },
            { Type: 'query', Param: 'e' },
          ],
        },
      ],
    },
  })
}

/** A link to `path` valid until `expires` (unix seconds), signed as the rule says (D11). */
function link(path: string, expires: number, secret = SECRET): string {
  const uri = `${path}?e=${expires}`
  return `${uri}&sign=${sign(`${secret}${uri}${expires}`)}`
}

describe('mod_secure_link', () => {
  let up: Upstream
  let bfe: RunningBfe
  const later = () => Math.floor(Date.now() / 1000) + 600

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_secure_link'],
        files: {
          'mod_secure_link/mod_secure_link.conf':
            '[Basic]\nDataPath = mod_secure_link/secure_link.data\n[Log]\nOpenDebug = true\n',
          'mod_secure_link/secure_link.data': data('v1', SECRET),
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('forwards a good link and answers others with an empty 403 (HTTP/1.1)', async () => {
    const good = await get(`${bfe.url}${link('/dl/a.iso', later())}`)
    assert.equal(good.status, 200)
    assert.equal(good.body, `ok ${up.port}`)

    const u = link('/dl/a.iso', later())
    for (const bad of [
      u.replace('/a.iso', '/b.iso'), // another file
      u.replace(/sign=.*/, 'sign=AAAA'), // a wrong checksum
      u.replace(/&sign=.*/, ''), // no checksum
      link('/dl/a.iso', Math.floor(Date.now() / 1000) - 5), // expired
      `/dl/a.iso?sign=${sign(`${SECRET}/dl/a.iso`)}`, // no expiry
      link('/dl/a.iso', later(), 'other-secret'),
      '/dl/a.iso?e=soon&sign=x', // a bad expiry
    ]) {
      const r = await get(`${bfe.url}${bad}`)
      assert.equal(r.status, 403, bad)
      assert.equal(r.body, '')
      assert.equal(r.headers['server'], 'bfe')
      assert.equal(r.headers['content-length'], '0')
    }
    // paths no rule matches are not checked
    assert.equal((await get(`${bfe.url}/pub/x`)).status, 200)
  })

  it('sends a complete 403 and keeps the connection usable', async () => {
    const two = `GET /dl/x HTTP/1.1\r\nHost: p.test\r\n\r\nGET ${link('/dl/x', later())} HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n`
    const r = await rawExchange(bfe.port, two)
    assert.match(r.data, /^HTTP\/1\.1 403 Forbidden\r\n/)
    assert.match(r.data, /\r\n\r\nHTTP\/1\.1 200 OK\r\n/)
  })

  it('checks HTTP/2 requests the same way', async () => {
    const ok = await h2Request(bfe.tlsPort, link('/dl/h2', later()), { authority: 'p.test' })
    assert.equal(ok.status, 200)
    const no = await h2Request(bfe.tlsPort, '/dl/h2?e=1&sign=x', { authority: 'p.test' })
    assert.equal(no.status, 403)
    assert.equal(no.body.length, 0)
  })

  it('counts outcomes at /monitor/mod_secure_link', async () => {
    const m = await monitorGet(bfe.server.monitorPort, '/monitor/mod_secure_link')
    const c = JSON.parse(m.body).CounterData as Record<(typeof COUNTERS)[number], number>
    assert.ok(c.REQ_ACCEPT >= 3)
    assert.ok(c.REQ_INVALID_CHECKSUM >= 3)
    assert.ok(c.REQ_EXPIRED >= 2)
    assert.ok(c.REQ_WITHOUT_CHECKSUM_KEY >= 1)
    assert.ok(c.REQ_WITHOUT_EXPIRES_KEY >= 2)
    assert.ok(c.REQ_INVALID_EXPIRES_VALUE >= 1)
    assert.equal(
      c.REQ_TOTAL,
      c.REQ_ACCEPT +
        c.REQ_INVALID_CHECKSUM +
        c.REQ_EXPIRED +
        c.REQ_WITHOUT_CHECKSUM_KEY +
        c.REQ_WITHOUT_EXPIRES_KEY +
        c.REQ_INVALID_EXPIRES_VALUE,
    )
  })

  it('reloads a new secret and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_secure_link', 'secure_link.data')
    writeFileSync(file, data('v2', 'new-secret'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_secure_link')
    assert.deepEqual(JSON.parse(ok.body), { error: null })
    assert.equal((await get(`${bfe.url}${link('/dl/a', later())}`)).status, 403)
    assert.equal((await get(`${bfe.url}${link('/dl/a', later(), 'new-secret')}`)).status, 200)

    writeFileSync(
      file,
      JSON.stringify({
        Version: 'v3',
        Config: { p: [{ Cond: 'default_t()', ExpressionNodes: [{ Type: 'cookie' }] }] },
      }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_secure_link')
    assert.match(
      JSON.parse(bad.body).error,
      /secure_link\.data.*\/Config\/p\/0\/ExpressionNodes\/0\/Type/,
    )
    assert.equal((await get(`${bfe.url}${link('/dl/a', later(), 'new-secret')}`)).status, 200)
  })

  it('refuses to start with a bad condition or an empty ChecksumKey, naming file and field', async () => {
    const start = (rule: Record<string, unknown>) =>
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_secure_link'],
          files: {
            'mod_secure_link/mod_secure_link.conf': '[Basic]\n',
            'mod_secure_link/secure_link.data': JSON.stringify({
              Version: '1',
              Config: { p: [{ Cond: 'default_t()', ExpressionNodes: [], ...rule }] },
            }),
          },
        }),
      )
    await assert.rejects(
      start({ Cond: 'req_path_in("/a"' }),
      /secure_link\.data.*\/Config\/p\/0\/Cond/,
    )
    await assert.rejects(
      start({ ChecksumKey: '' }),
      /secure_link\.data.*\/Config\/p\/0\/ChecksumKey.*must not be empty/,
    )
    await assert.rejects(start({ ExpiresKey: 5 }), /secure_link\.data.*\/Config\/p\/0\/ExpiresKey/)
  })
})
