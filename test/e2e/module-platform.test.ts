import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { textResponse } from '../../src/basic/response.js'
import { transformResponseBody } from '../../src/module/body.js'
import { CallbackPoint, HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import { get, h2Request } from '../helpers/client.js'
import { simpleConf, writeConf } from '../helpers/conf.js'
import { monitorGet } from '../helpers/monitor.js'
import { spawnBfe } from '../helpers/process.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** Upper-cases ASCII as it streams. */
const upper = () =>
  new Transform({
    transform(chunk: Buffer, _enc, cb) {
      cb(null, Buffer.from(chunk.toString('latin1').toUpperCase(), 'latin1'))
    },
  })

/**
 * A module using the platform: peeks at request bodies (`/peek`), transforms response bodies
 * (`/upper*`), answers `/local` itself, counts with ctx.metrics, reads a reloadable text file.
 */
function platformModule(): BfeModule {
  return {
    name: 'mod_platform',
    init(ctx) {
      const m = ctx.metrics(['PEEKED', 'TRANSFORMED'], ['LAST_PEEK_BYTES'])
      const greeting = ctx.reloadable(
        'mod_platform',
        ctx.confFile('mod_platform/greeting.txt'),
        (f) => {
          const text = String(
            ctx.readConf({ Basic: { Greeting: { kind: 'string', def: '' } } }, f).Basic.Greeting,
          )
          if (text === '') throw new Error(`${f}: [Basic] Greeting must not be empty`)
          return { value: text, version: `greeting=${text}` }
        },
      )
      ctx.callbacks.addRequestFilter(CallbackPoint.FoundProduct, (req) => {
        if (req.path !== '/local') return HandlerResult.GoOn
        req.httpResponse = textResponse(200, `local ${greeting.value}`)
        return HandlerResult.Response
      })
      ctx.callbacks.addRequestFilter(CallbackPoint.AfterLocation, async (req) => {
        if (req.path !== '/peek') return HandlerResult.GoOn
        const p = await ctx.readRequestBody(req)
        m.PEEKED++
        m.LAST_PEEK_BYTES = p.bytes.length
        req.headers.set('X-Peek-Len', String(p.bytes.length))
        req.headers.set('X-Peek-Sha', sha(p.bytes))
        req.headers.set('X-Peek-Complete', String(p.complete))
        return HandlerResult.GoOn
      })
      ctx.callbacks.addResponseFilter(CallbackPoint.ReadResponse, (req, res) => {
        if (res === undefined || (!req.path.startsWith('/upper') && req.path !== '/local'))
          return HandlerResult.GoOn
        m.TRANSFORMED++
        transformResponseBody(res, upper)
        return HandlerResult.GoOn
      })
    },
  }
}

const BIG = Buffer.alloc(3 * 1024 * 1024 + 17, 'abcdefghij')

describe('module platform', () => {
  let up: Upstream
  let bfe: RunningBfe

  before(async () => {
    up = await startUpstream((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        if ((req.url ?? '').startsWith('/upper')) {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BIG.length })
          res.end(req.method === 'HEAD' ? undefined : BIG)
          return
        }
        const body = Buffer.concat(chunks)
        res.setHeader('content-type', 'application/json')
        res.end(
          JSON.stringify({
            len: body.length,
            sha: sha(body),
            peekLen: req.headers['x-peek-len'],
            peekSha: req.headers['x-peek-sha'],
            complete: req.headers['x-peek-complete'],
          }),
        )
      })
    })
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_platform', 'AccessibleBodySize = 4096'],
        files: { 'mod_platform/greeting.txt': '[Basic]\nGreeting = hi\n' },
      }),
      [platformModule()],
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('a module reads the start of a body and the backend still gets all of it (HTTP/1.1)', async () => {
    const small = Buffer.from('x'.repeat(1000))
    const r1 = JSON.parse((await get(`${bfe.url}/peek`, { method: 'POST', body: small })).body)
    assert.deepEqual(r1, {
      len: 1000,
      sha: sha(small),
      peekLen: '1000',
      peekSha: sha(small),
      complete: 'true',
    })
    const big = Buffer.alloc(300_000, 'q')
    const r2 = JSON.parse((await get(`${bfe.url}/peek`, { method: 'POST', body: big })).body)
    assert.equal(r2.len, big.length)
    assert.equal(r2.sha, sha(big))
    assert.equal(r2.complete, 'false')
    assert.ok(Number(r2.peekLen) >= 4096 && Number(r2.peekLen) < 4096 + 65536, r2.peekLen)
    assert.equal(r2.peekSha, sha(big.subarray(0, Number(r2.peekLen))))
  })

  it('the same on HTTP/2', async () => {
    const big = Buffer.alloc(200_000, 'z')
    const r = await h2Request(bfe.tlsPort, '/peek', { method: 'POST', body: big })
    const j = JSON.parse(r.body.toString())
    assert.equal(j.len, big.length)
    assert.equal(j.sha, sha(big))
    assert.equal(j.complete, 'false')
  })

  it('a response body transform streams a large backend body without Content-Length', async () => {
    const r = await get(`${bfe.url}/upper`)
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-length'], undefined)
    assert.equal(r.body.length, BIG.length)
    assert.equal(r.body, BIG.toString('latin1').toUpperCase())
    const h2 = await h2Request(bfe.tlsPort, '/upper')
    assert.equal(h2.status, 200)
    assert.equal(h2.headers['content-length'], undefined)
    assert.equal(sha(h2.body), sha(Buffer.from(BIG.toString('latin1').toUpperCase(), 'latin1')))
  })

  it('transforms module responses too; HEAD keeps the backend length and has no body', async () => {
    const r = await get(`${bfe.url}/local`)
    assert.equal(r.body, 'LOCAL HI')
    const head = await get(`${bfe.url}/upper`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.body, '')
    assert.equal(head.headers['content-length'], String(BIG.length))
  })

  it('ctx.metrics is served at /monitor/<module> and <module>.diff, gauges apart', async () => {
    const r = await monitorGet(bfe.server.monitorPort, '/monitor/mod_platform')
    const j = JSON.parse(r.body)
    assert.equal(j.Prefix, 'mod_platform')
    assert.ok(j.CounterData.PEEKED >= 3, r.body)
    assert.ok(j.CounterData.TRANSFORMED >= 2, r.body)
    assert.ok(j.GaugeData.LAST_PEEK_BYTES > 0, r.body)
    assert.equal(j.CounterData.LAST_PEEK_BYTES, undefined)
    const d = await monitorGet(bfe.server.monitorPort, '/monitor/mod_platform.diff')
    assert.equal(JSON.parse(d.body).Kind, 'delta')
  })

  it('ctx.reloadable: /reload/<name> switches, a bad file (or ?path=) keeps the data', async () => {
    writeFileSync(join(bfe.confRoot, 'mod_platform/greeting.txt'), '[Basic]\nGreeting = hello\n')
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_platform')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'greeting=hello' })
    assert.equal((await get(`${bfe.url}/local`)).body, 'LOCAL HELLO')
    const other = join(bfe.confRoot, 'other.txt')
    writeFileSync(other, '[Basic]\nNope = 1\n')
    const bad = await monitorGet(
      bfe.server.monitorPort,
      `/reload/mod_platform?path=${encodeURIComponent(other)}`,
    )
    assert.match(JSON.parse(bad.body).error, /other\.txt.*Nope/)
    assert.equal((await get(`${bfe.url}/local`)).body, 'LOCAL HELLO')
  })
})

