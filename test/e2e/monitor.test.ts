import assert from 'node:assert/strict'
import http2 from 'node:http2'
import { request as httpsRequest } from 'node:https'
import { after, before, describe, test } from 'node:test'
import type { BfeModule } from '../../src/module/types.js'
import { get } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { indexNames, monitorGet, promtoolCheck } from '../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js'

/** Every proxy_state name of spec/monitor.md §2.3. */
const PROXY_STATE_GAUGES = [
  'CLIENT_CONN_ACTIVE',
  'HTTP_CLIENT_CONN_ACTIVE',
  'HTTPS_CLIENT_CONN_ACTIVE',
  'HTTP2_CLIENT_CONN_ACTIVE',
  'SPDY_CLIENT_CONN_ACTIVE',
  'STREAM_CLIENT_CONN_ACTIVE',
  'WS_CLIENT_CONN_ACTIVE',
  'WSS_CLIENT_CONN_ACTIVE',
  'CLIENT_REQ_ACTIVE',
  'HTTP_CLIENT_REQ_ACTIVE',
  'HTTPS_CLIENT_REQ_ACTIVE',
  'HTTP2_CLIENT_REQ_ACTIVE',
  'SPDY_CLIENT_REQ_ACTIVE',
  'SSE_REQ_ACTIVE',
]
const PROXY_STATE_COUNTERS = [
  'CLIENT_CONN_SERVED',
  'HTTP_CLIENT_CONN_SERVED',
  'HTTPS_CLIENT_CONN_SERVED',
  'HTTP2_CLIENT_CONN_SERVED',
  'SPDY_CLIENT_CONN_SERVED',
  'STREAM_CLIENT_CONN_SERVED',
  'WS_CLIENT_CONN_SERVED',
  'WSS_CLIENT_CONN_SERVED',
  'CLIENT_REQ_SERVED',
  'HTTP_CLIENT_REQ_SERVED',
  'HTTPS_CLIENT_REQ_SERVED',
  'HTTP2_CLIENT_REQ_SERVED',
  'SPDY_CLIENT_REQ_SERVED',
  'SSE_REQ_SERVED',
  'CLIENT_CONN_USE100_CONTINUE',
  'CLIENT_CONN_UNFINISHED_REQ',
  'CLIENT_REQ_FAIL',
  'CLIENT_REQ_FAIL_WITH_NO_RETRY',
  'CLIENT_REQ_WITH_RETRY',
  'CLIENT_REQ_WITH_CROSS_RETRY',
  'ERR_CLIENT_LONG_URL',
  'ERR_CLIENT_LONG_HEADER',
  'ERR_CLIENT_CLOSE',
  'ERR_CLIENT_TIMEOUT',
  'ERR_CLIENT_BAD_REQUEST',
  'ERR_CLIENT_ZERO_CONTENTLEN',
  'ERR_CLIENT_EXPECT_FAIL',
  'ERR_CLIENT_CONN_ACCEPT',
  'ERR_CLIENT_WRITE',
  'ERR_CLIENT_RESET',
  'ERR_BK_FIND_PRODUCT',
  'ERR_BK_FIND_LOCATION',
  'ERR_BK_NO_BALANCE',
  'ERR_BK_NO_CLUSTER',
  'ERR_BK_BODY_PROCESS',
  'ERR_BK_CONNECT_BACKEND',
  'ERR_BK_REQUEST_BACKEND',
  'ERR_BK_WRITE_REQUEST',
  'ERR_BK_READ_RESP_HEADER',
  'ERR_BK_RESP_HEADER_TIMEOUT',
  'ERR_BK_TRANSPORT_BROKEN',
  'PANIC_CLIENT_CONN_SERVE',
  'PANIC_BACKEND_WRITE',
  'PANIC_BACKEND_READ',
  'TLS_HANDSHAKE_ALL',
  'TLS_HANDSHAKE_SUCC',
  'TLS_MULTI_CERT_GET',
  'TLS_MULTI_CERT_CONN_WITHOUT_VIP',
  'TLS_MULTI_CERT_CONN_VIP_UNKNOWN',
  'TLS_MULTI_CERT_CONN_WITHOUT_SNI',
  'TLS_MULTI_CERT_USE_DEFAULT',
  'TLS_MULTI_CERT_UPDATE',
  'TLS_MULTI_CERT_UPDATE_ERR',
  'SESSION_CACHE_CONN',
  'SESSION_CACHE_CONN_FAIL',
  'SESSION_CACHE_SET',
  'SESSION_CACHE_SET_FAIL',
  'SESSION_CACHE_GET',
  'SESSION_CACHE_GET_FAIL',
  'SESSION_CACHE_TYPE_NOT_BYTES',
  'SESSION_CACHE_MISS',
  'SESSION_CACHE_HIT',
  'SESSION_CACHE_NO_INSTANCE',
]

