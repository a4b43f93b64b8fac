import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CallbackPoint, HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import { get, h2Request } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { run } from '../helpers/exec.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

/*
 * The HTTP/1 writer skips the field checks for the backend's own fields (llhttp checked them
 * while reading the response, HeaderList.checked). A module's change to those fields, in place
 * or appended, is still checked: nothing it writes may split the response head.
 */

const EVIL = 'x\r\nX-Injected: 1'

function editor(): BfeModule {
  return {
    name: 'mod_field_editor',
    init(ctx) {
      ctx.callbacks.addResponseFilter(CallbackPoint.ReadResponse, (req, res) => {
        if (res === undefined) return HandlerResult.GoOn
        const h = res.headers
        switch (req.path) {
          case '/set-first':
            h.set('Content-Type', EVIL)
            break
          case '/set-middle':
            h.set('X-A', EVIL)
            break
          case '/set-fine':
            h.set('X-A', 'fine')
            break
          case '/add':
            h.add('X-C', EVIL)
            break
          case '/delete-then-set':
            h.delete('Content-Type')
            h.set('X-B', 'y\nX-Injected: 1')
            break
          case '/bad-name':
            h.set('X-A: 1\r\nX-Injected', '1')
            break
          case '/clone':
            res.headers = h.clone()
            res.headers.set('X-B', EVIL)
            break
        }
        return HandlerResult.GoOn
      })
    },
  }
}

describe('response fields a module changes are checked, the backend’s are trusted', () => {
  let up: Upstream
  let bfe: RunningBfe

  before(async () => {
    up = await startUpstream((_req, res) => {
      res.setHeader('Content-Type', 'text/plain')
      res.setHeader('X-A', 'a')
      res.setHeader('X-B', 'b')
      res.end('ok')
    })
    bfe = await startBfe(simpleConf([up.port], { server: ['Modules = mod_field_editor'] }), [
      editor(),
    ])
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('the backend’s fields pass through unchanged', async () => {
    const r = await get(`${bfe.url}/plain`)
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-a'], 'a')
    assert.equal(r.headers['x-b'], 'b')
    assert.equal(r.headers['content-type'], 'text/plain')
    assert.equal(r.body, 'ok')
  })

  it('a valid value set in place of a backend field is sent', async () => {
    const r = await get(`${bfe.url}/set-fine`)
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-a'], 'fine')
    assert.equal(r.headers['x-b'], 'b')
  })

  for (const path of [
    '/set-first',
    '/set-middle',
    '/add',
    '/delete-then-set',
    '/bad-name',
    '/clone',
  ]) {
    it(`${path}: a value or name that would split the head is refused with a 500`, async () => {
      const r = await get(`${bfe.url}${path}`)
      assert.equal(r.status, 500)
      assert.equal(r.headers['x-injected'], undefined)
      // the connection's next request is served as usual
      const ok = await get(`${bfe.url}/plain`)
      assert.equal(ok.status, 200)
    })
  }

  it('over HTTP/2 a field with CR or LF is left out (as Go’s http2 server does); the rest goes through', async () => {
    const bad = await h2Request(bfe.tlsPort, '/set-middle')
    assert.equal(bad.status, 200)
    assert.equal(bad.headers['x-a'], undefined)
    assert.equal(bad.headers['x-injected'], undefined)
    assert.equal(bad.headers['x-b'], 'b')
    const ok = await h2Request(bfe.tlsPort, '/plain')
    assert.equal(ok.status, 200)
    assert.equal(ok.headers['x-a'], 'a')
  })

  it('over HTTP/2 the invalid field is not sent at all: nghttp, which refuses a stream carrying one, gets the response', async () => {
    const r = await run('nghttp', ['-nv', `https://127.0.0.1:${bfe.tlsPort}/set-middle`])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /:status: 200/)
    assert.match(r.stdout, /x-b: b/)
    assert.doesNotMatch(r.stdout, /x-a:|x-injected/i)
  })
})

/*
 * The same on the request side: the HTTP/1.1 pool skips the checks for the client's fields
 * (llhttp checked them) and for the forwarding headers mod_header appends, never for what a
 * module sets.
 */
function requestEditor(): BfeModule {
  return {
    name: 'mod_request_editor',
    init(ctx) {
      ctx.callbacks.addRequestFilter(CallbackPoint.AfterLocation, (req) => {
        const h = req.headers
        switch (req.path) {
          case '/req-set':
            h.set('X-A', EVIL)
            break
          case '/req-set-client-field':
            h.set('User-Agent', EVIL)
            break
          case '/req-add':
            h.add('X-C', EVIL)
            break
          case '/req-bad-name':
            h.set('X-A: 1\r\nX-Injected', '1')
            break
          case '/req-fine':
            h.set('X-Fine', 'yes')
            break
        }
        return HandlerResult.GoOn
      })
    },
  }
}

describe('request fields a module changes are checked, the client’s are trusted', () => {
  let up: Upstream
  let bfe: RunningBfe
  const seen: Record<string, string | string[] | undefined>[] = []

  before(async () => {
    up = await startUpstream((req, res) => {
      seen.push(req.headers)
      res.end('ok')
    })
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_header', 'Modules = mod_request_editor'],
        files: {
          'mod_header/mod_header.conf': '[Basic]\nDataPath = mod_header/header_rule.data\n',
          'mod_header/header_rule.data': JSON.stringify({ Version: 't', Config: {} }),
        },
      }),
      [requestEditor()],
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('the client’s fields, the forwarding headers and a valid module field reach the backend', async () => {
    seen.length = 0
    const r = await get(`${bfe.url}/req-fine`, { headers: { 'X-Client': 'caf\u00e9' } })
    assert.equal(r.status, 200)
    const h = seen[0] ?? {}
    assert.equal(h['x-client'], 'caf\u00e9')
    assert.equal(h['x-fine'], 'yes')
    assert.equal(h['x-forwarded-for'], '127.0.0.1')
    assert.equal(h['x-real-ip'], '127.0.0.1')
    assert.match(String(h['x-forwarded-port']), /^\d+$/)
  })

  for (const path of ['/req-set', '/req-set-client-field', '/req-add', '/req-bad-name']) {
    it(`${path}: a request field that would split the head never reaches the backend`, async () => {
      seen.length = 0
      const r = await get(`${bfe.url}${path}`)
      // refused by the pool before anything is written: BFE's transport error (not the backend's fault)
      assert.equal(r.status, 502)
      assert.equal(seen.length, 0)
      const ok = await get(`${bfe.url}/plain`)
      assert.equal(ok.status, 200)
      assert.equal(seen[0]?.['x-injected'], undefined)
    })
  }
})
