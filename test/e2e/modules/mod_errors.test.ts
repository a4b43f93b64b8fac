import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe, waitFor } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

const PAGE = '<!doctype html><p>not here</p>\n'

function errorsData(version: string, status: string): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        {
          Cond: 'res_code_in("404")',
          Actions: [{ Cmd: 'RETURN', Params: [status, 'text/html', 'mod_errors/404.html'] }],
        },
        {
          Cond: 'res_code_in("500|502")',
          Actions: [{ Cmd: 'REDIRECT', Params: ['http://example.org/error.html'] }],
        },
      ],
    },
  })
}

describe('mod_errors', () => {
  let up: Upstream
  let bfe: RunningBfe
  /** Backend 404 bodies that were closed before they ended. */
  let cut = 0

  before(async () => {
    up = await startUpstream((req, res) => {
      req.resume()
      if (req.url?.startsWith('/missing')) {
        // A 404 whose body never ends: BFE must drop it, not wait for it.
        res.writeHead(404, { 'Content-Type': 'text/plain', 'X-Backend': 'yes' })
        res.write('x'.repeat(1024))
        const t = setInterval(() => res.write('x'.repeat(1024)), 20)
        res.on('close', () => {
          clearInterval(t)
          if (!res.writableEnded) cut++
        })
        return
      }
      res.writeHead(req.url === '/boom' ? 500 : 200, { 'Content-Length': '2' })
      res.end('ok')
    })
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_errors'],
        files: {
          'mod_errors/mod_errors.conf': '[basic]\nDataPath = mod_errors/errors_rule.data\n',
          'mod_errors/errors_rule.data': errorsData('v1', '200'),
          'mod_errors/404.html': PAGE,
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('replaces a backend 404 with the page and stops reading the backend body (HTTP/1.1)', async () => {
    const r = await get(`${bfe.url}/missing`)
    assert.equal(r.status, 200)
    assert.equal(r.body, PAGE)
    assert.equal(r.headers['content-type'], 'text/html')
    assert.equal(r.headers['content-length'], String(Buffer.byteLength(PAGE)))
    assert.equal(r.headers['server'], 'bfe')
    assert.equal(r.headers['x-backend'], undefined)
    await waitFor(() => cut === 1, 3000, 'the backend body to be dropped')
  })

  it('redirects a 500 with 302 and leaves other responses alone', async () => {
    const r = await get(`${bfe.url}/boom`)
    assert.equal(r.status, 302)
    assert.equal(r.headers['location'], 'http://example.org/error.html')
    assert.equal(r.body, '')
    const ok = await get(`${bfe.url}/fine`)
    assert.equal(ok.status, 200)
    assert.equal(ok.body, 'ok')
  })

  it('replaces responses on HTTP/2 too', async () => {
    const r = await h2Request(bfe.tlsPort, '/missing/h2', { authority: 'a.test' })
    assert.equal(r.status, 200)
    assert.equal(r.body.toString(), PAGE)
    await waitFor(() => cut === 2, 3000, 'the backend body to be dropped')
  })

  it('reloads a good file and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_errors', 'errors_rule.data')
    writeFileSync(file, errorsData('v2', '404'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_errors')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'errors_rule.data=v2' })
    assert.equal((await get(`${bfe.url}/missing`)).status, 404)

    writeFileSync(file, errorsData('v3', '600'))
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_errors')
    assert.match(
      JSON.parse(bad.body).error,
      /errors_rule\.data.*\/Config\/p\/0\/Actions\/0\/Params\/0 "600" is not a known HTTP status code/,
    )
    const r = await get(`${bfe.url}/missing`)
    assert.equal(r.status, 404)
    assert.equal(r.body, PAGE)
  })

  it('refuses to start with an unknown action, naming file and field', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_errors'],
          files: {
            'mod_errors/mod_errors.conf': '[Log]\nOpenDebug = false\n',
            'mod_errors/mod_errors.data': JSON.stringify({
              Version: '1',
              Config: {
                p: [{ Cond: 'res_code_in("404")', Actions: [{ Cmd: 'RETRY', Params: [] }] }],
              },
            }),
          },
        }),
      ),
      /mod_errors\.data.*\/Config\/p\/0\/Actions\/0\/Cmd "RETRY" is not one of/,
    )
  })
})
