import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { get } from '../helpers/client.js'
import { type ConfDir, simpleConf, writeConf } from '../helpers/conf.js'
import { monitorGet, promtoolCheck } from '../helpers/monitor.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const LAUNCHER = fileURLToPath(new URL('../helpers/cluster-launcher.js', import.meta.url))

let up: Upstream
let dir: ConfDir
let child: ChildProcess
let ports: { httpPort: number; monitorPort: number; pids: number[] }

async function json(path: string): Promise<Record<string, unknown>> {
  const r = await monitorGet(ports.monitorPort, path)
  assert.equal(r.status, 200)
  return JSON.parse(r.body) as Record<string, unknown>
}

before(async () => {
  up = await startUpstream()
  dir = writeConf(simpleConf([up.port]))
  child = spawn(process.execPath, [LAUNCHER, dir.root, '2'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString()
  })
  ports = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`launcher did not start: ${err}`)), 30_000)
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      const nl = out.indexOf('\n')
      if (nl === -1) return
      clearTimeout(t)
      resolve(JSON.parse(out.slice(0, nl)))
    })
    child.on('exit', (code) => reject(new Error(`launcher exited ${code}: ${err}`)))
  })
})

after(async () => {
  if (child.exitCode === null) {
    const gone = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await gone
  }
  await up.close()
  dir.cleanup()
})

describe('monitor with 2 workers: the primary owns the port', () => {
  test('20 requests across 2 workers: CLIENT_REQ_SERVED = 20, histograms summed', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await get(`http://127.0.0.1:${ports.httpPort}/x`, { headers: { host: 'p.test' } })
      assert.equal(r.status, 200)
    }
    const s = await json('/monitor/proxy_state')
    assert.equal((s['CounterData'] as Record<string, number>)['CLIENT_REQ_SERVED'], 20)
    assert.equal((s['CounterData'] as Record<string, number>)['HTTP_CLIENT_CONN_SERVED'], 20)
    const d = await json('/monitor/proxy_delay')
    assert.equal(
      (d['Current'] as { Count: number }).Count + (d['Past'] as { Count: number }).Count,
      20,
    )
    assert.deepEqual(await json('/monitor/host_table_version'), {
      HostTag: 't',
      Vip: 't',
      ProductRoute: 't',
    })
    await promtoolCheck(
      (await monitorGet(ports.monitorPort, '/monitor/proxy_state?format=prometheus')).body,
    )
    const h = await monitorGet(ports.monitorPort, '/healthz')
    assert.equal(h.body, 'ok')
  })

  test('a broken file is refused by the workers with file and field named; a good one switches all', async () => {
    const rule = join(dir.root, 'server_data_conf/route_rule.data')
    writeFileSync(
      rule,
      JSON.stringify({
        Version: 'bad',
        ProductRule: { p: [{ Cond: 'default_t(', ClusterName: 'c' }] },
      }),
    )
    const bad = await json('/reload/server_data_conf')
    assert.match(String(bad['error']), /route_rule\.data/)
    assert.equal((await json('/monitor/host_table_version'))['ProductRoute'], 't')
    writeFileSync(
      rule,
      JSON.stringify({
        Version: 'v2',
        ProductRule: { p: [{ Cond: 'default_t()', ClusterName: 'c' }] },
      }),
    )
    assert.deepEqual(await json('/reload/server_data_conf'), { error: null })
    // Value answers come from the first worker; a worker that had refused would have failed the reload.
    assert.equal((await json('/monitor/host_table_version'))['ProductRoute'], 'v2')
    const names = (await monitorGet(ports.monitorPort, '/monitor')).body
    assert.match(names, /href="\/monitor\/proxy_state"/)
    const far = await monitorGet(ports.monitorPort, '/reload/server_data_conf', '127.0.0.2')
    assert.match(JSON.parse(far.body).error, /^reload is not allowed from/)
  })
  test('a worker killed: the monitor and reloads keep answering, without waiting for it', async () => {
    const victim = ports.pids[0]
    assert.ok(victim !== undefined)
    process.kill(victim, 'SIGKILL')
    const t0 = Date.now()
    const s = await json('/monitor/proxy_state')
    assert.equal(s['Prefix'], 'proxy_state')
    assert.ok(Date.now() - t0 < 6000)
    // A dead worker is dropped from the fan-out (its replacement joins once it is ready).
    const deadline = Date.now() + 20_000
    for (;;) {
      const r = await json('/reload/server_data_conf')
      if (r['error'] === null) break
      assert.ok(Date.now() < deadline, `reload kept failing: ${String(r['error'])}`)
      await new Promise((res) => setTimeout(res, 100))
    }
    const r = await get(`http://127.0.0.1:${ports.httpPort}/x`, { headers: { host: 'p.test' } })
    assert.equal(r.status, 200)
  })
})
