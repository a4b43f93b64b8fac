import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { type IncomingMessage, request } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import zlib from 'node:zlib'
import { h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe, waitFor } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

const JSON_BODY = Buffer.from(
  JSON.stringify(
    Array.from({ length: 600 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b', 'c'] })),
  ),
)
/** 1 MiB of base64 text: gzip can only take it to about 3/4 (its window is 32 KiB). */
const BLOCK = Buffer.from(randomBytes(768 * 1024).toString('base64'))
const BIG_BLOCKS = 80
const BIG_SHA = (() => {
  const h = createHash('sha256')
  for (let i = 0; i < BIG_BLOCKS; i++) h.update(BLOCK)
  return h.digest('hex')
})()

function rules(version: string, gzipQuality = 6): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        {
          Cond: 'req_path_prefix_in("/br", false)',
          Action: { Cmd: 'BROTLI', Quality: 4, FlushSize: 1024 },
        },
        {
          Cond: 'req_path_prefix_in("/big", false)',
          Action: { Cmd: 'GZIP', Quality: 1, FlushSize: 4096 },
        },
        { Cond: 'default_t()', Action: { Cmd: 'GZIP', Quality: gzipQuality, FlushSize: 512 } },
      ],
    },
  })
}

interface Raw {
  status: number
  headers: IncomingMessage['headers']
  body: Buffer
}

