// The real server, started from the command line, serves with V8's built-in prototypes in fast
// mode although it has loaded ioredis (whose `class VerbatimString extends String` turns
// String.prototype into a dictionary): src/process/fast-prototypes.ts.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { get } from '../helpers/client.js'
import { simpleConf, writeConf } from '../helpers/conf.js'
import { ROOT, spawnBfe } from '../helpers/process.js'
import { closedPort, startUpstream } from '../helpers/upstream.js'

const cleanups: (() => void)[] = []
after(() => {
  for (const c of cleanups) c()
})

test('the CLI server listens with String.prototype and the other built-in prototypes fast', async () => {
  const up = await startUpstream((_req, res) => res.end('ok'))
  cleanups.push(() => up.close())
  const dir = writeConf(
    simpleConf([up.port], {
      server: [`HttpPort = ${await closedPort()}`, `HttpsPort = ${await closedPort()}`],
    }),
  )
  cleanups.push(dir.cleanup)
  // a preload with V8's natives syntax reports the prototypes' mode every 50 ms
  const tmp = mkdtempSync(join(tmpdir(), 'bfe-proto-'))
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }))
  const preload = join(tmp, 'report.mjs')
  writeFileSync(
    preload,
    `const protos = { String: String.prototype, Number: Number.prototype, Array: Array.prototype,
      Object: Object.prototype, Map: Map.prototype, Buffer: Buffer.prototype }
    setInterval(() => {
      const slow = Object.keys(protos).filter((k) => !%HasFastProperties(protos[k]))
      process.stderr.write('SLOW[' + slow.join(',') + ']\\n')
    }, 50).unref()\n`,
  )
  const p = spawnBfe(['-c', dir.root, '-l', join(tmp, 'log')], ROOT, [
    '--allow-natives-syntax',
    '--import',
    preload,
  ])
  cleanups.push(() => p.signal('SIGKILL'))
  await p.waitForOutput(/listening on port (\d+)/, 15_000)
  const port = Number(/listening on port (\d+)/.exec(p.stdout)?.[1])
  // the first report written after the server listens
  const mark = p.stderr.length
  let report: string | undefined
  const end = Date.now() + 5_000
  while (report === undefined) {
    report = /SLOW\[([^\]]*)\]\n/.exec(p.stderr.slice(mark))?.[1]
    if (report === undefined && Date.now() > end) throw new Error(`no report:\n${p.stderr}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.equal(report, '', 'prototypes still in dictionary mode once listening')
  const res = await get(`http://127.0.0.1:${port}/`)
  assert.equal(res.status, 200)
})
