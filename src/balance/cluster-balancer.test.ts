import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clusterConf, fakeReq, gslbData, seededRandom } from '../../test/helpers/balance.js'
import { BalTable } from './bal-table.js'
import { type BalanceResult, ClusterBalancer } from './cluster-balancer.js'
import { clientIpKey, hashKey } from './hash-key.js'

type Patch = NonNullable<Parameters<typeof clusterConf>[1]>

function name(r: BalanceResult): string {
  return r.ok ? `${r.subCluster.name}/${r.backend.name}` : r.code
}

function table(
  weights: Record<string, number>,
  backends: Record<string, [string, string, number, number][]>,
  gslb: Patch['GslbBasic'] = {},
  extra: Patch = {},
  random = seededRandom(7),
): BalTable {
  const data = gslbData({ web: { weights, table: backends } })
  const confs = new Map([['web', clusterConf('web', { ...extra, GslbBasic: gslb })]])
  return new BalTable(data, confs, { random })
}

test('GSLB shares follow the weights over many client IPs', () => {
  const t = table(
    { 'web.a': 70, 'web.b': 30, 'web.c': 0 },
    {
      'web.a': [['a1', '10.0.0.1', 80, 1]],
      'web.b': [['b1', '10.0.1.1', 80, 1]],
      'web.c': [['c1', '10.0.2.1', 80, 1]],
    },
  )
  const bal = t.lookup('web')
  assert.ok(bal !== undefined)
  const count = new Map<string, number>()
  const N = 20000
  for (let i = 0; i < N; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
    const r = bal.balance(fakeReq({ clientAddr: ip }), 0)
    assert.ok(r.ok)
    count.set(r.subCluster.name, (count.get(r.subCluster.name) ?? 0) + 1)
  }
  const a = (count.get('web.a') ?? 0) / N
  assert.ok(Math.abs(a - 0.7) < 0.02, `web.a share ${a}`)
  assert.equal(count.get('web.c'), undefined)
  // the same client always lands in the same sub-cluster
  const r1 = bal.balance(fakeReq({ clientAddr: '192.0.2.9' }), 0)
  for (let i = 0; i < 20; i++) {
    const r = bal.balance(fakeReq({ clientAddr: '192.0.2.9' }), 0)
    assert.ok(r.ok && r1.ok && r.subCluster === r1.subCluster)
  }
})

test('GSLB_BLACKHOLE sheds a consistent share of clients', () => {
  const t = table(
    { 'web.a': 1, GSLB_BLACKHOLE: 1 },
    { 'web.a': [['a1', '10.0.0.1', 80, 1]] },
    { CrossRetry: 1 },
  )
  const bal = t.lookup('web')!
  let shed = 0
  for (let i = 0; i < 2000; i++) {
    const ip = `172.16.${i >> 8}.${i & 255}`
    const first = name(bal.balance(fakeReq({ clientAddr: ip }), 0))
    for (let k = 0; k < 3; k++)
      assert.equal(name(bal.balance(fakeReq({ clientAddr: ip }), 0)), first)
    if (first === 'GSLB_BLACKHOLE') shed++
  }
  assert.ok(shed > 850 && shed < 1150, `shed ${shed}`)
  assert.equal(t.counters.ERR_GSLB_BLACKHOLE, shed * 4)
})

test('a single positive sub-cluster is chosen without hashing', () => {
  const t = table({ 'web.a': 0, 'web.b': 5 }, { 'web.b': [['b1', '10.0.0.1', 80, 1]] })
  assert.equal(name(t.lookup('web')!.balance(fakeReq(), 0)), 'web.b/b1')
})

test('retry within RetryMax stays in the sub-cluster; beyond is BK_RETRY_TOOMANY', () => {
  const t = table(
    { 'web.a': 1 },
    {
      'web.a': [
        ['a1', '10.0.0.1', 80, 1],
        ['a2', '10.0.0.2', 80, 1],
      ],
    },
    { RetryMax: 2, CrossRetry: 0 },
  )
  const bal = t.lookup('web')!
  const req = fakeReq({ clientAddr: '1.2.3.4' })
  assert.equal(name(bal.balance(req, 0)), 'web.a/a1')
  assert.equal(name(bal.balance(req, 1)), 'web.a/a2')
  assert.equal(name(bal.balance(req, 2)), 'web.a/a1')
  assert.equal(name(bal.balance(req, 3)), 'BK_RETRY_TOOMANY')
  assert.equal(t.counters.ERR_BK_RETRY_TOO_MANY, 1)
})

