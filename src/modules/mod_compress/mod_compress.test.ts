import assert from 'node:assert/strict'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, it } from 'node:test'
import zlib from 'node:zlib'
import { HeaderList } from '../../basic/header-list.js'
import { BfeResponse } from '../../basic/response.js'
import { JsonNode } from '../../config/json-node.js'
import { decodeProductRules } from '../../module/rule-table.js'
import { acceptsCoding } from './accept.js'
import { FlushingCompressor } from './compressor.js'
import { addVary, compressRules, notCompressible, ruleAction } from './index.js'

function load(rules: unknown[]) {
  return decodeProductRules(
    new JsonNode('compress_rule.data', '', { Version: 'v', Config: { p: rules } }),
    compressRules,
  )
}

async function run(c: FlushingCompressor, chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = []
  await pipeline(
    Readable.from(chunks),
    c,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        out.push(chunk)
        cb()
      },
    }),
  )
  return Buffer.concat(out)
}

describe('mod_compress Accept-Encoding', () => {
  it('finds codings by token, ignoring case and parameters; q=0 refuses', () => {
    assert.equal(acceptsCoding('gzip, deflate, br', 'br'), true)
    assert.equal(acceptsCoding('GZip', 'gzip'), true)
    assert.equal(acceptsCoding('gzip;q=0.5', 'gzip'), true)
    assert.equal(acceptsCoding('deflate , gzip ; q=1', 'gzip'), true)
    assert.equal(acceptsCoding('gzip;q=0', 'gzip'), false)
    assert.equal(acceptsCoding('gzip; q=0.000, br', 'gzip'), false)
    assert.equal(acceptsCoding('gzip; q=0.000, br', 'br'), true)
    assert.equal(acceptsCoding('x-gzip, gzipx, brotli', 'gzip'), false)
    assert.equal(acceptsCoding('x-gzip, gzipx, brotli', 'br'), false)
    assert.equal(acceptsCoding('', 'gzip'), false)
    assert.equal(acceptsCoding(',,;', 'gzip'), false)
  })
})

describe('mod_compress rules', () => {
  it('loads GZIP and BROTLI actions; BROTLI quality defaults to 4 (D9)', () => {
    const t = load([
      { Cond: 'default_t()', Action: { Cmd: 'GZIP', Quality: -2, FlushSize: 64 } },
      { Cond: 'default_t()', Action: { Cmd: 'BROTLI', FlushSize: 4096 } },
    ])
    const [g, b] = t.rules('p')
    assert.deepEqual(g && ruleAction(g.Action), { Cmd: 'GZIP', Quality: -2, FlushSize: 64 })
    assert.deepEqual(b && ruleAction(b.Action), { Cmd: 'BROTLI', Quality: 4, FlushSize: 4096 })
  })

  it('refuses bad actions naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [{ Cmd: 'GZIP', FlushSize: 64 }, /\/Config\/p\/0\/Action\/Quality is required/],
      [{ Cmd: 'GZIP', Quality: -3, FlushSize: 64 }, /Action\/Quality/],
      [{ Cmd: 'BROTLI', Quality: -1, FlushSize: 64 }, /Action\/Quality must be in 0\.\.11/],
      [{ Cmd: 'BROTLI', Quality: 12, FlushSize: 64 }, /Action\/Quality/],
      [{ Cmd: 'GZIP', Quality: 1, FlushSize: 63 }, /Action\/FlushSize/],
      [{ Cmd: 'GZIP', Quality: 1, FlushSize: 4097 }, /Action\/FlushSize/],
      [{ Cmd: 'gzip', Quality: 1, FlushSize: 512 }, /Action\/Cmd "gzip" is not one of/],
    ]
    for (const [action, re] of bad)
      assert.throws(() => load([{ Cond: 'default_t()', Action: action }]), re)
    assert.throws(() => load([{ Cond: 'default_t()' }]), /\/Config\/p\/0\/Action/)
  })
})

describe('mod_compress exclusions and headers', () => {
  const res = (status: number, headers: string[], body: BfeResponse['body'] = 'x') =>
    new BfeResponse(status, new HeaderList(headers), body, false)

  it('says why a response is not compressed', () => {
    assert.equal(notCompressible('GET', res(200, [])), undefined)
    assert.equal(notCompressible('HEAD', res(200, [])), 'HEAD request')
    assert.match(notCompressible('GET', res(304, [])) ?? '', /no body/)
    assert.match(notCompressible('GET', res(204, [])) ?? '', /no body/)
    assert.match(notCompressible('GET', res(101, [])) ?? '', /no body/)
    assert.equal(notCompressible('GET', res(206, [])), 'partial content')
    assert.equal(notCompressible('GET', new BfeResponse(500, new HeaderList())), 'empty body')
    assert.equal(notCompressible('GET', res(200, [], '')), 'empty body')
    assert.equal(notCompressible('GET', res(200, ['Content-Length', '0'])), 'empty body')
    assert.equal(notCompressible('GET', res(200, ['Content-Encoding', 'br'])), 'already encoded')
    assert.equal(notCompressible('GET', res(200, ['Content-Encoding', 'identity'])), undefined)
    assert.equal(
      notCompressible('GET', res(200, ['Content-Type', 'text/event-stream; charset=utf-8'])),
      'event stream',
    )
  })

  it('adds Vary: Accept-Encoding once', () => {
    const a = res(200, ['Vary', 'Origin'])
    addVary(a)
    assert.deepEqual(a.headers.getAll('vary'), ['Origin', 'Accept-Encoding'])
    const b = res(200, ['Vary', 'accept-encoding'])
    addVary(b)
    assert.deepEqual(b.headers.getAll('vary'), ['accept-encoding'])
    const c = res(200, ['Vary', '*'])
    addVary(c)
    assert.deepEqual(c.headers.getAll('vary'), ['*'])
  })
})

describe('FlushingCompressor', () => {
  const text = Buffer.from('bfe-ts compresses streams. '.repeat(4000))

  it('round-trips gzip at every BFE level and brotli', async () => {
    for (const q of [-2, -1, 0, 1, 6, 9]) {
      const z = await run(new FlushingCompressor({ Cmd: 'GZIP', Quality: q, FlushSize: 512 }), [
        text,
      ])
      assert.deepEqual(zlib.gunzipSync(z), text, `gzip ${q}`)
    }
    const b = await run(new FlushingCompressor({ Cmd: 'BROTLI', Quality: 4, FlushSize: 512 }), [
      text.subarray(0, 1000),
      text.subarray(1000),
    ])
    assert.deepEqual(zlib.brotliDecompressSync(b), text)
  })

  it('holds input below FlushSize and emits a decodable block once FlushSize is reached', async () => {
    const c = new FlushingCompressor({ Cmd: 'GZIP', Quality: 6, FlushSize: 100 })
    const out: Buffer[] = []
    c.on('data', (d: Buffer) => out.push(d))
    const write = (b: string) => new Promise<void>((r) => c.write(Buffer.from(b), () => r()))
    await write('x'.repeat(60))
    await new Promise((r) => setTimeout(r, 20))
    assert.equal(out.length, 0)
    await write('y'.repeat(60))
    await new Promise((r) => setTimeout(r, 20))
    const partial = zlib.gunzipSync(Buffer.concat(out), {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    })
    assert.equal(partial.toString(), `${'x'.repeat(60)}${'y'.repeat(60)}`)
    c.end()
    await new Promise((r) => c.on('end', r))
    assert.equal(
      zlib.gunzipSync(Buffer.concat(out)).toString(),
      `${'x'.repeat(60)}${'y'.repeat(60)}`,
    )
  })
})
