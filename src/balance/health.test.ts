import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { clusterConf, fakeReq, gslbData } from '../../test/helpers/balance.js'
import { waitFor } from '../../test/helpers/server.js'
import type { Backend } from './backend.js'
import { BalTable } from './bal-table.js'
import {
  EXPEDITE_GAP_MS,
  type HealthProber,
  OutlierMatcher,
  onBackendFailure,
  onBackendSuccess,
  statusCodeMatches,
  statusRangeMatches,
} from './health.js'

type Patch = NonNullable<Parameters<typeof clusterConf>[1]>

const tables: BalTable[] = []
after(() => {
  for (const t of tables) t.stop()
})

/** A prober without sockets: answers what `answer()` says and counts the calls. */
function fakeProber(answer: () => boolean): HealthProber & { calls: number } {
  const p = {
    calls: 0,
    probe(): Promise<boolean> {
      p.calls++
      return Promise.resolve(answer())
    },
  }
  return p
}

function oneBackend(port: number, patch: Patch = {}, prober?: HealthProber): Backend {
  const t = new BalTable(
    gslbData({ web: { weights: { s: 1 }, table: { s: [['b', '127.0.0.1', port, 1]] } } }),
    new Map([['web', clusterConf('web', patch)]]),
    { prober },
  )
  tables.push(t)
  return t.lookup('web')!.subClusters[0]!.backends[0]!
}

test('status code rules', () => {
  assert.equal(statusCodeMatches(0, 503), true)
  assert.equal(statusCodeMatches(200, 200), true)
  assert.equal(statusCodeMatches(200, 204), false)
  assert.equal(statusCodeMatches(2, 204), true) // 2xx
  assert.equal(statusCodeMatches(2 | 4, 302), true) // 2xx|3xx
  assert.equal(statusCodeMatches(2 | 4, 404), false)
  assert.equal(statusCodeMatches(16, 503), true)
  assert.equal(statusRangeMatches('200|3xx', 200), true)
  assert.equal(statusRangeMatches('200|3xx', 301), true)
  assert.equal(statusRangeMatches('200|3xx', 404), false)
  assert.equal(statusRangeMatches('2x4', 204), true)
})

test('outlier pattern: classes and exact codes, junk ignored', () => {
  const m = new OutlierMatcher('502|5XX|4xx|abc|')
  assert.equal(m.match(502), true)
  assert.equal(m.match(503), true)
  assert.equal(m.match(404), true)
  assert.equal(m.match(200), false)
  const e = new OutlierMatcher('504|3xx')
  assert.equal(e.match(504), true)
  assert.equal(e.match(503), false)
  assert.equal(e.match(301), true)
  assert.equal(new OutlierMatcher('').match(500), false)
})

test('passive marking: FailNum consecutive failures, outlier codes, success resets', () => {
  const b = oneBackend(
    1,
    {
      CheckConf: { FailNum: 3, CheckInterval: 100_000 },
      BackendConf: { OutlierDetectionHttpCode: '503|4xx' },
    },
    fakeProber(() => false),
  )
  onBackendFailure(b)
  onBackendSuccess(b, 503)
  assert.equal(b.failNum, 2)
  onBackendSuccess(b, 200)
  assert.equal(b.failNum, 0)
  onBackendSuccess(b, 404)
  onBackendSuccess(b, 503)
  assert.equal(b.available, true)
  onBackendFailure(b)
  assert.equal(b.available, false)
  assert.equal(b.checking, true)
  onBackendFailure(b) // a second checker is never started
  assert.equal(b.checking, true)
})

test('DisableHealthCheck: failures are not counted', () => {
  const b = oneBackend(1, { CheckConf: { FailNum: 1 }, ClusterBasic: { DisableHealthCheck: true } })
  for (let i = 0; i < 5; i++) onBackendFailure(b)
  assert.equal(b.available, true)
  assert.equal(b.failNum, 0)
})

test('no prober: a backend marked down stays down, no checker runs', async () => {
  const b = oneBackend(1, { CheckConf: { FailNum: 1, CheckInterval: 10 } })
  onBackendFailure(b)
  assert.equal(b.available, false)
  assert.equal(b.checking, false)
  assert.equal(b.checkTimer, undefined)
  await new Promise((r) => setTimeout(r, 40))
  assert.equal(b.available, false)
})

test('no prober: ActiveCheck starts no timer; setProber starts it', async () => {
  const t = new BalTable(
    gslbData({ web: { weights: { s: 1 }, table: { s: [['b', '127.0.0.1', 1, 1]] } } }),
    new Map([['web', clusterConf('web', { CheckConf: { ActiveCheck: true, CheckInterval: 10 } })]]),
  )
  tables.push(t)
  const b = t.lookup('web')!.subClusters[0]!.backends[0]!
  await new Promise((r) => setTimeout(r, 40))
  assert.equal(b.probing, false)
  const p = fakeProber(() => true)
  t.setProber(p)
  await waitFor(() => p.calls >= 2, 1500)
  assert.equal(b.available, true)
})

test('setProber: a down backend gets its recovery checker and comes back', async () => {
  const t = new BalTable(
    gslbData({ web: { weights: { s: 1 }, table: { s: [['b', '127.0.0.1', 1, 1]] } } }),
    new Map([
      ['web', clusterConf('web', { CheckConf: { FailNum: 1, SuccNum: 2, CheckInterval: 5 } })],
    ]),
  )
  tables.push(t)
  const b = t.lookup('web')!.subClusters[0]!.backends[0]!
  onBackendFailure(b)
  assert.equal(b.available, false)
  const p = fakeProber(() => true)
  t.setProber(p)
  assert.equal(b.checking, true)
  await waitFor(() => b.available, 1500)
  assert.equal(p.calls, 2)
  assert.equal(b.restarted, true)
})

test('a pick that finds every backend down wakes the checker: one probe now, not after CheckInterval', async () => {
  let healthy = false
  const prober = fakeProber(() => healthy)
  const t = new BalTable(
    gslbData({ web: { weights: { s: 1 }, table: { s: [['b', '127.0.0.1', 1, 1]] } } }),
    new Map([['web', clusterConf('web', { CheckConf: { FailNum: 1, CheckInterval: 100_000 } })]]),
    { prober },
  )
  tables.push(t)
  const bal = t.lookup('web')!
  const b = bal.subClusters[0]!.backends[0]!
  onBackendFailure(b)
  assert.equal(b.available, false)
  await waitFor(() => prober.calls === 1 && b.checkTimer !== undefined)
  const req = fakeReq({ clientAddr: '192.0.2.1' })
  // within EXPEDITE_GAP_MS of the last probe: nothing more
  assert.equal(bal.balance(req, 0).ok, false)
  assert.equal(prober.calls, 1)
  await new Promise((r) => setTimeout(r, EXPEDITE_GAP_MS + 20))
  healthy = true
  assert.equal(bal.balance(req, 0).ok, false)
  assert.equal(prober.calls, 2)
  await waitFor(() => b.available)
  assert.equal(bal.balance(req, 0).ok, true)
})