test('all backends down: BK_NO_BACKEND without cross retry, other sub-cluster with it', () => {
  const backends: Record<string, [string, string, number, number][]> = {
    'web.a': [['a1', '10.0.0.1', 80, 1]],
    'web.b': [['b1', '10.0.1.1', 80, 1]],
    'web.c': [['c1', '10.0.2.1', 80, 1]],
  }
  const w = { 'web.a': 1, 'web.b': 0, 'web.c': 0 }
  const noCross = table(w, backends, { RetryMax: 1, CrossRetry: 0 })
  const b0 = noCross.lookup('web')!
  b0.subClusters[0]!.backends[0]!.available = false
  assert.equal(name(b0.balance(fakeReq(), 0)), 'BK_NO_BACKEND')
  assert.equal(noCross.counters.ERR_BK_NO_BACKEND, 1)

  const cross = table(w, backends, { RetryMax: 1, CrossRetry: 1 })
  const b1 = cross.lookup('web')!
  b1.subClusters[0]!.backends[0]!.available = false
  const r = b1.balance(fakeReq(), 0)
  assert.ok(r.ok)
  assert.equal(r.crossRetried, true)
  assert.notEqual(r.subCluster.name, 'web.a') // weight-0 sub-clusters are eligible for cross retry
  // retry above RetryMax goes straight to cross retry even if web.a recovered
  b1.subClusters[0]!.backends[0]!.available = true
  const r2 = b1.balance(fakeReq(), 2)
  assert.ok(r2.ok && r2.crossRetried && r2.subCluster.name !== 'web.a')
  assert.equal(name(b1.balance(fakeReq(), 3)), 'BK_RETRY_TOOMANY')
  // cross target down too: CROSS_RETRY_BALANCE
  for (const sc of b1.subClusters) for (const b of sc.backends) b.available = false
  assert.equal(name(b1.balance(fakeReq(), 2)), 'CROSS_RETRY_BALANCE')
})

test('cross retry with no other sub-cluster: BK_NO_SUB_CLUSTER_CROSS; blackhole is never a target', () => {
  const t = table(
    { 'web.a': 1, GSLB_BLACKHOLE: 0 },
    { 'web.a': [['a1', '10.0.0.1', 80, 1]] },
    { RetryMax: 0, CrossRetry: 2 },
  )
  const bal = t.lookup('web')!
  assert.equal(name(bal.balance(fakeReq(), 1)), 'BK_NO_SUB_CLUSTER_CROSS')
  assert.equal(t.counters.ERR_BK_NO_SUB_CLUSTER_CROSS, 1)
})

test('sub-cluster in gslb.data without backends fails with BK_NO_BACKEND', () => {
  const t = table({ 'web.x': 1 }, {}, { CrossRetry: 0 })
  assert.equal(name(t.lookup('web')!.balance(fakeReq(), 0)), 'BK_NO_BACKEND')
})

test('balancer without sub-clusters: BK_NO_SUB_CLUSTER', () => {
  const b = new ClusterBalancer('x')
  assert.equal(name(b.balance(fakeReq(), 0)), 'BK_NO_SUB_CLUSTER')
  assert.equal(b.counters.ERR_BK_NO_SUB_CLUSTER, 1)
})

test('sticky backend argument is preferred when usable', () => {
  const t = table(
    { 'web.a': 1, 'web.b': 0 },
    {
      'web.a': [
        ['a1', '10.0.0.1', 80, 1],
        ['a2', '10.0.0.2', 80, 1],
      ],
      'web.b': [['b1', '10.0.0.3', 80, 1]],
    },
  )
  const bal = t.lookup('web')!
  const a2 = { addr: '10.0.0.2', port: 80, subCluster: 'web.a' }
  assert.equal(name(bal.balance(fakeReq(), 0, a2)), 'web.a/a2')
  assert.equal(name(bal.balance(fakeReq(), 0, a2)), 'web.a/a2')
  // the same address named in another sub-cluster, or in a sub-cluster of weight 0: not used
  assert.equal(name(bal.balance(fakeReq(), 0, { ...a2, subCluster: 'web.b' })), 'web.a/a1')
  assert.equal(
    name(bal.balance(fakeReq(), 0, { addr: '10.0.0.3', port: 80, subCluster: 'web.b' })),
    'web.a/a2',
  )
  bal.subClusters[0]!.backends[1]!.available = false
  assert.equal(name(bal.balance(fakeReq(), 0, a2)), 'web.a/a1')
  assert.equal(
    name(bal.balance(fakeReq(), 0, { addr: '10.9.9.9', port: 80, subCluster: 'web.a' })),
    'web.a/a1',
  )
  // past the retry limit the sticky backend does not help
  assert.equal(name(bal.balance(fakeReq(), 9, a2)), 'BK_RETRY_TOOMANY')
})

