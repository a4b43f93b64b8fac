import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clusterConf, fakeReq, gslbData } from '../../test/helpers/balance.js'
import { BalTable } from './bal-table.js'

const base = () =>
  gslbData({
    web: {
      weights: { 'web.a': 1 },
      table: {
        'web.a': [
          ['a1', '10.0.0.1', 80, 5],
          ['a2', '10.0.0.2', 80, 1],
          ['a3', '10.0.0.3', 80, 1],
        ],
      },
    },
    old: { weights: { 'old.a': 1 }, table: { 'old.a': [['o1', '10.1.0.1', 80, 1]] } },
  })

test('gslb reload keeps runtime state of surviving backends and appends new ones', () => {
  const t = new BalTable(base(), new Map([['web', clusterConf('web')]]))
  const bal = t.lookup('web')!
  const sc = bal.subClusters[0]!
  for (let i = 0; i < 3; i++) bal.balance(fakeReq(), 0)
  const a1 = sc.backends[0]!
  const a2 = sc.backends[1]!
  const a3 = sc.backends[2]!
  a2.available = false
  a2.failNum = 7
  const cur = a1.current
  assert.equal(a1.restarted, false) // initial build: no slow start
  const oldBal = t.lookup('old')!
  const o1 = oldBal.subClusters[0]!.backends[0]!

  t.reloadGslb(
    gslbData({
      web: {
        weights: { 'web.a': 1, 'web.b': 1 },
        table: {
          'web.a': [
            ['new', '10.0.0.9', 80, 1],
            ['a2-renamed', '10.0.0.2', 80, 3],
            ['a1', '10.0.0.1', 80, 5],
          ],
          'web.b': [['b1', '10.0.1.1', 80, 1]],
        },
      },
    }),
  )
  assert.equal(t.lookup('web'), bal)
  const sc2 = bal.subClusters[0]!
  assert.deepEqual(
    sc2.backends.map((b) => b.name),
    ['a1', 'a2-renamed', 'new'],
  )
  assert.equal(sc2.backends[0], a1)
  assert.equal(a1.current, cur)
  assert.equal(sc2.backends[1], a2)
  assert.equal(a2.available, false)
  assert.equal(a2.failNum, 7)
  assert.equal(a2.confWeight, 3)
  assert.equal(sc2.backends[2]!.restarted, true)
  assert.equal(a3.removed, true)
  assert.equal(t.lookup('old'), undefined)
  assert.equal(o1.removed, true)
  assert.deepEqual(
    bal.subClusters.map((s) => s.name),
    ['web.a', 'web.b'],
  )
  assert.equal(t.status().BackendNum, 4)
})

test('routing reload applies GslbBasic to existing balancers', () => {
  const t = new BalTable(base(), new Map())
  const bal = t.lookup('web')!
  // defaults before any cluster_conf entry: RetryMax 3, CrossRetry 1
  assert.equal(bal.retryMax, 3)
  assert.equal(bal.crossRetry, 1)
  t.applyClusterConfs(
    new Map([['web', clusterConf('web', { GslbBasic: { RetryMax: 0, CrossRetry: 0 } })]]),
  )
  assert.equal(bal.retryMax, 0)
  const r = bal.balance(fakeReq(), 1)
  assert.ok(!r.ok && r.code === 'BK_RETRY_TOOMANY')
  t.stop()
})

test('slow start after a reload adds a backend', () => {
  let now = 1_000
  const t = new BalTable(
    gslbData({ web: { weights: { s: 1 }, table: { s: [['a', '10.0.0.1', 80, 1]] } } }),
    new Map([['web', clusterConf('web', { BackendConf: { SlowStartTime: 10 } })]]),
    { now: () => now },
  )
  t.reloadGslb(
    gslbData({
      web: {
        weights: { s: 1 },
        table: {
          s: [
            ['a', '10.0.0.1', 80, 1],
            ['b', '10.0.0.2', 80, 1],
          ],
        },
      },
    }),
  )
  const bal = t.lookup('web')!
  let b = 0
  for (let i = 0; i < 100; i++) {
    const r = bal.balance(fakeReq(), 0)
    if (r.ok && r.backend.name === 'b') b++
  }
  assert.ok(b <= 2, `new backend got ${b} picks at once`)
  now += 5_000
  b = 0
  for (let i = 0; i < 300; i++) {
    const r = bal.balance(fakeReq(), 0)
    if (r.ok && r.backend.name === 'b') b++
  }
  assert.ok(b > 60 && b < 150, `b got ${b} of 300 at half ramp`)
  now += 5_000
  bal.balance(fakeReq(), 0)
  assert.equal(bal.subClusters[0]!.backends[1]!.weight, 100)
})

