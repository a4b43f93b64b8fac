import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get } from '../helpers/client.js'
import { type ConfDir, simpleConf, writeConf } from '../helpers/conf.js'
import { run } from '../helpers/exec.js'
import { monitorGet } from '../helpers/monitor.js'
import { type BfeProcess, ROOT, spawnBfe } from '../helpers/process.js'
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js'

// The documented example (examples/mod_hello), compiled by `npm run build` and loaded by the
// stock bfe binary through ModuleFile, as docs/writing-a-module.md tells users to do.
const MODULE = join(ROOT, 'dist/examples/mod_hello/index.js')

describe('examples/mod_hello with the stock bfe binary', () => {
  let up: Upstream
  let dir: ConfDir
  let bfe: BfeProcess
  let port = 0
  let monitorPort = 0

  before(async () => {
    up = await startUpstream()
    port = await closedPort()
    monitorPort = await closedPort()
    const httpsPort = await closedPort()
    dir = writeConf(
      simpleConf([up.port], {
        server: [
          `HttpPort = ${port}`,
          `HttpsPort = ${httpsPort}`,
          'HttpAddr = 127.0.0.1',
          'HttpsAddr = 127.0.0.1',
          'MonitorEnabled = true',
          `MonitorPort = ${monitorPort}`,
          `ModuleFile = ${MODULE}`,
          'Modules = mod_hello',
        ],
        files: { 'mod_hello/mod_hello.conf': '[Basic]\nGreeting = hi there\n' },
      }),
    )
    bfe = spawnBfe(['-c', dir.root, '-l', join(dir.root, 'log')])
    await bfe.waitForOutput(`listening on port ${port}`, 20_000)
  })
  after(async () => {
    bfe.signal('SIGKILL')
    await bfe.exited
    await up.close()
    dir.cleanup()
  })

  it('answers /hello itself (and //hello, /x/../hello) and tags forwarded responses', async () => {
    for (const path of ['/hello', '//hello', '/x/../hello']) {
      const r = await get(`http://127.0.0.1:${port}${path}`)
      assert.equal(r.status, 200, path)
      assert.equal(r.body, 'hi there (product p)\n')
      assert.equal(r.headers['x-hello'], 'mod_hello')
    }
    const f = await get(`http://127.0.0.1:${port}/other`)
    assert.equal(f.body, `ok ${up.port}`)
    assert.equal(f.headers['x-hello'], 'mod_hello')
  })

  it('serves its counters on the monitor port', async () => {
    const r = await monitorGet(monitorPort, '/monitor/mod_hello')
    const j = JSON.parse(r.body)
    assert.ok(j.CounterData.HELLO_ANSWERED >= 3, r.body)
    assert.ok(j.CounterData.RESPONSE_HEADER_ADDED >= 4, r.body)
  })

  it('the example conf directory passes bfe -t', async () => {
    // the example borrows the bundled conf/'s certificate, which `npm start` makes when missing
    const made = await run(process.execPath, [join(ROOT, 'scripts/example-cert.mjs')])
    assert.equal(made.code, 0, made.stderr)
    const t = spawnBfe(['-c', join(ROOT, 'examples/mod_hello/conf'), '-t'])
    assert.equal(await t.exited, 0, t.stdout + t.stderr)
  })
})