/** Every core endpoint of spec/monitor.md §2.2. */
const CORE = [
  'proxy_state',
  'proxy_state_diff',
  'bal_state',
  'bal_state_diff',
  'tls_state',
  'tls_state_diff',
  'http_state',
  'http_state_diff',
  'http2_state',
  'http2_state_diff',
  'spdy_state',
  'spdy_state_diff',
  'stream_state',
  'stream_state_diff',
  'websocket_state',
  'websocket_state_diff',
  'proxy_protocol_state',
  'proxy_protocol_state_diff',
  'proxy_delay',
  'proxy_post_delay',
  'proxy_handshake_delay',
  'proxy_handshake_full_delay',
  'proxy_handshake_resume_delay',
  'host_table_status',
  'host_table_version',
  'cluster_table_version',
  'bal_table_status',
  'bal_table_version',
  'module_status',
  'module_handlers',
  'server_stat',
  'proxy_mem_stat',
]

/** A module with a counter handler, a value handler and a reload handler. */
function monitoredModule(): { module: BfeModule; hits: { HIT_COUNT: number }; reloads: string[] } {
  const hits = { HIT_COUNT: 0 }
  const reloads: string[] = []
  const module: BfeModule = {
    name: 'mod_test_mon',
    init({ callbacks: cb, web }) {
      cb.addRequestFilter(2, () => {
        hits.HIT_COUNT++
        return 1
      })
      web.registerMonitor('mod_test_mon', () => hits)
      web.registerMonitor('mod_test_mon_rules', () => ({ Version: 'r1', Rules: ['a', 'b'], n: 2 }))
      web.registerReload('mod_test_mon', (q) => {
        reloads.push(q.toString())
        return { commit: () => 'mod_test_mon.data=r2', abort: () => {} }
      })
    },
  }
  return { module, hits, reloads }
}

