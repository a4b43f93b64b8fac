import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { describe, test } from 'node:test'
import { BfeConfError } from '../basic/errors.js'
import { silentLogger } from '../log/logger.js'
import { RpcClient, type RpcEndpoint, type RpcPeer, type RpcRequest } from '../process/rpc.js'
import { DelayHistogram } from './delay.js'
import { formatSnapshot } from './format.js'
import { DiffWindow, sumMetrics, totalSnapshot } from './metrics.js'
import { combineSnapshots, primaryBackend } from './primary.js'
import type { MetricsSnapshot, MonitorSource, ReloadPrepare } from './types.js'
import { serveWorkerMonitor } from './worker.js'

describe('delay histogram', () => {
  test('buckets of BucketSize ms, the last one for everything above; Sum and Count in µs', () => {
    const t0 = Date.UTC(2026, 0, 1, 10, 0, 5)
    const h = new DelayHistogram('proxy_delay', 1, t0)
    for (const us of [0, 999, 1000, 2500, 9999, 10_000, 50_000]) h.add(us, t0)
    h.add(-5, t0)
    const s = h.snapshot(t0)
    assert.equal(s.current.count, 7)
    assert.equal(s.current.sum, 0 + 999 + 1000 + 2500 + 9999 + 10_000 + 50_000)
    assert.deepEqual(s.current.counters, [2, 1, 1, 0, 0, 0, 0, 0, 0, 1, 2])
    assert.equal(s.past.count, 0)
  })

  test('the next minute makes "current" the past; a gap of minutes empties both', () => {
    const t0 = Date.UTC(2026, 0, 1, 10, 0, 59)
    const h = new DelayHistogram('proxy_handshake_delay', 100, t0)
    h.add(150_000, t0)
    const s = h.snapshot(t0 + 2000)
    assert.equal(s.current.count, 0)
    assert.equal(s.past.count, 1)
    assert.deepEqual(s.past.counters, [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert.equal(h.snapshot(t0 + 200_000).past.count, 0)
  })

  test('json, kv and prometheus renderings', () => {
    const t0 = Date.UTC(2026, 0, 1, 10, 0, 5)
    const h = new DelayHistogram('proxy_delay', 1, t0)
    h.add(1500, t0)
    h.add(20_000, t0)
    const j = JSON.parse(formatSnapshot('proxy_delay', h.snapshot(t0), null).body)
    assert.equal(j.Interval, 60)
    assert.equal(j.KeyPrefix, 'proxy_delay')
    assert.deepEqual(j.Current, {
      BucketSize: 1,
      BucketNum: 10,
      Count: 2,
      Sum: 21_500,
      Ave: 10_750,
      Counters: [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    })
    assert.match(j.CurrTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:00$/)
    const kv = formatSnapshot('proxy_delay', h.snapshot(t0), 'kv').body
    assert.match(kv, /^proxy_delay_Current_Count:2$/m)
    assert.match(kv, /^proxy_delay_Current_Counters_10:1$/m)
    assert.match(kv, /^proxy_delay_Past_Sum:0$/m)
    const p = formatSnapshot('proxy_delay', h.snapshot(t0), 'prometheus').body
    assert.match(p, /^# TYPE proxy_delay_Current histogram$/m)
    assert.match(p, /^proxy_delay_Current_bucket\{le="1"\} 0$/m)
    assert.match(p, /^proxy_delay_Current_bucket\{le="2"\} 1$/m)
    assert.match(p, /^proxy_delay_Current_bucket\{le="10"\} 1$/m)
    assert.match(p, /^proxy_delay_Current_bucket\{le="\+Inf"\} 2$/m)
    assert.match(p, /^proxy_delay_Current_sum 21\.5$/m)
    assert.match(p, /^proxy_delay_Current_count 2$/m)
    assert.throws(
      () => formatSnapshot('proxy_delay', h.snapshot(t0), 'xml'),
      /format not support: xml/,
    )
  })
})

describe('counter groups', () => {
  test('json, kv and prometheus as BFE writes them; unknown format refused', () => {
    const s = totalSnapshot(
      'proxy_state',
      [{ CLIENT_REQ_SERVED: 3, CLIENT_CONN_ACTIVE: 1 }],
      new Set(['CLIENT_CONN_ACTIVE']),
    )
    assert.deepEqual(JSON.parse(formatSnapshot('proxy_state', s, 'json').body), {
      Prefix: 'proxy_state',
      Kind: 'total',
      GaugeData: { CLIENT_CONN_ACTIVE: 1 },
      CounterData: { CLIENT_REQ_SERVED: 3 },
      StateData: {},
    })
    assert.equal(
      formatSnapshot('proxy_state', s, 'noah').body,
      'proxy_state_CLIENT_REQ_SERVED: 3\nproxy_state_CLIENT_CONN_ACTIVE: 1\n',
    )
    assert.equal(
      formatSnapshot('proxy_state', s, 'prometheus').body,
      '# TYPE proxy_state_CLIENT_REQ_SERVED counter\nproxy_state_CLIENT_REQ_SERVED 3\n' +
        '# TYPE proxy_state_CLIENT_CONN_ACTIVE gauge\nproxy_state_CLIENT_CONN_ACTIVE 1\n',
    )
    assert.throws(() => formatSnapshot('proxy_state', s, 'yaml'), /^Error: invalid format: yaml$/)
  })

  test('a diff window shows the increase during the last completed window only', () => {
    const c = { A: 0, B: 5 }
    const w = new DiffWindow('proxy_state', () => ({ ...c }), 20)
    try {
      c.A = 4
      assert.deepEqual(w.snapshot().counters, { A: 0, B: 0 })
      w.tick()
      c.A = 10
      const s = w.snapshot()
      assert.deepEqual(s.counters, { A: 4, B: 0 })
      assert.equal(s.prefix, 'proxy_state_diff')
      assert.equal(JSON.parse(formatSnapshot('x', s, null).body).Kind, 'delta')
      w.tick()
      assert.deepEqual(w.snapshot().counters, { A: 6, B: 0 })
    } finally {
      w.stop()
    }
  })

  test('the shared clock closes windows at wall-clock multiples of the interval', (t) => {
    t.mock.timers.enable({
      apis: ['setTimeout', 'Date'],
      now: Date.UTC(2026, 0, 1, 10, 0, 13, 500),
    })
    const c = { A: 0 }
    const w = new DiffWindow('proxy_state', () => ({ ...c }), 20)
    try {
      c.A = 3
      t.mock.timers.tick(6_000) // 10:00:19.5: still the first window
      assert.deepEqual(w.snapshot().counters, { A: 0 })
      t.mock.timers.tick(1_000) // 10:00:20.5: the window 10:00:13.5–10:00:20 closed
      assert.deepEqual(w.snapshot().counters, { A: 3 })
      c.A = 10
      t.mock.timers.tick(19_000) // 10:00:39.5
      assert.deepEqual(w.snapshot().counters, { A: 3 })
      t.mock.timers.tick(1_000) // 10:00:40.5
      assert.deepEqual(w.snapshot().counters, { A: 7 })
    } finally {
      w.stop()
    }
  })

  test('values in prometheus: numbers as gauges, strings as labelled info gauges', () => {
    const body = formatSnapshot(
      'module_status',
      { type: 'value', value: { available: ['mod_a', 'mod "b"'], enabled: [], n: 2, ok: true } },
      'prometheus',
    ).body
    assert.match(body, /^module_status_available\{value="mod_a"\} 1$/m)
    assert.match(body, /^module_status_available\{value="mod \\"b\\""\} 1$/m)
    assert.match(body, /^module_status_n 2$/m)
    assert.match(body, /^module_status_ok 1$/m)
  })

  test('sums across workers: counters and gauges added, histograms bucket by bucket', () => {
    const a = totalSnapshot('p', [{ X: 1, G: 2 }], new Set(['G']))
    const b = totalSnapshot('p', [{ X: 10, G: 1 }], new Set(['G']))
    const s = sumMetrics([a, b])
    assert.deepEqual(s.counters, { X: 11 })
    assert.deepEqual(s.gauges, { G: 3 })
    const t = Date.now()
    const h1 = new DelayHistogram('d', 1, t)
    const h2 = new DelayHistogram('d', 1, t)
    h1.add(100, t)
    h2.add(100, t)
    h2.add(5000, t)
    const hs = combineSnapshots([h1.snapshot(t), h2.snapshot(t)])
    assert.equal(hs.type, 'histogram')
    if (hs.type === 'histogram') {
      assert.equal(hs.current.count, 3)
      assert.deepEqual(hs.current.counters.slice(0, 6), [2, 0, 0, 0, 0, 1])
    }
    assert.deepEqual(
      combineSnapshots([
        { type: 'value', value: 1 },
        { type: 'value', value: 2 },
      ]),
      {
        type: 'value',
        value: 1,
      },
    )
  })
})

/** An in-memory IPC pair: the primary's peer and the worker's endpoint. */
function pipePair(id: number): { peer: RpcPeer & { kill(): void }; endpoint: RpcEndpoint } {
  const toWorker = new EventEmitter()
  const toPrimary = new EventEmitter()
  const peerEvents = new EventEmitter()
  toPrimary.on('message', (m) => peerEvents.emit('message', m))
  const peer = {
    id,
    send(m: RpcRequest) {
      setImmediate(() => toWorker.emit('message', m))
      return true
    },
    on(event: string, fn: (m: unknown) => void) {
      peerEvents.on(event, fn)
      return peer
    },
    off(event: string, fn: (m: unknown) => void) {
      peerEvents.off(event, fn)
      return peer
    },
    kill() {
      peerEvents.emit('exit')
    },
  } as RpcPeer & { kill(): void }
  const endpoint: RpcEndpoint = {
    send: (m) => {
      setImmediate(() => toPrimary.emit('message', m))
      return true
    },
    on: (e, fn) => toWorker.on(e, fn),
    off: (e, fn) => toWorker.off(e, fn),
  }
  return { peer, endpoint }
}

interface FakeWorker {
  served: number
  routing: string
  log: string[]
}

/** A worker whose `routing` a reload switches; `refuse` makes its preparer throw. */
function fakeWorker(id: number, rpc: RpcClient, refuse: () => boolean) {
  const w: FakeWorker = { served: id * 10, routing: 'v1', log: [] }
  const { peer, endpoint } = pipePair(id)
  const sources = new Map<string, MonitorSource>([
    ['proxy_state', () => totalSnapshot('proxy_state', [{ CLIENT_REQ_SERVED: w.served }])],
    ['host_table_version', () => ({ type: 'value', value: { HostTag: w.routing } })],
    [
      'broken',
      () => {
        throw new TypeError('boom')
      },
    ],
  ])
  const preparers = new Map<string, ReloadPrepare>([
    [
      'server_data_conf',
      (q) => {
        if (refuse())
          throw new BfeConfError('route_rule.data', '/ProductRule/p/0/Cond', `bad in worker ${id}`)
        const next = q.get('v') ?? 'v2'
        w.log.push('prepare')
        return {
          commit: () => {
            w.routing = next
            w.log.push('commit')
            return `route_rule.data=${next}`
          },
          abort: () => {
            w.log.push('abort')
          },
        }
      },
    ],
  ])
  const stop = serveWorkerMonitor({ sources: () => sources, preparers: () => preparers, endpoint })
  rpc.attach(peer)
  return { w, peer, stop }
}

describe('primary and workers over rpc', () => {
  test('metrics are summed, values taken from the first worker, panics named', async () => {
    const rpc = new RpcClient({ timeoutMs: 2000 })
    const a = fakeWorker(1, rpc, () => false)
    const b = fakeWorker(2, rpc, () => false)
    const backend = primaryBackend(rpc, silentLogger())
    try {
      const s = (await backend.monitor('proxy_state', new URLSearchParams())) as MetricsSnapshot
      assert.equal(s.counters['CLIENT_REQ_SERVED'], 30)
      assert.deepEqual(await backend.monitor('host_table_version', new URLSearchParams()), {
        type: 'value',
        value: { HostTag: 'v1' },
      })
      await assert.rejects(
        backend.monitor('broken', new URLSearchParams()),
        /^AnswerError: monitor panic:boom$/,
      )
      await assert.rejects(
        backend.monitor('nope', new URLSearchParams()),
        /handler not exist, type\[monitor\], command\[nope\]/,
      )
      assert.ok((await backend.monitorNames()).includes('proxy_state'))
      assert.deepEqual(await backend.reloadNames(), ['server_data_conf'])
    } finally {
      a.stop()
      b.stop()
      rpc.close()
    }
  })

  test('a reload switches every worker only when every worker accepted it', async () => {
    const rpc = new RpcClient({ timeoutMs: 2000 })
    let refuse2 = false
    const a = fakeWorker(1, rpc, () => false)
    const b = fakeWorker(2, rpc, () => refuse2)
    const backend = primaryBackend(rpc, silentLogger())
    try {
      assert.equal(
        await backend.reload('server_data_conf', new URLSearchParams('v=v2')),
        'route_rule.data=v2',
      )
      assert.equal(a.w.routing, 'v2')
      assert.equal(b.w.routing, 'v2')
      refuse2 = true
      await assert.rejects(
        backend.reload('server_data_conf', new URLSearchParams('v=v3')),
        /route_rule\.data: \/ProductRule\/p\/0\/Cond bad in worker 2/,
      )
      assert.equal(a.w.routing, 'v2')
      assert.equal(b.w.routing, 'v2')
      assert.deepEqual(a.w.log, ['prepare', 'commit', 'prepare', 'abort'])
      assert.deepEqual(b.w.log, ['prepare', 'commit'])
    } finally {
      a.stop()
      b.stop()
      rpc.close()
    }
  })

  test('a worker that exits or never answers fails the call instead of hanging', async () => {
    const rpc = new RpcClient({ timeoutMs: 300 })
    const a = fakeWorker(1, rpc, () => false)
    const silent = pipePair(2)
    rpc.attach(silent.peer)
    const backend = primaryBackend(rpc, silentLogger())
    try {
      // Metrics: a worker that does not answer is left out of the sum.
      const s = (await backend.monitor('proxy_state', new URLSearchParams())) as MetricsSnapshot
      assert.equal(s.counters['CLIENT_REQ_SERVED'], 10)
      // A reload needs every worker: no answer is a refusal, and the others drop what they prepared.
      await assert.rejects(
        backend.reload('server_data_conf', new URLSearchParams('v=v9')),
        /worker 2 did not answer reload-prepare within 300 ms/,
      )
      assert.equal(a.w.routing, 'v1')
      assert.deepEqual(a.w.log, ['prepare', 'abort'])
      const p = rpc.call(2, 'monitor', {})
      silent.peer.kill()
      await assert.rejects(p, /worker 2 is gone/)
      assert.deepEqual(rpc.workerIds(), [1])
    } finally {
      a.stop()
      rpc.close()
    }
  })
})
