// The real server, started from the command line, serves with V8's built-in prototypes in fast
// mode although it has loaded ioredis (whose `class VerbatimString extends String` turns
// String.prototype into a dictionary): src/process/fast-prototypes.ts.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { get } from '../helpers/client.js'
import { simpleConf, writeConf } from '../helpers/conf.js'
import { MAIN } from '../helpers/process.js'
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
  const child = spawn(
    process.execPath,
    ['--allow-natives-syntax', '--import', preload, MAIN, '-c', dir.root, '-l', join(tmp, 'log')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  cleanups.push(() => child.kill('SIGKILL'))
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  const until = async (ok: () => boolean, what: string) => {
    const end = Date.now() + 15_000
    while (!ok()) {
      if (Date.now() > end || child.exitCode !== null)
        throw new Error(`${what} not seen:\n${stdout}\n${stderr}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  await until(() => /listening on port (\d+)/.test(stdout), 'listening')
  const port = Number(/listening on port (\d+)/.exec(stdout)?.[1])
  const mark = stderr.length
  await until(() => /SLOW\[[^\]]*\]\n/.test(stderr.slice(mark)), 'a report after listening')
  const report = /SLOW\[([^\]]*)\]/.exec(stderr.slice(mark))?.[1]
  assert.equal(report, '', 'prototypes still in dictionary mode once listening')
  const res = await get(`http://127.0.0.1:${port}/`)
  assert.equal(res.status, 200)
})