test('SessionSticky picks the same backend for the same client', () => {
  const t = table(
    { 'web.a': 1 },
    {
      'web.a': [
        ['a1', '10.0.0.1', 80, 1],
        ['a2', '10.0.0.2', 80, 1],
        ['a3', '10.0.0.3', 80, 1],
      ],
    },
    { HashConf: { HashStrategy: 1, HashHeader: '', SessionSticky: true } },
  )
  const bal = t.lookup('web')!
  const seen = new Set<string>()
  for (let i = 0; i < 50; i++) {
    const ip = `10.1.0.${i}`
    const first = name(bal.balance(fakeReq({ clientAddr: ip }), 0))
    seen.add(first)
    for (let k = 0; k < 5; k++)
      assert.equal(name(bal.balance(fakeReq({ clientAddr: ip }), k % 3)), first)
  }
  assert.equal(seen.size, 3)
})

test('WLC mode through the balancer', () => {
  const t = table(
    { 'web.a': 1 },
    {
      'web.a': [
        ['a1', '10.0.0.1', 80, 1],
        ['a2', '10.0.0.2', 80, 1],
      ],
    },
    { BalanceMode: 'WLC' },
  )
  const bal = t.lookup('web')!
  bal.subClusters[0]!.backends[0]!.activeRequests = 3
  assert.equal(name(bal.balance(fakeReq(), 0)), 'web.a/a2')
  assert.equal(name(bal.balance(fakeReq(), 0)), 'web.a/a2')
})

test('hash keys: header, cookie, IP (16-byte form), URI, random fallback', () => {
  const rnd = seededRandom(3)
  const h = (s: number, header: string, req: Parameters<typeof fakeReq>[0]) =>
    Buffer.from(
      hashKey(fakeReq(req), { HashStrategy: s, HashHeader: header, SessionSticky: false }, rnd),
    )
  assert.equal(h(0, 'X-Uid', { headers: ['x-uid', 'u1'] }).toString(), 'u1')
  assert.equal(h(0, 'Cookie:sid', { headers: ['Cookie', 'a=1; sid=s9'] }).toString(), 's9')
  assert.equal(
    h(2, 'X-Uid', { clientAddr: '1.2.3.4' }).toString('hex'),
    '00000000000000000000ffff01020304',
  )
  assert.equal(h(1, '', { clientAddr: '::1' }).length, 16)
  assert.equal(h(3, '', { rawUri: '/a?b=1' }).toString(), '/a?b=1')
  const r1 = h(1, '', {})
  const r2 = h(1, '', {})
  assert.equal(r1.length, 8)
  assert.notDeepEqual(r1, r2)
  assert.equal(clientIpKey('not-an-ip'), undefined)
})

test('status and version views', () => {
  const t = table({ 'web.a': 1, 'web.b': 1 }, { 'web.a': [['a1', '10.0.0.1', 80, 1]] })
  assert.deepEqual(t.status(), {
    Balancers: {
      web: {
        SubClusters: { 'web.a': { BackendNum: 1 }, 'web.b': { BackendNum: 0 } },
        BackendNum: 1,
      },
    },
    BackendNum: 1,
  })
  assert.deepEqual(t.clusterStatus('web'), { status: 'Exist' })
  assert.deepEqual(t.clusterStatus('nope'), { status: 'Not Exist' })
  assert.deepEqual(t.versionInfo(), {
    ClusterTableConfVer: 'test',
    GslbConfTimeStamp: 't',
    GslbConfSrc: 'h',
  })
})