describe('user modules in bfe.conf ([Server] ModuleFile)', () => {
  let up: Upstream
  const dirs: string[] = []
  before(async () => {
    up = await startUpstream()
  })
  after(async () => {
    await up.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it('the stock bfe binary loads a module file and runs it when Modules names it', async () => {
    const modDir = mkdtempSync(join(tmpdir(), 'bfe-modfile-'))
    dirs.push(modDir)
    const file = join(modDir, 'mod_file.mjs')
    writeFileSync(
      file,
      `export default {
  name: 'mod_file',
  init(ctx) {
    ctx.callbacks.addResponseFilter(6, (_req, res) => {
      res?.headers.set('X-Mod-File', ctx.name)
      return 1
    })
  },
}
`,
    )
    const port = await closedPort()
    const httpsPort = await closedPort()
    const dir = writeConf(
      simpleConf([up.port], {
        server: [
          `HttpPort = ${port}`,
          'HttpAddr = 127.0.0.1',
          `HttpsPort = ${httpsPort}`,
          'HttpsAddr = 127.0.0.1',
          `ModuleFile = ${file}`,
          'Modules = mod_file',
        ],
      }),
    )
    dirs.push(dir.root)
    const t = spawnBfe(['-c', dir.root, '-t'])
    assert.equal(await t.exited, 0, t.stderr)
    const p = spawnBfe(['-c', dir.root, '-l', join(dir.root, 'log')])
    try {
      await p.waitForOutput(`listening on port ${port}`, 20_000)
      const r = await get(`http://127.0.0.1:${port}/`)
      assert.equal(r.status, 200)
      assert.equal(r.headers['x-mod-file'], 'mod_file')
    } finally {
      p.signal('SIGKILL')
      await p.exited
    }
  })

  it('a missing or broken module file fails bfe -t with the key and the reason', async () => {
    const modDir = mkdtempSync(join(tmpdir(), 'bfe-modfile-'))
    dirs.push(modDir)
    const broken = join(modDir, 'broken.mjs')
    writeFileSync(broken, 'export default { name: "mod_x" }\n')
    for (const [file, re] of [
      [join(modDir, 'absent.mjs'), /ModuleFile.*absent\.mjs does not exist/],
      [broken, /ModuleFile.*not a module/],
    ] as const) {
      const dir = writeConf(simpleConf([up.port], { server: [`ModuleFile = ${file}`] }))
      dirs.push(dir.root)
      const t = spawnBfe(['-c', dir.root, '-t'])
      assert.notEqual(await t.exited, 0)
      assert.match(t.stdout + t.stderr, re)
    }
  })
})