/** One HTTPS/1.1 request (own connection, any certificate). */
function httpsGet(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        rejectUnauthorized: false,
        agent: false,
        headers: { host: 'p.test' },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

/** `n` requests on one HTTP/2 connection. */
async function h2Get(port: number, n: number): Promise<number[]> {
  const s = http2.connect(`https://localhost:${port}`, { rejectUnauthorized: false })
  s.on('error', () => {})
  try {
    const out: number[] = []
    for (let i = 0; i < n; i++) {
      out.push(
        await new Promise<number>((resolve, reject) => {
          const st = s.request({ ':path': '/', ':authority': 'p.test' })
          let status = 0
          st.on('response', (h) => {
            status = Number(h[':status'])
          })
          st.on('end', () => resolve(status))
          st.on('error', reject)
          st.resume()
        }),
      )
    }
    return out
  } finally {
    s.close()
  }
}

let up: Upstream
let bfe: RunningBfe
let mport: number
let mod: ReturnType<typeof monitoredModule>

async function json(path: string): Promise<Record<string, unknown>> {
  const r = await monitorGet(mport, path)
  assert.equal(r.status, 200)
  return JSON.parse(r.body) as Record<string, unknown>
}

before(async () => {
  up = await startUpstream()
  mod = monitoredModule()
  bfe = await startBfe(simpleConf([up.port], { server: ['Modules = mod_test_mon'] }), [mod.module])
  mport = bfe.server.monitorPort
})
after(async () => {
  await bfe.close()
  await up.close()
})

describe('monitor server (one process)', () => {
  test('every proxy_state name is there from start-up, gauges and counters apart', async () => {
    assert.ok(mport > 0)
    const s = await json('/monitor/proxy_state')
    assert.equal(s['Prefix'], 'proxy_state')
    assert.equal(s['Kind'], 'total')
    const g = s['GaugeData'] as Record<string, number>
    const c = s['CounterData'] as Record<string, number>
    for (const n of PROXY_STATE_GAUGES) assert.equal(typeof g[n], 'number', n)
    for (const n of PROXY_STATE_COUNTERS) assert.equal(typeof c[n], 'number', n)
    const h2 = await json('/monitor/http2_state')
    assert.equal(h2['Prefix'], 'proxy_state')
    for (const n of ['H2_ERR_MAX_HEADER_LIST_SIZE', 'H2_TIMEOUT_SETTING', 'H2_PANIC_CONN'])
      assert.equal(typeof (h2['CounterData'] as Record<string, number>)[n], 'number', n)
    const ws = (await json('/monitor/websocket_state'))['CounterData'] as Record<string, number>
    assert.equal(ws['WEB_SOCKET_ERR_HANDSHAKE'], 0)
  })

  test('requests are counted where they happen', async () => {
    const before = (await json('/monitor/proxy_state'))['CounterData'] as Record<string, number>
    for (let i = 0; i < 5; i++) {
      const r = await get(`${bfe.url}/x`, { headers: { host: 'p.test' } })
      assert.equal(r.status, 200)
    }
    const s = await json('/monitor/proxy_state')
    const c = s['CounterData'] as Record<string, number>
    const g = s['GaugeData'] as Record<string, number>
    const d = (k: string) => (c[k] ?? 0) - (before[k] ?? 0)
    assert.equal(d('CLIENT_REQ_SERVED'), 5)
    assert.equal(d('HTTP_CLIENT_REQ_SERVED'), 5)
    assert.equal(d('HTTP_CLIENT_CONN_SERVED'), 5)
    assert.equal(d('CLIENT_CONN_SERVED'), 5)
    assert.equal(g['CLIENT_REQ_ACTIVE'], 0)
    const http = (await json('/monitor/http_state'))['CounterData'] as Record<string, number>
    assert.ok((http['HTTP_BACKEND_REQ_SUCC'] ?? 0) >= 5)
    assert.ok((http['HTTP_BACKEND_CONN_SUCC'] ?? 0) >= 1)
    const delay = await json('/monitor/proxy_delay')
    assert.equal(delay['KeyPrefix'], 'proxy_delay')
    assert.ok(((delay['Current'] as { Count: number }).Count ?? 0) >= 5)
    const m = await json('/monitor/mod_test_mon')
    assert.equal(m['Prefix'], 'mod_test_mon')
    assert.ok(((m['CounterData'] as Record<string, number>)['HIT_COUNT'] ?? 0) >= 5)
    assert.equal((await json('/monitor/mod_test_mon.diff'))['Prefix'], 'mod_test_mon_diff')
    const diff = await json('/monitor/proxy_state_diff')
    assert.equal(diff['Prefix'], 'proxy_state_diff')
    assert.equal(diff['Kind'], 'delta')
    assert.deepEqual(diff['GaugeData'], {})
  })

  test('HTTPS and HTTP/2 connections and requests are counted per protocol; handshakes timed', async () => {
    const before = (await json('/monitor/proxy_state'))['CounterData'] as Record<string, number>
    const hsBefore = await json('/monitor/proxy_handshake_delay')
    assert.equal(await httpsGet(bfe.tlsPort), 200)
    assert.deepEqual(await h2Get(bfe.tlsPort, 3), [200, 200, 200])
    const s = await json('/monitor/proxy_state')
    const c = s['CounterData'] as Record<string, number>
    const d = (k: string) => (c[k] ?? 0) - (before[k] ?? 0)
    assert.equal(d('HTTPS_CLIENT_CONN_SERVED'), 1)
    assert.equal(d('HTTPS_CLIENT_REQ_SERVED'), 1)
    assert.equal(d('HTTP2_CLIENT_CONN_SERVED'), 1)
    assert.equal(d('HTTP2_CLIENT_REQ_SERVED'), 3)
    assert.equal(d('TLS_HANDSHAKE_ALL'), 2)
    assert.equal(d('TLS_HANDSHAKE_SUCC'), 2)
    const count = (h: Record<string, unknown>) =>
      (h['Current'] as { Count: number }).Count + (h['Past'] as { Count: number }).Count
    const hs = await json('/monitor/proxy_handshake_delay')
    assert.equal(count(hs) - count(hsBefore), 2)
    assert.equal(hs['KeyPrefix'], 'proxy_handshake_delay')
    assert.equal((hs['Current'] as { BucketSize: number }).BucketSize, 100)
    const full = await json('/monitor/proxy_handshake_full_delay')
    assert.ok(count(full) >= 2)
    const h2 = (await json('/monitor/http2_state'))['CounterData'] as Record<string, number>
    assert.ok((h2['H2_REQ_HEADER_ORIGINAL_SIZE'] ?? 0) > 0)
  })

  test('backend failures: the attempt, the cause and the failed request are counted', async () => {
    const dead = await closedPort()
    const down = await startBfe(simpleConf([dead]))
    try {
      const r = await get(`${down.url}/`, { headers: { host: 'p.test' } })
      assert.equal(r.status, 502)
      const m = await monitorGet(down.server.monitorPort, '/monitor/proxy_state')
      const c = JSON.parse(m.body).CounterData as Record<string, number>
      assert.ok((c['ERR_BK_CONNECT_BACKEND'] ?? 0) >= 1)
      assert.ok((c['ERR_BK_REQUEST_BACKEND'] ?? 0) >= 1)
      assert.equal(c['CLIENT_REQ_FAIL'], 1)
      assert.equal(c['CLIENT_REQ_SERVED'], 1)
      const m2 = await monitorGet(down.server.monitorPort, '/monitor/proxy_delay')
      assert.equal(JSON.parse(m2.body).Current.Count, 0)
    } finally {
      await down.close()
    }
  })

  test('tables, versions, modules and memory', async () => {
    assert.deepEqual(await json('/monitor/host_table_status'), {
      HostTableSize: 1,
      HostTagTableSize: 1,
      VipTableSize: 0,
      ProductRouteTableSize: 1,
      ProductBasicRouteTableSize: 0,
    })
    assert.deepEqual(await json('/monitor/host_table_version'), {
      HostTag: 't',
      Vip: 't',
      ProductRoute: 't',
    })
    assert.deepEqual(await json('/monitor/cluster_table_version'), { ClusterConfVer: 't' })
    assert.deepEqual(await json('/monitor/bal_table_status?cluster_name=nope'), {
      status: 'Not Exist',
    })
    const ms = await json('/monitor/module_status')
    assert.deepEqual(ms['enabled'], ['mod_test_mon'])
    assert.deepEqual(await json('/monitor/module_handlers'), {
      '2#HandleBeforeLocation': ['mod_test_mon.anonymous'],
    })
    assert.equal(typeof (await json('/monitor/proxy_mem_stat'))['heapUsed'], 'number')
    assert.deepEqual(await json('/monitor/server_stat'), { total_bytes_body_buffer: 0 })
    const kv = await monitorGet(mport, '/monitor/host_table_version?format=kv')
    assert.match(kv.body, /^HostTag:t$/m)
  })

  test('BFE\'s URL scheme: index pages, errors as {"error":...} with status 200', async () => {
    const home = await monitorGet(mport, '/')
    assert.equal(home.status, 200)
    assert.match(home.body, /Welcome to bfe/)
    assert.match(home.body, /version: \d+\.\d+\.\d+/)
    for (const l of ['/monitor', '/reload', '/debug']) assert.ok(home.body.includes(`href="${l}"`))
    const names = indexNames((await monitorGet(mport, '/monitor')).body, 'monitor')
    for (const n of [...CORE, 'mod_test_mon', 'mod_test_mon.diff', 'mod_test_mon_rules'])
      assert.ok(names.includes(n), n)
    assert.deepEqual(names, [...names].sort())
    assert.deepEqual(indexNames((await monitorGet(mport, '/reload')).body, 'reload').sort(), [
      'gslb_data_conf',
      'mod_test_mon',
      'name_conf',
      'server_data_conf',
      'tls_conf',
      'tls_session_ticket_key',
    ])
    assert.ok(indexNames((await monitorGet(mport, '/debug')).body, 'debug').includes('profile'))
    const cases: [string, string][] = [
      ['/foo', 'invalid command [foo]'],
      ['/foo/bar', 'invalid command [foo]'],
      ['/monitor/nope', 'handler not exist, type[monitor], command[nope]'],
      ['/reload/nope', 'handler not exist, type[reload], command[nope]'],
      ['/monitor/proxy_state?format=xml', 'invalid format: xml'],
    ]
    for (const [path, error] of cases) {
      const r = await monitorGet(mport, path)
      assert.equal(r.status, 200, path)
      assert.deepEqual(JSON.parse(r.body), { error }, path)
    }
    const h = await monitorGet(mport, '/healthz')
    assert.equal(h.status, 200)
    assert.equal(h.body, 'ok')
  })

  test('reload runs from 127.0.0.1 only', async () => {
    assert.deepEqual(await json('/reload/server_data_conf'), { error: null })
    assert.deepEqual(await json('/reload/mod_test_mon?path=x'), {
      error: null,
      version: 'mod_test_mon.data=r2',
    })
    assert.deepEqual(mod.reloads, ['path=x'])
    const far = await monitorGet(mport, '/reload/server_data_conf', '127.0.0.2')
    assert.match(JSON.parse(far.body).error, /^reload is not allowed from \[127\.0\.0\.2:\d+\]$/)
    const dbg = await monitorGet(mport, '/debug/cmdline', '127.0.0.2')
    assert.match(JSON.parse(dbg.body).error, /^debug is not allowed from/)
    const bad = await json('/reload/gslb_data_conf?path=/nonexistent/dir')
    assert.match(String(bad['error']), /gslb\.data|cluster_table\.data/)
  })

  test('/debug maps to Node diagnostics (local peers)', async () => {
    const cmd = await monitorGet(mport, '/debug/cmdline')
    assert.ok(cmd.body.length > 0)
    const p = await monitorGet(mport, '/debug/profile?seconds=1')
    const prof = JSON.parse(p.body) as { nodes?: unknown[] }
    assert.ok(Array.isArray(prof.nodes) && prof.nodes.length > 0)
    const viaPprof = await monitorGet(mport, '/debug/pprof/cmdline')
    assert.equal(viaPprof.body, cmd.body)
    assert.match((await monitorGet(mport, '/debug/pprof')).body, /href="\/debug\/profile"/)
    assert.match(
      JSON.parse((await monitorGet(mport, '/debug/trace')).body).error,
      /no Node equivalent/,
    )
    const heap = await monitorGet(mport, '/debug/heap')
    assert.ok(heap.body.startsWith('{"snapshot":'), heap.body.slice(0, 100))
    const bad = await monitorGet(mport, '/debug/profile?seconds=600')
    assert.match(JSON.parse(bad.body).error, /seconds must be an integer from 1 to 60/)
  })

  test('?format=prometheus is valid exposition for every category (promtool)', async () => {
    const names = indexNames((await monitorGet(mport, '/monitor')).body, 'monitor')
    assert.ok(names.length >= CORE.length + 3)
    for (const n of names) {
      const r = await monitorGet(mport, `/monitor/${encodeURIComponent(n)}?format=prometheus`)
      assert.match(r.type, /^text\/plain; version=0\.0\.4/, n)
      assert.doesNotMatch(r.body, /"error"/, n)
      await promtoolCheck(r.body)
    }
    const p = await monitorGet(mport, '/monitor/proxy_state?format=prometheus')
    assert.match(p.body, /^# TYPE proxy_state_CLIENT_REQ_SERVED counter$/m)
    assert.match(p.body, /^proxy_state_CLIENT_REQ_SERVED \d+$/m)
  })
})
