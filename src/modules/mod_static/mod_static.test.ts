import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { after, describe, it } from 'node:test'
import { BfeRequest } from '../../basic/request.js'
import { Session } from '../../basic/session.js'
import { acceptedEncodings, browse, probeBrowse, type StaticEnv } from './serve.js'

const dir = mkdtempSync(join(tmpdir(), 'mod-static-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const root = join(dir, 'www')
mkdirSync(join(root, 'sub'), { recursive: true })
writeFileSync(join(root, 'index.html'), 'index')
writeFileSync(join(root, 'a.css'), 'css')
writeFileSync(join(root, 'a.css.gz'), 'gz')
writeFileSync(join(root, 'a.css.br'), 'br')
writeFileSync(join(root, 'data.BIN'), 'bin')
writeFileSync(join(dir, 'secret.txt'), 'secret')
symlinkSync(join(dir, 'secret.txt'), join(root, 'escape.txt'))
symlinkSync(join(root, 'a.css'), join(root, 'inside.css'))

function env(compress = false): StaticEnv {
  return {
    m: {
      FILE_BROWSE_COUNT: 0,
      FILE_BROWSE_SIZE: 0,
      FILE_BROWSE_NOT_EXIST: 0,
      FILE_BROWSE_CONTENT_TYPE_ERROR: 0,
      FILE_BROWSE_FALLBACK_DEFAULT: 0,
      FILE_CURRENT_OPENED: 0,
    },
    enableCompress: compress,
    mimeTypes: () => new Map([['.bin', 'application/x-test']]),
    streams: new Set(),
  }
}

function req(uri: string, headers: string[] = [], method = 'GET'): BfeRequest {
  return new BfeRequest(new Session({ remoteAddr: '10.0.0.1', remotePort: 1 }), {
    method,
    rawUri: uri,
    proto: 'HTTP/1.1',
    headers: ['Host', 'a.test', ...headers],
  })
}

async function text(body: unknown): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of body as Readable) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString()
}

const action = (defaultFile = '') => ({ root, realRoot: root, defaultFile })

describe('mod_static', () => {
  it('reads gzip and br tokens of Accept-Encoding, gzip first', () => {
    assert.deepEqual(acceptedEncodings('br, gzip;q=0.5'), ['gzip', 'br'])
    assert.deepEqual(acceptedEncodings('x-gzip, deflate'), [])
    assert.deepEqual(acceptedEncodings('BR'), ['br'])
  })
  it('serves a file with type, length and Last-Modified; the gauge follows the stream', async () => {
    const e = env()
    const res = await browse(req('/a.css'), action(), e)
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers.get('content-type'), 'text/css; charset=utf-8')
    assert.equal(res.headers.get('content-length'), '3')
    assert.match(res.headers.get('last-modified') ?? '', / GMT$/)
    assert.equal(e.m.FILE_CURRENT_OPENED, 1)
    assert.equal(await text(res.body), 'css')
    await new Promise((r) => setImmediate(r))
    assert.equal(e.m.FILE_CURRENT_OPENED, 0)
    assert.equal(e.m.FILE_BROWSE_SIZE, 3)
  })
  it('uses mime_type.data by lower-cased extension', async () => {
    const e = env()
    const res = await browse(req('/data.BIN', [], 'HEAD'), action(), e)
    assert.equal(res.headers.get('content-type'), 'application/x-test')
    assert.equal(res.body, undefined)
    assert.equal(e.m.FILE_CURRENT_OPENED, 0)
  })
  it('serves pre-compressed siblings only with EnableCompress', async () => {
    const gz = await browse(req('/a.css', ['Accept-Encoding', 'gzip, br']), action(), env(true))
    assert.equal(gz.headers.get('content-encoding'), 'gzip')
    assert.equal(gz.headers.get('content-type'), 'text/css; charset=utf-8')
    assert.equal(await text(gz.body), 'gz')
    const br = await browse(req('/a.css', ['Accept-Encoding', 'br']), action(), env(true))
    assert.equal(await text(br.body), 'br')
    const off = await browse(req('/a.css', ['Accept-Encoding', 'gzip']), action(), env(false))
    assert.equal(off.headers.get('content-encoding'), undefined)
    assert.equal(await text(off.body), 'css')
  })
  it('never leaves the root: .., encoded .. and symlinks out of it are not found', async () => {
    for (const uri of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/sub/../../secret.txt',
      '/escape.txt',
    ]) {
      const e = env()
      const res = await browse(req(uri), action(), e)
      assert.equal(res.statusCode, 404, uri)
      assert.equal(e.m.FILE_BROWSE_NOT_EXIST, 1)
    }
    const inside = await browse(req('/inside.css'), action(), env())
    assert.equal(await text(inside.body), 'css')
  })
  it('falls back to the default file, else 404 for missing and 500 for directories', async () => {
    const e = env()
    const res = await browse(req('/nope'), action('index.html'), e)
    assert.equal(await text(res.body), 'index')
    assert.equal(e.m.FILE_BROWSE_FALLBACK_DEFAULT, 1)
    assert.equal((await browse(req('/sub/'), action('index.html'), env())).statusCode, 200)
    assert.equal((await browse(req('/nope'), action(), env())).statusCode, 404)
    assert.equal((await browse(req('/sub'), action(), env())).statusCode, 500)
    assert.equal((await browse(req('/a%00b'), action(), env())).statusCode, 404)
  })
})

describe('mod_static probeBrowse (bfe explain)', () => {
  it('gives the status browse answers, with stat calls only', async () => {
    const cases: [string, string[], string, boolean][] = [
      ['/a.css', [], '', false],
      ['/a.css', ['Accept-Encoding', 'gzip, br'], '', true],
      ['/a.css', ['Accept-Encoding', 'br'], '', true],
      ['/escape.txt', [], '', false],
      ['/inside.css', [], '', false],
      ['/../secret.txt', [], '', false],
      ['/nope', [], 'index.html', false],
      ['/nope', [], '', false],
      ['/sub', [], '', false],
      ['/sub/', [], 'index.html', false],
      ['/a%00b', [], '', false],
    ]
    for (const [uri, headers, def, compress] of cases) {
      const live = await browse(req(uri, headers, 'HEAD'), action(def), env(compress))
      const p = probeBrowse(req(uri, headers, 'HEAD'), action(def), compress)
      assert.equal(p.status, live.statusCode, uri)
      assert.equal(p.encoding, live.headers.get('content-encoding') ?? '', uri)
    }
    const gz = probeBrowse(req('/a.css', ['Accept-Encoding', 'gzip']), action(), true)
    assert.equal(gz.file, join(root, 'a.css.gz'))
    const fb = probeBrowse(req('/nope'), action('index.html'), false)
    assert.deepEqual([fb.status, fb.fallback, fb.file], [200, true, join(root, 'index.html')])
  })
})
