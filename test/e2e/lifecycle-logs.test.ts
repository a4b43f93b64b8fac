import assert from 'node:assert/strict'
import { createServer as createNetServer } from 'node:net'
import { Writable } from 'node:stream'
import { after, test } from 'node:test'
import pino from 'pino'
import { type Logger, setServerLog, silentLogger } from '../../src/log/logger.js'
import { HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import { BfeServer } from '../../src/server/server.js'
import { get } from '../helpers/client.js'
import { simpleConf, writeConf } from '../helpers/conf.js'
import { waitFor } from '../helpers/server.js'
import { closedPort } from '../helpers/upstream.js'

/*
 * The server log's content (issue 9, "Logs"): module filter failures name the module and the
 * filter; a backend marked down or up says why. A pino logger writes into an array here.
 */

interface Line {
  level: number
  msg: string
  [k: string]: unknown
}

function captureLogger(): { log: Logger; lines: Line[] } {
  const lines: Line[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Line)
      cb()
    },
  })
  return { log: pino({ level: 'debug' }, sink), lines }
}

const cleanups: (() => Promise<void> | void)[] = []
after(async () => {
  setServerLog(silentLogger())
  for (const c of cleanups) await c()
})

async function start(conf: ReturnType<typeof simpleConf>, log: Logger, modules: BfeModule[] = []) {
  const dir = writeConf(conf)
  const server = await BfeServer.load({
    confRoot: dir.root,
    log,
    modules,
    httpPort: 0,
    httpAddr: '127.0.0.1',
    httpsPort: 0,
    httpsAddr: '127.0.0.1',
  })
  const port = await server.listen()
  cleanups.push(async () => {
    await server.close()
    dir.cleanup()
  })
  return { server, port }
}

test('a module filter that throws is logged with the module, the filter and the callback point', async () => {
  const boom: BfeModule = {
    name: 'mod_boom',
    init({ callbacks: cb }) {
      cb.addRequestFilter(2, () => HandlerResult.GoOn, 'quiet')
      cb.addRequestFilter(
        2,
        (req) => {
          if (req.path === '/async') return Promise.reject(new Error('async filter broke'))
          throw new Error('filter broke')
        },
        'explode',
      )
    },
  }
  const { log, lines } = captureLogger()
  const { port } = await start(simpleConf([1], { server: ['Modules = mod_boom'] }), log, [boom])
  const r = await get(`http://127.0.0.1:${port}/sync`, { headers: { host: 'p.test' } })
  assert.equal(r.status, 500)
  const r2 = await get(`http://127.0.0.1:${port}/async`, { headers: { host: 'p.test' } })
  assert.equal(r2.status, 500)
  await waitFor(() => lines.filter((l) => l.msg.startsWith('module filter')).length === 2, 2000)
  const failures = lines.filter((l) => l.msg.startsWith('module filter'))
  for (const f of failures) {
    assert.equal(f.msg, 'module filter HandleBeforeLocation: mod_boom.explode failed')
    assert.equal(f['filter'], 'HandleBeforeLocation: mod_boom.explode')
  }
  assert.deepEqual(
    failures.map((f) => (f['err'] as { message: string }).message),
    ['filter broke', 'async filter broke'],
  )
  // and each request's failure line carries the error code
  const reqs = lines.filter((l) => l.msg.startsWith('request failed'))
  assert.deepEqual(
    reqs.map((l) => l['errCode']),
    ['BFE_ERR_INTERNAL', 'BFE_ERR_INTERNAL'],
  )
})

test('a backend marked down says why, and marked up again by its checker', async () => {
  const port = await closedPort()
  const { log, lines } = captureLogger()
  setServerLog(log)
  const conf = simpleConf([port], {
    clusterConf: {
      Version: 't',
      Config: {
        c: { CheckConf: { Schem: 'tcp', FailNum: 1, SuccNum: 1, CheckInterval: 100 } },
      },
    },
  })
  const bfe = await start(conf, log)
  const r = await get(`http://127.0.0.1:${bfe.port}/`, { headers: { host: 'p.test' } })
  // connect refused, marked down at once (FailNum 1), no backend left for the retry
  assert.equal(r.status, 503)
  const down = lines.find((l) => l.msg.includes('marked down'))
  assert.ok(down !== undefined, JSON.stringify(lines))
  assert.equal(
    down.msg,
    `backend 127.0.0.1:${port} marked down: 1 consecutive failed requests, last: BK_CONNECT_BACKEND`,
  )
  assert.equal(down['cluster'], 'c')
  assert.equal(down.level, 40)
  // the backend comes to life: the recovery checker's TCP probe succeeds
  const backend = createNetServer((s) => s.destroy())
  await new Promise<void>((res) => backend.listen(port, '127.0.0.1', res))
  cleanups.push(() => new Promise<void>((res) => backend.close(() => res())))
  await waitFor(() => lines.some((l) => l.msg.includes('marked up')), 3000, 'marked up')
  const up = lines.find((l) => l.msg.includes('marked up'))
  assert.equal(up?.msg, `backend 127.0.0.1:${port} marked up: 1 successful health checks`)
})