/** One HTTP/1.1 request; the body as sent (not decoded). */
function raw(
  port: number,
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

v8.setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/**
 * Peak growth of this process's live heap + buffers while `p` runs: sampled every 250 ms after a
 * full garbage collection, so only what is still held counts.
 */
async function peakGrowth<T>(p: Promise<T>): Promise<{ value: T; peak: number }> {
  const mem = (): number => {
    gc()
    const m = process.memoryUsage()
    return m.heapUsed + m.arrayBuffers
  }
  const base = mem()
  let peak = 0
  const t = setInterval(() => {
    peak = Math.max(peak, mem() - base)
  }, 250)
  try {
    const value = await p
    return { value, peak }
  } finally {
    clearInterval(t)
  }
}

describe('mod_compress', () => {
  let up: Upstream
  let bfe: RunningBfe
  /** Released by the trickle test: the backend holds the rest of its body until then. */
  let releaseTrickle: () => void = () => {}
  /** Bytes the big-body backend has handed to its socket. */
  let bigSent = 0

  before(async () => {
    up = await startUpstream((req, res) => {
      req.resume()
      const path = req.url ?? '/'
      if (path.startsWith('/big')) {
        bigSent = 0
        res.writeHead(200, { 'content-type': 'text/plain' })
        let i = 0
        const more = (): void => {
          while (i < BIG_BLOCKS) {
            i++
            bigSent += BLOCK.length
            if (!res.write(BLOCK)) {
              res.once('drain', more)
              return
            }
          }
          res.end()
        }
        more()
        return
      }
      if (path.startsWith('/trickle')) {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('a'.repeat(600))
        new Promise<void>((r) => {
          releaseTrickle = r
        }).then(() => res.end('b'.repeat(100)))
        return
      }
      if (path.startsWith('/sse')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.end('data: x\n\n')
        return
      }
      if (path.startsWith('/encoded')) {
        const z = zlib.gzipSync(JSON_BODY)
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': z.length })
        res.end(z)
        return
      }
      if (path.startsWith('/304')) {
        res.writeHead(304, { etag: '"x"' })
        res.end()
        return
      }
      if (path.startsWith('/204')) {
        res.writeHead(204)
        res.end()
        return
      }
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': JSON_BODY.length,
        etag: '"v1"',
        vary: 'Origin',
      })
      res.end(JSON_BODY)
    })
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_compress'],
        files: {
          'mod_compress/mod_compress.conf':
            '[basic]\nProductRulePath = mod_compress/compress_rule.data\n[log]\nOpenDebug = false\n',
          'mod_compress/compress_rule.data': rules('v1'),
        },
      }),
    )
  })
  after(async () => {
    releaseTrickle()
    await bfe.close()
    await up.close()
  })

  it('gzips a response on HTTP/1.1: Content-Encoding, Vary, no Content-Length, weak ETag', async () => {
    const r = await raw(bfe.port, '/data.json', { 'accept-encoding': 'br;q=0, gzip' })
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-encoding'], 'gzip')
    assert.equal(r.headers['content-length'], undefined)
    assert.equal(r.headers['vary'], 'Origin, Accept-Encoding')
    assert.equal(r.headers['etag'], 'W/"v1"')
    assert.ok(r.body.length < JSON_BODY.length / 4, `compressed to ${r.body.length}`)
    assert.deepEqual(zlib.gunzipSync(r.body), JSON_BODY)
  })

  it('compresses with brotli on HTTP/2', async () => {
    const r = await h2Request(bfe.tlsPort, '/br/data.json', {
      headers: { 'accept-encoding': 'gzip, br' },
    })
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-encoding'], 'br')
    assert.equal(r.headers['content-length'], undefined)
    assert.deepEqual(zlib.brotliDecompressSync(r.body), JSON_BODY)
  })

  it('leaves the body alone when the client does not accept the rule coding', async () => {
    for (const ae of ['br', 'gzip;q=0', 'identity', 'x-gzip2']) {
      const r = await raw(bfe.port, '/data.json', { 'accept-encoding': ae })
      assert.equal(r.headers['content-encoding'], undefined, ae)
      assert.equal(r.headers['content-length'], String(JSON_BODY.length), ae)
      assert.deepEqual(r.body, JSON_BODY, ae)
    }
    const br = await raw(bfe.port, '/br/x', { 'accept-encoding': 'gzip' })
    assert.equal(br.headers['content-encoding'], undefined)
    const none = await raw(bfe.port, '/data.json', {})
    assert.equal(none.headers['content-encoding'], undefined)
  })

  it('never compresses HEAD, 204, 304, encoded bodies or event streams (D9)', async () => {
    const h = { 'accept-encoding': 'gzip, br' }
    const head = await raw(bfe.port, '/data.json', h, 'HEAD')
    assert.equal(head.headers['content-encoding'], undefined)
    assert.equal(head.headers['content-length'], String(JSON_BODY.length))
    const nm = await raw(bfe.port, '/304', h)
    assert.equal(nm.status, 304)
    assert.equal(nm.headers['content-encoding'], undefined)
    assert.equal(nm.headers['etag'], '"x"')
    const nc = await raw(bfe.port, '/204', h)
    assert.equal(nc.status, 204)
    assert.equal(nc.headers['content-encoding'], undefined)
    const sse = await raw(bfe.port, '/sse', h)
    assert.equal(sse.headers['content-encoding'], undefined)
    assert.equal(sse.body.toString(), 'data: x\n\n')
    const enc = await raw(bfe.port, '/encoded', h)
    assert.equal(enc.headers['content-encoding'], 'gzip')
    assert.deepEqual(zlib.gunzipSync(enc.body), JSON_BODY)
  })

  it('flushes compressed output every FlushSize input bytes while the backend is still sending', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: bfe.port,
          path: '/trickle',
          headers: { 'accept-encoding': 'gzip' },
          agent: false,
        },
        (res) => {
          assert.equal(res.headers['content-encoding'], 'gzip')
          const gunzip = zlib.createGunzip()
          let text = ''
          gunzip.on('data', (c: Buffer) => {
            text += c.toString()
            // 600 bytes sent so far: one 512-byte flush must have come through.
            if (text.length >= 512) {
              const before = text
              releaseTrickle()
              res.resume()
              resolve(before)
            }
          })
          gunzip.on('error', reject)
          res.pipe(gunzip)
        },
      )
      req.on('error', reject)
      req.end()
    })
    assert.ok(got.length >= 512 && got.length <= 600, `got ${got.length} bytes before the end`)
    assert.match(got, /^a+$/)
  })

  it('streams a large backend body without holding it: memory stays flat', async () => {
    const { value, peak } = await peakGrowth(
      new Promise<{ size: number; sha: string; wire: number }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: bfe.port,
            path: '/big',
            headers: { 'accept-encoding': 'gzip' },
            agent: false,
          },
          (res) => {
            assert.equal(res.headers['content-encoding'], 'gzip')
            const hash = createHash('sha256')
            let size = 0
            let wire = 0
            res.on('data', (c: Buffer) => {
              wire += c.length
            })
            const gunzip = zlib.createGunzip()
            gunzip.on('data', (c: Buffer) => {
              size += c.length
              hash.update(c)
            })
            gunzip.on('end', () => resolve({ size, sha: hash.digest('hex'), wire }))
            gunzip.on('error', reject)
            res.pipe(gunzip)
          },
        )
        req.on('error', reject)
        req.end()
      }),
    )
    assert.equal(value.size, BLOCK.length * BIG_BLOCKS)
    assert.equal(value.sha, BIG_SHA)
    // 80 MiB in, ~60 MiB compressed on the wire: holding either would show here (what is
    // seen is socket and stream buffers and garbage not yet collected: 15-25 MiB whatever the
    // body size, the upper end on a loaded machine).
    assert.ok(value.wire > 40 * 1024 * 1024, `wire ${value.wire}`)
    assert.ok(peak < 36 * 1024 * 1024, `heap + buffers grew by ${peak} bytes`)
  })

  it('a slow client holds the backend back (backpressure through the compressor)', async () => {
    const sock = connect(bfe.port, '127.0.0.1')
    sock.on('error', () => {})
    let received = 0
    sock.write(
      'GET /big HTTP/1.1\r\nHost: p.test\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n',
    )
    await new Promise((r) => sock.once('data', r))
    sock.pause()
    // Wait until the backend stops (socket buffers full), then check it stays stopped.
    let last = -1
    for (let i = 0; i < 20 && bigSent !== last; i++) {
      last = bigSent
      await new Promise((r) => setTimeout(r, 500))
    }
    const sentWhilePaused = bigSent
    await new Promise((r) => setTimeout(r, 500))
    assert.equal(bigSent, sentWhilePaused)
    // Socket buffers hold some MiB; the rest of the 40 MiB body waits at the backend.
    assert.ok(bigSent < (BLOCK.length * BIG_BLOCKS) / 2, `backend sent ${bigSent}`)
    sock.on('data', (c: Buffer) => {
      received += c.length
    })
    // Reading again lets the backend go on.
    sock.resume()
    await waitFor(
      () => bigSent > sentWhilePaused + 4 * BLOCK.length,
      20000,
      'the backend to resume',
    )
    assert.ok(received > 0)
    sock.destroy()
  })

  it('a client that goes away mid-body leaves the server working (HTTP/1.1 and HTTP/2)', async () => {
    const sock = connect(bfe.port, '127.0.0.1')
    sock.on('error', () => {})
    sock.write('GET /big HTTP/1.1\r\nHost: p.test\r\nAccept-Encoding: gzip\r\n\r\n')
    let got = 0
    await new Promise<void>((r) =>
      sock.on('data', (c: Buffer) => {
        got += c.length
        if (got > 256 * 1024) r()
      }),
    )
    sock.destroy()
    const h2 = h2Request(bfe.tlsPort, '/big', {
      headers: { 'accept-encoding': 'gzip' },
      timeoutMs: 300,
    })
    await assert.rejects(h2, /timed out/)
    await new Promise((r) => setTimeout(r, 200))
    const r = await raw(bfe.port, '/data.json', { 'accept-encoding': 'gzip' })
    assert.deepEqual(zlib.gunzipSync(r.body), JSON_BODY)
  })

  it('counts what it did at /monitor/mod_compress', async () => {
    const m = await monitorGet(bfe.server.monitorPort, '/monitor/mod_compress')
    const c = JSON.parse(m.body).CounterData as Record<string, number>
    assert.ok((c['RES_ENCODE_GZIP_COMPRESS'] ?? 0) >= 3)
    assert.ok((c['RES_ENCODE_BR_COMPRESS'] ?? 0) >= 1)
    assert.equal(
      c['RES_ENCODE_COMPRESS'],
      (c['RES_ENCODE_GZIP_COMPRESS'] ?? 0) + (c['RES_ENCODE_BR_COMPRESS'] ?? 0),
    )
    assert.ok((c['REQ_SUPPORT_COMPRESS'] ?? 0) >= (c['REQ_MATCH_COMPRESS_RULE'] ?? 0))
  })

  it('reloads a good file and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_compress', 'compress_rule.data')
    writeFileSync(file, rules('v2', 0))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_compress')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'compress_rule.data=v2' })
    // Quality 0: stored, not compressed, so the gzip body is larger than the source.
    const stored = await raw(bfe.port, '/data.json', { 'accept-encoding': 'gzip' })
    assert.ok(stored.body.length > JSON_BODY.length)
    assert.deepEqual(zlib.gunzipSync(stored.body), JSON_BODY)

    writeFileSync(
      file,
      JSON.stringify({
        Version: 'v3',
        Config: {
          p: [{ Cond: 'default_t()', Action: { Cmd: 'GZIP', Quality: 9, FlushSize: 10 } }],
        },
      }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_compress')
    assert.match(
      JSON.parse(bad.body).error,
      /compress_rule\.data.*\/Config\/p\/0\/Action\/FlushSize/,
    )
    const still = await raw(bfe.port, '/data.json', { 'accept-encoding': 'gzip' })
    assert.ok(still.body.length > JSON_BODY.length)
  })

  for (const [what, action, re] of [
    [
      'a gzip quality above 9',
      { Cmd: 'GZIP', Quality: 10, FlushSize: 512 },
      /\/Config\/p\/0\/Action\/Quality must be in -2\.\.9/,
    ],
    [
      'an unknown Cmd',
      { Cmd: 'ZSTD', Quality: 3, FlushSize: 512 },
      /\/Config\/p\/0\/Action\/Cmd "ZSTD" is not one of/,
    ],
    [
      'a FlushSize of the wrong type',
      { Cmd: 'BROTLI', Quality: 3, FlushSize: '512' },
      /\/Config\/p\/0\/Action\/FlushSize/,
    ],
  ] as const) {
    it(`refuses to start with ${what}, naming file and field`, async () => {
      await assert.rejects(
        startBfe(
          simpleConf([up.port], {
            server: ['Modules = mod_compress'],
            files: {
              'mod_compress/mod_compress.conf': '[Basic]\n',
              'mod_compress/compress_rule.data': JSON.stringify({
                Version: '1',
                Config: { p: [{ Cond: 'default_t()', Action: action }] },
              }),
            },
          }),
        ),
        (err: Error) => /compress_rule\.data/.test(err.message) && re.test(err.message),
      )
    })
  }
})
