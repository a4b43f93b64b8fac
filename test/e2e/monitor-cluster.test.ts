import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { get } from '../helpers/client.js'
import { type ConfDir, simpleConf, writeConf } from '../helpers/conf.js'
import { monitorGet, promtoolCheck } from '../helpers/monitor.js'
import { type BfeProcess, killAllBfe, spawnBfe } from '../helpers/process.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

let up: Upstream
let up2: Upstream
let dir: ConfDir
let bfe: BfeProcess
let ports: { httpPort: number; monitorPort: number; pids: number[] }

async function json(path: string): Promise<Record<string, unknown>> {
  const r = await monitorGet(ports.monitorPort, path)
  assert.equal(r.status, 200)
  return JSON.parse(r.body) as Record<string, unknown>
}

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(port))
    })
  })
}

/** The worker processes of the primary `pid` (its children, from /proc). */
function childPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter((p) => p !== '')
    .map(Number)
}

// The real `bfe` command with MaxCpus = 2: the primary owns the monitor port.
before(async () => {
  up = await startUpstream()
  up2 = await startUpstream()
  const [httpPort, httpsPort, monitorPort] = [await freePort(), await freePort(), await freePort()]
  const conf = simpleConf([up.port])
  dir = writeConf({
    ...conf,
    server: [
      ...(conf.server ?? []),
      'MaxCpus = 2',
      `HttpPort = ${httpPort}`,
      'HttpAddr = 127.0.0.1',
      `HttpsPort = ${httpsPort}`,
      'HttpsAddr = 127.0.0.1',
      'MonitorEnabled = true',
      `MonitorPort = ${monitorPort}`,
      'MonitorAddr = 127.0.0.1',
    ],
  })
  bfe = spawnBfe(['-c', dir.root, '-l', join(dir.root, 'log')])
  await bfe.waitForOutput('listening on port', 30_000)
  ports = { httpPort, monitorPort, pids: childPids(bfe.pid) }
  assert.equal(ports.pids.length, 2)
})

after(async () => {
  if (bfe.child.exitCode === null) {
    bfe.signal('SIGTERM')
    await bfe.exited
  }
  killAllBfe()
  await up.close()
  await up2.close()
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
  test('a balancing reload switches every worker; a refused one leaves every worker as it was', async () => {
    /** Which upstreams answer 30 requests, each on a new connection (spread over both workers). */
    const answered = async () => {
      const seen = new Set<string>()
      for (let i = 0; i < 30; i++) {
        const r = await get(`http://127.0.0.1:${ports.httpPort}/x`, { headers: { host: 'p.test' } })
        assert.equal(r.status, 200)
        seen.add(r.body)
      }
      return [...seen]
    }
    const next = join(dir.root, 'next')
    mkdirSync(next, { recursive: true })
    const table = (port: number) =>
      JSON.stringify({
        Version: `v${port}`,
        Config: { c: { 'c.a': [{ Name: 'b', Addr: '127.0.0.1', Port: port, Weight: 1 }] } },
      })
    writeFileSync(join(next, 'cluster_table.data'), table(up2.port))
    writeFileSync(
      join(next, 'gslb.data'),
      JSON.stringify({ Hostname: 'test', Ts: '1', Clusters: { c: { 'c.a': 100 } } }),
    )
    const path = `/reload/gslb_data_conf?path=${encodeURIComponent(next)}`
    assert.deepEqual(await json(path), { error: null })
    assert.deepEqual(await answered(), [`ok ${up2.port}`])
    // Both workers switched (each logs its own commit).
    const log = readFileSync(join(dir.root, 'log', 'bfe.log'), 'utf8')
    const pids = new Set(
      log
        .split('\n')
        .filter((l) => l.includes('gslb_data_conf reloaded'))
        .map((l) => (JSON.parse(l) as { pid: number }).pid),
    )
    assert.deepEqual([...pids].sort(), [...ports.pids].sort())
    // A broken gslb.data next to a good cluster_table.data: refused, every worker keeps up2.
    writeFileSync(join(next, 'gslb.data'), '{"Hostname": "test", "Clusters": ')
    writeFileSync(join(next, 'cluster_table.data'), table(up.port))
    const bad = await json(path)
    assert.match(String(bad['error']), /gslb\.data/)
    assert.deepEqual(await answered(), [`ok ${up2.port}`])
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
    // The primary counts the replacement (process_state is answered by the primary itself).
    const p = await json('/monitor/process_state')
    assert.equal((p['CounterData'] as Record<string, number>)['WORKER_RESTARTS'], 1)
    assert.equal((p['GaugeData'] as Record<string, number>)['WORKERS'], 2)
    assert.equal((p['StateData'] as Record<string, string>)['ROLE'], 'primary')
    await promtoolCheck(
      (await monitorGet(ports.monitorPort, '/monitor/process_state?format=prometheus')).body,
    )
  })
})
