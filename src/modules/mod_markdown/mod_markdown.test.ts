import assert from 'node:assert/strict'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, it } from 'node:test'
import { HeaderList } from '../../basic/header-list.js'
import { BfeResponse } from '../../basic/response.js'
import { MarkdownRender, notRenderable } from './index.js'
import { renderMarkdown } from './render.js'

describe('mod_markdown rendering', () => {
  it('renders CommonMark with tables and code', () => {
    const html = renderMarkdown(
      '# Title\n\n*em* **strong**\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n\n```js\nx\n```\n',
    )
    assert.match(html, /<h1>Title<\/h1>/)
    assert.match(html, /<em>em<\/em> <strong>strong<\/strong>/)
    assert.match(html, /<td style="text-align:right">2<\/td>/)
    assert.match(html, /<pre><code class="language-js">x\n<\/code><\/pre>/)
  })

  it('shows raw HTML as text and drops unsafe links', () => {
    const html = renderMarkdown(
      '<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n[a](javascript:alert(1)) [b](https://example.org)',
    )
    assert.doesNotMatch(html, /<script|<img|href="javascript/)
    assert.match(html, /&lt;script&gt;/)
    assert.match(html, /<a href="https:\/\/example.org" rel="nofollow">b<\/a>/)
  })

  it('refuses an empty source', () => {
    assert.throws(() => renderMarkdown(''), /empty/)
  })
})

describe('mod_markdown response checks', () => {
  const res = (h: string[]) => new BfeResponse(200, new HeaderList(h), undefined, false)
  it('renders text/markdown bodies of 1..32768 announced bytes only', () => {
    assert.equal(
      notRenderable(res(['Content-Type', 'text/markdown; charset=utf-8', 'Content-Length', '10'])),
      undefined,
    )
    assert.match(
      notRenderable(res(['Content-Type', 'text/plain', 'Content-Length', '10'])) ?? '',
      /not text\/markdown/,
    )
    assert.match(
      notRenderable(res(['Content-Type', 'text/markdown', 'Transfer-Encoding', 'chunked'])) ?? '',
      /chunked/,
    )
    assert.match(notRenderable(res(['Content-Type', 'text/markdown'])) ?? '', /missing/)
    assert.match(
      notRenderable(res(['Content-Type', 'text/markdown', 'Content-Length', '0'])) ?? '',
      /Content-Length 0/,
    )
    assert.match(
      notRenderable(res(['Content-Type', 'text/markdown', 'Content-Length', '32769'])) ?? '',
      /32769/,
    )
  })

  it('the transform collects the body and emits HTML, counting success', async () => {
    const m = {
      RSP_RENDER_SUCCESS: 0,
      RSP_RENDER_FAILURE: 0,
      ERR_COUNT_READ_FAIL: 0,
      ERR_COUNT_RENDER_FAIL: 0,
    }
    const out: Buffer[] = []
    await pipeline(
      Readable.from([Buffer.from('# a'), Buffer.from('b\n')]),
      new MarkdownRender(m, renderMarkdown),
      new Writable({
        write(c: Buffer, _e, cb) {
          out.push(c)
          cb()
        },
      }),
    )
    assert.equal(Buffer.concat(out).toString(), '<h1>ab</h1>\n')
    assert.equal(m.RSP_RENDER_SUCCESS, 1)
    await assert.rejects(
      pipeline(
        Readable.from([Buffer.alloc(40000, 'a')]),
        new MarkdownRender(m, renderMarkdown),
        new Writable({ write: (_c, _e, cb) => cb() }),
      ),
      /longer than 32768/,
    )
    assert.equal(m.ERR_COUNT_READ_FAIL, 1)
  })
})