test('prepareGslb changes nothing until commit; abort drops the plan', () => {
  const t = new BalTable(base(), new Map([['web', clusterConf('web')]]))
  const bal = t.lookup('web')!
  const before = bal.subClusters
  const [a1, a2, a3] = before[0]!.backends
  const clusters = t.clusters
  const next = gslbData({
    web: {
      weights: { 'web.a': 1 },
      table: {
        'web.a': [
          ['a1-renamed', '10.0.0.1', 80, 9],
          ['a2', '10.0.0.2', 80, 1],
        ],
      },
    },
    added: { weights: { 'added.a': 1 }, table: { 'added.a': [['n1', '10.2.0.1', 80, 1]] } },
  })
  const plan = t.prepareGslb(next)
  // nothing in use changed
  assert.equal(bal.subClusters, before)
  assert.equal(a1!.name, 'a1')
  assert.equal(a1!.confWeight, 5)
  assert.equal(a3!.removed, false)
  assert.equal(t.lookup('added'), undefined)
  assert.ok(t.lookup('old') !== undefined)
  plan.abort()
  plan.commit() // a dropped plan stays dropped
  assert.equal(bal.subClusters, before)
  assert.equal(t.clusters, clusters)

  t.prepareGslb(next).commit()
  assert.notEqual(t.clusters, clusters, 'a commit makes a new map')
  assert.ok(clusters.has('old'), 'the old map is left as it was (snapshots keep it)')
  assert.equal(a1!.name, 'a1-renamed')
  assert.equal(a1!.confWeight, 9)
  assert.equal(bal.subClusters[0]!.backends[1], a2)
  assert.equal(a3!.removed, true)
  assert.ok(t.lookup('added') !== undefined)
  assert.equal(t.lookup('old'), undefined)
  assert.equal(t.versionInfo().ClusterTableConfVer, 'test')
})

test('a plan made before another switch is rebuilt on commit against what is in use', () => {
  const t = new BalTable(base(), new Map([['web', clusterConf('web')]]))
  const bal = t.lookup('web')!
  const a1 = bal.subClusters[0]!.backends[0]!
  const withB = gslbData({
    web: {
      weights: { 'web.a': 1 },
      table: {
        'web.a': [
          ['a1', '10.0.0.1', 80, 5],
          ['b', '10.0.0.8', 80, 1],
        ],
      },
    },
  })
  const withC = gslbData({
    web: {
      weights: { 'web.a': 1 },
      table: {
        'web.a': [
          ['a1', '10.0.0.1', 80, 5],
          ['b', '10.0.0.8', 80, 1],
          ['c', '10.0.0.9', 80, 1],
        ],
      },
    },
  })
  const first = t.prepareGslb(withB)
  const second = t.prepareGslb(withC)
  first.commit()
  const b = bal.subClusters[0]!.backends[1]!
  b.available = false
  second.commit()
  const list = bal.subClusters[0]!.backends
  assert.deepEqual(
    list.map((x) => x.name),
    ['a1', 'b', 'c'],
  )
  assert.equal(list[0], a1)
  assert.equal(list[1], b, 'the backend added by the first reload keeps its state')
  assert.equal(b.available, false)
  assert.equal(b.removed, false)
})

test('a cluster added by a reload takes its cluster_conf entry on commit', () => {
  const t = new BalTable(
    base(),
    new Map([
      ['web', clusterConf('web')],
      ['late', clusterConf('late', { GslbBasic: { RetryMax: 0, CrossRetry: 0 } })],
    ]),
  )
  t.reloadGslb(
    gslbData({
      late: { weights: { 'late.a': 1 }, table: { 'late.a': [['l', '10.3.0.1', 80, 1]] } },
    }),
  )
  const late = t.lookup('late')!
  assert.equal(late.retryMax, 0)
  assert.equal(late.crossRetry, 0)
  assert.equal(
    late.subClusters[0]!.backends[0]!.restarted,
    false,
    'a new cluster has no slow start',
  )
  assert.equal(t.lookup('web'), undefined)
})
