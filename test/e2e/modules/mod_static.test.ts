import assert from 'node:assert/strict'
import { symlinkSync, writeFileSync } from 'node:fs'
import { connect as h2connect, constants as h2constants } from 'node:http2'
import { connect } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { gunzipSync, gzipSync } from 'node:zlib'
import { get, h2Request, rawExchange } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

const BIG = 8 * 1024 * 1024
const CSS = 'body { color: teal }\n'

function staticData(version: string, root: string): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        {
          Cond: 'req_host_in("bare.test")',
          Action: { Cmd: 'BROWSE', Params: [root, ''] },
        },
        {
          Cond: 'default_t()',
          Action: { Cmd: 'BROWSE', Params: [root, 'index.html'] },
        },
      ],
    },
  })
}

describe('mod_static', () => {
  let up: Upstream
  let bfe: RunningBfe

  const gauges = async (): Promise<Record<string, number>> => {
    const r = await monitorGet(bfe.server.monitorPort, '/monitor/mod_static')
    const j = JSON.parse(r.body) as Record<string, Record<string, number>>
    return { ...j['CounterData'], ...j['GaugeData'] }
  }

  /** The counters once FILE_CURRENT_OPENED is back to 0 (or after 5 s, for the assertion to fail). */
  const settled = async (): Promise<Record<string, number>> => {
    let g: Record<string, number> = {}
    const deadline = Date.now() + 5000
    do {
      g = await gauges()
      if (g['FILE_CURRENT_OPENED'] === 0) break
      await new Promise((r) => setTimeout(r, 50))
    } while (Date.now() < deadline)
    return g
  }

  before(async () => {
    up = await startUpstream()
    const conf = simpleConf([up.port], {
      server: ['Modules = mod_static'],
      files: {
        'mod_static/mod_static.conf':
          '[basic]\nDataPath = mod_static/static_rule.data\nMimeTypePath = mod_static/mime_type.data\nEnableCompress = true\n',
        'mod_static/mime_type.data': JSON.stringify({
          Version: 'm1',
          Config: { '.DAT': 'application/x-dat' },
        }),
        'www/index.html': '<p>index</p>',
        'www/a.css': CSS,
        'www/file.dat': 'dat',
        'www/big.bin': 'b'.repeat(BIG),
        'www/sub/x.txt': 'x',
        'www/sub/index.html': 'sub index',
        'secret.txt': 'secret',
      },
    })
    // `www` is resolved against the working directory first, then the configuration root (D17).
    ;(conf.files as Record<string, string>)['mod_static/static_rule.data'] = staticData('v1', 'www')
    bfe = await startBfe(conf)
    writeFileSync(join(bfe.confRoot, 'www', 'a.css.gz'), gzipSync(CSS))
    symlinkSync(join(bfe.confRoot, 'secret.txt'), join(bfe.confRoot, 'www', 'escape.txt'))
  })
  after(async () => {
    await bfe?.close()
    await up?.close()
  })

  it('serves files with type, length and Last-Modified; HEAD without body; 405 for POST', async () => {
    const r = await get(`${bfe.url}/a.css`)
    assert.equal(r.status, 200)
    assert.equal(r.body, CSS)
    assert.equal(r.headers['content-type'], 'text/css; charset=utf-8')
    assert.equal(r.headers['content-length'], String(CSS.length))
    assert.match(String(r.headers['last-modified']), /GMT$/)
    const dat = await get(`${bfe.url}/file.dat`)
    assert.equal(dat.headers['content-type'], 'application/x-dat')
    const head = await get(`${bfe.url}/a.css`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers['content-length'], String(CSS.length))
    assert.equal(head.body, '')
    const post = await get(`${bfe.url}/a.css`, { method: 'POST', body: 'x' })
    assert.equal(post.status, 405)
    assert.equal(up.seen.length, 0)
  })

  it('serves the pre-compressed sibling to clients that take gzip', async () => {
    const r = await get(`${bfe.url}/a.css`, { headers: { 'accept-encoding': 'gzip' } })
    assert.equal(r.headers['content-encoding'], 'gzip')
    assert.equal(r.headers['content-type'], 'text/css; charset=utf-8')
    assert.equal(r.headers['vary'], 'Accept-Encoding')
    const raw = await rawExchange(
      bfe.port,
      'GET /a.css HTTP/1.1\r\nHost: a.test\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n',
    )
    const body = Buffer.from(raw.data.slice(raw.data.indexOf('\r\n\r\n') + 4), 'latin1')
    assert.equal(gunzipSync(body).toString(), CSS)
  })

  it('falls back to the default file; 404 without one; never escapes the root', async () => {
    assert.equal((await get(`${bfe.url}/missing`)).body, '<p>index</p>')
    assert.equal((await get(`${bfe.url}/sub/`)).body, '<p>index</p>')
    assert.equal((await get(`${bfe.url}/sub/x.txt`, { headers: { host: 'bare.test' } })).body, 'x')
    assert.equal((await get(`${bfe.url}/missing`, { headers: { host: 'bare.test' } })).status, 404)
    assert.equal((await get(`${bfe.url}/sub/`, { headers: { host: 'bare.test' } })).status, 500)
    for (const target of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/sub/%2E%2E/../secret.txt',
      '/escape.txt',
    ]) {
      const r = await rawExchange(
        bfe.port,
        `GET ${target} HTTP/1.1\r\nHost: bare.test\r\nConnection: close\r\n\r\n`,
      )
      assert.match(r.data, /^HTTP\/1\.1 404 /, target)
      assert.doesNotMatch(r.data, /secret/, target)
    }
  })

  it('streams a large file in full, on HTTP/1.1 and HTTP/2', async () => {
    const r = await get(`${bfe.url}/big.bin`)
    assert.equal(r.body.length, BIG)
    const h2 = await h2Request(bfe.tlsPort, '/big.bin', { authority: 'a.test', timeoutMs: 20000 })
    assert.equal(h2.status, 200)
    assert.equal(h2.body.length, BIG)
    const g = await settled()
    assert.equal(g['FILE_CURRENT_OPENED'], 0)
    assert.ok((g['FILE_BROWSE_SIZE'] ?? 0) >= 2 * BIG)
  })

  it('closes the file when the client goes away mid-file', async () => {
    const before = (await gauges())['FILE_BROWSE_COUNT'] ?? 0
    await new Promise<void>((resolve, reject) => {
      const s = connect(bfe.port, '127.0.0.1')
      s.on('error', reject)
      let got = 0
      s.on('data', (c: Buffer) => {
        got += c.length
        // Some bytes arrived (the file is open and streaming): leave without reading the rest.
        if (got > 64 * 1024) {
          s.destroy()
          resolve()
        }
      })
      s.write('GET /big.bin HTTP/1.1\r\nHost: a.test\r\n\r\n')
    })
    const g = await settled()
    assert.equal(g['FILE_CURRENT_OPENED'], 0)
    assert.equal(g['FILE_BROWSE_COUNT'], before + 1)
  })

  it('closes the file when an HTTP/2 client resets the stream mid-file', async () => {
    const client = h2connect(`https://127.0.0.1:${bfe.tlsPort}`, { rejectUnauthorized: false })
    client.on('error', () => {})
    try {
      await new Promise<void>((resolve, reject) => {
        const s = client.request({ ':path': '/big.bin', ':authority': 'a.test' })
        s.on('error', () => {})
        let got = 0
        s.on('data', (c: Buffer) => {
          got += c.length
          if (got > 64 * 1024) {
            s.close(h2constants.NGHTTP2_CANCEL)
            resolve()
          }
        })
        s.on('end', () => reject(new Error('the whole file arrived before the reset')))
      })
      const g = await settled()
      assert.equal(g['FILE_CURRENT_OPENED'], 0)
    } finally {
      client.destroy()
    }
  })

  it('reloads rules and MIME types, keeping the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_static', 'static_rule.data')
    writeFileSync(file, staticData('v2', join(bfe.confRoot, 'www', 'sub')))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_static')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'static_rule.data=v2' })
    assert.equal((await get(`${bfe.url}/x.txt`)).body, 'x')

    writeFileSync(file, staticData('v3', '/no/such/dir'))
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_static')
    assert.match(
      JSON.parse(bad.body).error,
      /static_rule\.data.*\/Config\/p\/0\/Action\/Params\/0 directory \/no\/such\/dir cannot be used/,
    )
    assert.equal((await get(`${bfe.url}/x.txt`)).body, 'x')

    writeFileSync(join(bfe.confRoot, 'www', 'sub', 'y.dat'), 'y')
    writeFileSync(
      join(bfe.confRoot, 'mod_static', 'mime_type.data'),
      JSON.stringify({ Version: 'm2', Config: { '.dat': 'text/x-dat' } }),
    )
    const mime = await monitorGet(bfe.server.monitorPort, '/reload/mod_static.mime_type')
    assert.deepEqual(JSON.parse(mime.body), { error: null, version: 'mime_type.data=m2' })
    assert.equal((await get(`${bfe.url}/y.dat`)).headers['content-type'], 'text/x-dat')
  })

  it('refuses to start with a wrong parameter count, naming file and field', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_static'],
          files: {
            'mod_static/mod_static.conf': '[Basic]\nEnableCompress = false\n',
            'mod_static/mime_type.data': JSON.stringify({ Version: '1', Config: {} }),
            'mod_static/static_rule.data': JSON.stringify({
              Version: '1',
              Config: { p: [{ Cond: 'default_t()', Action: { Cmd: 'BROWSE', Params: ['/tmp'] } }] },
            }),
          },
        }),
      ),
      /static_rule\.data.*\/Config\/p\/0\/Action\/Params must have at least 2 items/,
    )
  })
})
