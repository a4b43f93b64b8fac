import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defaultClusterConf } from '../config/cluster-conf.js'
import type { ClusterConf } from '../config/cluster-conf-types.js'
import { TransportPools } from './transport.js'

function conf(name: string, timeoutConnSrv = 2000): ClusterConf {
  const cc = defaultClusterConf(name)
  cc.BackendConf.TimeoutConnSrv = timeoutConnSrv
  return cc
}

test('forBackend: one pool per backend object and conf snapshot, reused without rebuilding', async () => {
  const pools = new TransportPools()
  const b = { addr: '127.0.0.1', port: 9 }
  const cc = conf('c1')
  const p1 = pools.forBackend(b, cc)
  assert.equal(pools.forBackend(b, cc), p1)
  // Another backend object with the same address and cluster shares the keyed pool.
  assert.equal(pools.forBackend({ addr: '127.0.0.1', port: 9 }, cc), p1)
  // A new snapshot with the same transport settings keeps the warm pool.
  assert.equal(pools.forBackend(b, conf('c1')), p1)
  await pools.close()
})

test('forBackend: changed transport settings close the old pool and give a new one', async () => {
  const pools = new TransportPools()
  const b = { addr: '127.0.0.1', port: 9 }
  const p1 = pools.forBackend(b, conf('c1'))
  const p2 = pools.forBackend(b, conf('c1', 500))
  assert.notEqual(p2, p1)
  assert.equal(p1.closed, true)
  assert.equal(p2.closed, false)
  await pools.close()
})

/** A scope over a mutable configuration: cluster → (conf, backend keys). */
function scoped(): {
  pools: TransportPools
  now: Map<string, { cc: ClusterConf; backends: Set<string> }>
} {
  const now = new Map<string, { cc: ClusterConf; backends: Set<string> }>()
  const pools = new TransportPools((cluster, key) => {
    const c = now.get(cluster)
    return c?.backends.has(key) ? c.cc : undefined
  })
  return { pools, now }
}

test('prune: pools of removed backends and clusters close, others stay warm', async () => {
  const { pools, now } = scoped()
  const cc1 = conf('c1')
  const cc2 = conf('c2')
  now.set('c1', { cc: cc1, backends: new Set(['127.0.0.1:9', '127.0.0.1:10']) })
  now.set('c2', { cc: cc2, backends: new Set(['127.0.0.1:9']) })
  const keep = pools.forBackend({ addr: '127.0.0.1', port: 9 }, cc1)
  const gone = pools.forBackend({ addr: '127.0.0.1', port: 10 }, cc1)
  const cluster = pools.forBackend({ addr: '127.0.0.1', port: 9 }, cc2)
  assert.equal(pools.size, 3)
  // reload: backend :10 leaves c1, cluster c2 is gone; c1 gets a new conf object, same settings
  now.set('c1', { cc: conf('c1'), backends: new Set(['127.0.0.1:9']) })
  now.delete('c2')
  assert.equal(pools.prune(), 2)
  assert.equal(pools.size, 1)
  assert.equal(gone.closed, true)
  assert.equal(cluster.closed, true)
  assert.equal(keep.closed, false)
  assert.equal(pools.forBackend({ addr: '127.0.0.1', port: 9 }, now.get('c1')!.cc), keep)
  await pools.close()
})

test('prune: a cluster whose transport settings changed gets new pools', async () => {
  const { pools, now } = scoped()
  const b = { addr: '127.0.0.1', port: 9 }
  const old = conf('c1')
  now.set('c1', { cc: old, backends: new Set(['127.0.0.1:9']) })
  const p1 = pools.forBackend(b, old)
  const changed = conf('c1', 500)
  now.set('c1', { cc: changed, backends: new Set(['127.0.0.1:9']) })
  assert.equal(pools.prune(), 1)
  assert.equal(p1.closed, true)
  const p2 = pools.forBackend(b, changed)
  assert.notEqual(p2, p1)
  assert.equal(p2.closed, false)
  assert.equal(pools.size, 1)
  await pools.close()
})

test('a request of an older snapshot never replaces the pool in force: it gets an orphan', async () => {
  const { pools, now } = scoped()
  const b = { addr: '127.0.0.1', port: 9 }
  const old = conf('c1')
  const cur = conf('c1', 500)
  now.set('c1', { cc: cur, backends: new Set(['127.0.0.1:9']) })
  const live = pools.forBackend(b, cur)
  // the old conf has other transport settings: a pool of its own, closed after its dispatch
  const o = pools.forBackend(b, old)
  assert.notEqual(o, live)
  assert.equal(pools.orphanCount, 1)
  assert.equal(pools.forBackend(b, cur), live)
  assert.equal(live.closed, false)
  // a backend the configuration no longer has: an orphan too
  const o2 = pools.forBackend({ addr: '127.0.0.1', port: 11 }, cur)
  await new Promise((r) => setImmediate(r))
  assert.equal(o.closed, true)
  assert.equal(o2.closed, true)
  assert.equal(pools.size, 1)
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(pools.orphanCount, 0)
  await pools.close()
})
