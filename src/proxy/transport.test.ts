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

test('forBackend: a pool closed by retain() is not handed out again', async () => {
  const pools = new TransportPools()
  const b = { addr: '127.0.0.1', port: 9 }
  const cc = conf('c1')
  const p1 = pools.forBackend(b, cc)
  pools.retain(() => false)
  assert.equal(p1.closed, true)
  const p2 = pools.forBackend(b, cc)
  assert.notEqual(p2, p1)
  assert.equal(p2.closed, false)
  await pools.close()
})
