import assert from 'node:assert/strict'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Client } from 'undici'
import { get, rawExchange } from '../helpers/client.js'
import { testPki } from '../helpers/conf.js'
import { type BfeProcess, ROOT, spawnBfe } from '../helpers/process.js'
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js'

/**
 * A BFE-format configuration directory as shipped, started as an operator would: laid out as
 * BFE installs it (`<root>/conf`, run from `<root>/bin`), with only the modules of decision D19
 * removed from bfe.conf, the ports moved to free ones and every backend pointed at a local
 * upstream. The requests are the ones BFE's shipped module data describes.
 *
 * By default this is bfe-ts's bundled `conf/` (which ships the same module rules as BFE's
 * `conf/`). Set BFE_CONF_DIR to BFE's own `conf/` directory (a checkout of bfenetworks/bfe) to run
 * the same checks on it; its files are not part of this repository.
 */
const SOURCE = process.env['BFE_CONF_DIR'] ?? join(ROOT, 'conf')
const D19 =
  /^\s*Modules\s*=\s*(mod_wasm|mod_unified_waf|mod_doh|mod_access_pb3|mod_ai_\w+|mod_body_process)\s*$/

describe(`a shipped BFE configuration directory (${SOURCE})`, () => {
  let root = ''
  let up: Upstream
  let bfe: BfeProcess
  let port = 0

  before(async () => {
    up = await startUpstream()
    root = mkdtempSync(join(tmpdir(), 'bfe-shipped-'))
    cpSync(SOURCE, join(root, 'conf'), { recursive: true })
    // bfe-ts's bundled conf/ gets its certificate from `npm start`; a clean clone has none
    const certs = join(root, 'conf/tls_conf/certs')
    if (!existsSync(join(certs, 'server.crt'))) {
      const c = testPki().server('shipped', {
        cn: 'example.org',
        dns: ['example.org', 'localhost'],
      })
      mkdirSync(certs, { recursive: true })
      writeFileSync(join(certs, 'server.crt'), c.certPem)
      writeFileSync(join(certs, 'server.key'), c.keyPem)
    }
    mkdirSync(join(root, 'bin'))
    port = await closedPort()
    const ports: Record<string, number> = {
      HttpPort: port,
      HttpsPort: await closedPort(),
      MonitorPort: await closedPort(),
    }
    const confFile = join(root, 'conf/bfe.conf')
    const lines = readFileSync(confFile, 'utf8')
      .split('\n')
      .map((l) => {
        if (D19.test(l)) return `# ${l}`
        const m = /^\s*(HttpPort|HttpsPort|MonitorPort)\s*=/.exec(l)
        return m === null ? l : `${m[1]} = ${ports[m[1] ?? '']}`
      })
    writeFileSync(confFile, lines.join('\n'))
    const tableFile = join(root, 'conf/cluster_conf/cluster_table.data')
    const table = JSON.parse(readFileSync(tableFile, 'utf8')) as {
      Config: Record<string, Record<string, { Addr: string; Port: number }[]>>
    }
    for (const subs of Object.values(table.Config))
      for (const list of Object.values(subs))
        for (const b of list) {
          b.Addr = '127.0.0.1'
          b.Port = up.port
        }
    writeFileSync(tableFile, JSON.stringify(table, null, 2))

    const t = spawnBfe(['-c', '../conf', '-t'], join(root, 'bin'))
    const code = await t.exited
    assert.equal(code, 0, `bfe -t failed:\n${t.stdout}${t.stderr}`)
    bfe = spawnBfe(['-c', '../conf', '-l', '../log'], join(root, 'bin'))
    await bfe.waitForOutput(`listening on port ${port}`, 20_000)
  })
  after(async () => {
    if (bfe !== undefined) {
      bfe.signal('SIGKILL')
      await bfe.exited
    }
    await up.close()
    if (root !== '') rmSync(root, { recursive: true, force: true })
  })

  const host = { host: 'example.org' }

  it('/limit is closed by mod_block, without a response', async () => {
    const r = await rawExchange(port, 'GET /limit HTTP/1.1\r\nHost: example.org\r\n\r\n')
    assert.equal(r.data, '')
    assert.equal(r.closed, true)
  })

  it('/header gets X-Proxied-By from mod_header', async () => {
    const r = await get(`http://127.0.0.1:${port}/header`, { headers: host })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-proxied-by'], 'bfe')
  })

  it('/rewrite reaches the backend under /bfe/ (mod_rewrite)', async () => {
    const r = await get(`http://127.0.0.1:${port}/rewrite/x`, { headers: host })
    assert.equal(r.status, 200)
    assert.equal(up.seen.at(-1)?.url, '/bfe/rewrite/x')
  })

  it('/redirect gets a 301 (mod_redirect)', async () => {
    const r = await get(`http://127.0.0.1:${port}/redirect`, { headers: host })
    assert.equal(r.status, 301)
    assert.equal(r.headers['location'], 'https://example.org')
  })

  it('/prison is closed after its threshold (mod_prison)', async () => {
    // one keep-alive connection (one worker), one request after the other: the threshold is 5
    // requests per 10 s for one UID cookie, so the 6th is closed without a response
    const client = new Client(`http://127.0.0.1:${port}`, { pipelining: 1 })
    const results: (number | string)[] = []
    try {
      for (let i = 0; i < 6; i++) {
        try {
          const r = await client.request({
            path: '/prison',
            method: 'GET',
            headers: { host: 'example.org', cookie: 'UID=shipped-test' },
          })
          await r.body.text()
          results.push(r.statusCode)
        } catch (err) {
          results.push((err as { code?: string }).code ?? String(err))
        }
      }
    } finally {
      await client.close()
    }
    assert.deepEqual(results.slice(0, 5), [200, 200, 200, 200, 200], results.join(','))
    assert.equal(typeof results[5], 'string', results.join(','))
  })

  it('the access log gets lines in the template of mod_access.conf', async () => {
    const conf = readFileSync(join(root, 'conf/mod_access/mod_access.conf'), 'utf8')
    // both logs go to the one file; each line starts with its template's first word
    const firsts = ['Request', 'Session'].map(
      (k) => new RegExp(`${k}Template\\s*=\\s*"?(\\S+)`).exec(conf)?.[1] ?? '',
    )
    assert.ok(
      firsts.every((f) => f !== ''),
      conf,
    )
    const file = join(root, 'log', 'access.log')
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      if (existsSync(file) && readFileSync(file, 'utf8').split('\n').length > 4) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
    assert.ok(lines.length >= 4, lines.join('\n'))
    for (const l of lines)
      assert.ok(
        firsts.some((f) => l.startsWith(f)),
        l,
      )
    assert.ok(
      lines.some((l) => l.startsWith(firsts[0] ?? '')),
      lines.join('\n'),
    )
  })
})
