import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

const DOC = '# Notes\n\nSome *text* and <script>alert(1)</script>.\n\n- one\n- two\n'

function rules(version: string, suffix: string): string {
  return JSON.stringify({
    Version: version,
    Config: { p: [{ Cond: `req_path_suffix_in("${suffix}", false)` }] },
  })
}

describe('mod_markdown', () => {
  let up: Upstream
  let bfe: RunningBfe

  before(async () => {
    up = await startUpstream((req, res) => {
      req.resume()
      const url = req.url ?? '/'
      if (url.startsWith('/chunked')) {
        res.writeHead(200, { 'content-type': 'text/markdown' })
        res.write('# a')
        res.end('\n')
        return
      }
      const body = url.startsWith('/big') ? Buffer.alloc(40000, 'a') : Buffer.from(DOC)
      res.writeHead(200, {
        'content-type': url.startsWith('/plain') ? 'text/plain' : 'text/markdown; charset=utf-8',
        'content-length': body.length,
      })
      res.end(body)
    })
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_markdown'],
        files: {
          'mod_markdown/mod_markdown.conf':
            '[basic]\nProductRulePath = mod_markdown/mod_markdown.data\n\n[log]\nOpenDebug = true\n',
          'mod_markdown/mod_markdown.data': rules('v1', '.md'),
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  const expectHtml = (body: string) => {
    assert.match(body, /<h1>Notes<\/h1>/)
    assert.match(body, /<li>one<\/li>/)
    assert.match(body, /&lt;script&gt;/)
    assert.doesNotMatch(body, /<script>/)
  }

  it('renders a Markdown response to sanitised HTML (HTTP/1.1)', async () => {
    const r = await get(`${bfe.url}/doc.md`)
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'text/html; charset=UTF-8')
    expectHtml(r.body)
  })

  it('renders on HTTP/2', async () => {
    const r = await h2Request(bfe.tlsPort, '/doc.md')
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'text/html; charset=UTF-8')
    expectHtml(r.body.toString())
  })

  it('leaves other types, chunked, oversized and unmatched responses alone', async () => {
    const plain = await get(`${bfe.url}/plain.md`)
    assert.equal(plain.body, DOC)
    const chunked = await get(`${bfe.url}/chunked.md`)
    assert.equal(chunked.body, '# a\n')
    const big = await get(`${bfe.url}/big.md`)
    assert.equal(big.body.length, 40000)
    assert.equal(big.headers['content-type'], 'text/markdown; charset=utf-8')
    const other = await get(`${bfe.url}/doc.txt`)
    assert.equal(other.body, DOC)
    const head = await get(`${bfe.url}/doc.md`, { method: 'HEAD' })
    assert.equal(head.headers['content-type'], 'text/markdown; charset=utf-8')
    const m = await monitorGet(bfe.server.monitorPort, '/monitor/mod_markdown')
    const c = JSON.parse(m.body).CounterData as Record<string, number>
    assert.equal(c['RSP_RENDER_SUCCESS'], 2)
    assert.equal(c['RSP_RENDER_IGNORE'], 4)
    assert.equal(c['REQ_MARK_DOWN_RULE_HIT'], 6)
    assert.equal(c['REQ_TOTAL'], 7)
  })

  it('reloads a good file and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_markdown', 'mod_markdown.data')
    writeFileSync(file, rules('v2', '.txt'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_markdown')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'mod_markdown.data=v2' })
    expectHtml((await get(`${bfe.url}/doc.txt`)).body)
    assert.equal((await get(`${bfe.url}/doc.md`)).body, DOC)

    writeFileSync(file, JSON.stringify({ Config: { p: [{ Cond: 'default_t()' }] } }))
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_markdown')
    assert.match(JSON.parse(bad.body).error, /mod_markdown\.data.*\/Version/)
    expectHtml((await get(`${bfe.url}/doc.txt`)).body)
  })

  it('refuses to start with a bad condition, naming file and field', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_markdown'],
          files: {
            'mod_markdown/mod_markdown.conf': '[Basic]\n',
            'mod_markdown/markdown_rule.data': JSON.stringify({
              Version: '1',
              Config: { p: [{ Cond: 'req_path_in("/a.md", maybe)' }] },
            }),
          },
        }),
      ),
      /markdown_rule\.data.*\/Config\/p\/0\/Cond/,
    )
  })
})
