// Issue 15 finding 6 (decisions.md D23): numbers in configuration cannot overflow Node's timers,
// and names from data files cannot reach Object.prototype. Real server, real upstream sockets.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { MAX_TIMER_MS } from '../../src/config/bounds.js'
import { get } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { monitorGet } from '../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Collects the TimeoutOverflowWarnings this process emits while a test runs. */
function watchOverflow(): { readonly seen: string[]; stop(): void } {
  const seen: string[] = []
  const onWarning = (w: Error): void => {
    if (w.name === 'TimeoutOverflowWarning') seen.push(w.message)
  }
  process.on('warning', onWarning)
  return { seen, stop: () => process.off('warning', onWarning) }
}

/** An upstream counting health probes (`/hc`, answered after `hcDelayMs`) apart from requests. */
async function countingUpstream(hcDelayMs = 0): Promise<{ up: Upstream; probes: () => number }> {
  let probes = 0
  const up = await startUpstream((req, res) => {
    req.resume()
    if (req.url === '/hc') {
      probes++
      setTimeout(() => res.end('healthy'), hcDelayMs)
      return
    }
    res.end('ok')
  })
  return { up, probes: () => probes }
}

describe('timer bounds on a running server', () => {
  test('CheckInterval at the largest allowed value probes once, not every millisecond', async () => {
    const overflow = watchOverflow()
    const { up, probes } = await countingUpstream()
    let bfe: RunningBfe | undefined
    try {
      bfe = await startBfe(
        simpleConf([up.port], {
          clusterConf: {
            Version: 't',
            Config: {
              c: {
                CheckConf: {
                  Uri: '/hc',
                  ActiveCheck: true,
                  CheckInterval: MAX_TIMER_MS,
                  CheckTimeout: MAX_TIMER_MS,
                },
              },
            },
          },
        }),
      )
      await sleep(1500)
      // the first round runs at start; the next one is 24.8 days away (an overflowed timer
      // would have fired about 1,500 times by now)
      assert.ok(probes() <= 1, `${probes()} probes in 1.5 s`)
      const r = await get(bfe.url, { headers: { host: 'p.test' } })
      assert.equal(r.status, 200)
      assert.deepEqual(overflow.seen, [])
    } finally {
      overflow.stop()
      await bfe?.close()
      await up.close()
    }
  })

  test('timeouts above the timer limit are clamped: a healthy backend stays up and serves', async () => {
    const overflow = watchOverflow()
    // probes take 30 ms: a timeout that overflowed to 1 ms would fail every one of them
    const { up, probes } = await countingUpstream(30)
    let bfe: RunningBfe | undefined
    try {
      const big = 3_000_000_000
      bfe = await startBfe(
        simpleConf([up.port], {
          clusterConf: {
            Version: 't',
            Config: {
              c: {
                BackendConf: { TimeoutConnSrv: big, TimeoutResponseHeader: big },
                CheckConf: {
                  Uri: '/hc',
                  ActiveCheck: true,
                  FailNum: 1,
                  CheckInterval: 50,
                  CheckTimeout: big,
                },
                ClusterBasic: {
                  TimeoutReadClient: big,
                  TimeoutWriteClient: big,
                  TimeoutReadClientAgain: big,
                },
              },
            },
          },
        }),
      )
      await sleep(600)
      assert.ok(probes() >= 3, `only ${probes()} probes`)
      for (let i = 0; i < 5; i++) {
        const r = await get(`${bfe.url}/x`, {
          method: 'POST',
          headers: { host: 'p.test' },
          body: 'body',
        })
        assert.equal(r.status, 200, r.body)
        assert.equal(r.body, 'ok')
      }
      assert.deepEqual(overflow.seen, [])
      const clamped = bfe.server.warnings.filter((w) =>
        /is above the maximum 2147483647 ms/.test(w),
      )
      assert.equal(clamped.length, 6, bfe.server.warnings.join('\n'))
    } finally {
      overflow.stop()
      await bfe?.close()
      await up.close()
    }
  })

  test('bfe.conf second timeouts above the limit are clamped too', async () => {
    const overflow = watchOverflow()
    const { up } = await countingUpstream()
    let bfe: RunningBfe | undefined
    try {
      bfe = await startBfe(
        simpleConf([up.port], {
          server: ['ClientReadTimeout = 99999999999', 'ClientWriteTimeout = 3000000'],
        }),
      )
      assert.equal(bfe.server.conf.Server.ClientReadTimeout, 2147483)
      assert.equal(bfe.server.conf.Server.ClientWriteTimeout, 2147483)
      const r = await get(bfe.url, { headers: { host: 'p.test' } })
      assert.equal(r.status, 200)
      assert.deepEqual(overflow.seen, [])
    } finally {
      overflow.stop()
      await bfe?.close()
      await up.close()
    }
  })
})

describe('bounds on reload', () => {
  test('a reload with CheckInterval 2147483648 or a cluster named __proto__ is refused; the running conf stays', async () => {
    const overflow = watchOverflow()
    const { up } = await countingUpstream()
    let bfe: RunningBfe | undefined
    try {
      bfe = await startBfe(simpleConf([up.port]))
      const file = join(bfe.confRoot, 'server_data_conf/cluster_conf.data')
      const original = readFileSync(file, 'utf8')
      const bad = [
        { Version: 'r', Config: { c: { CheckConf: { CheckInterval: 2147483648 } } } },
        JSON.parse('{"Version": "r", "Config": {"c": {}, "__proto__": {}}}') as unknown,
      ]
      for (const conf of bad) {
        writeFileSync(file, JSON.stringify(conf))
        const r = await monitorGet(bfe.server.monitorPort, '/reload/server_data_conf')
        // BFE's reload answer: 200 with {"error": ...}
        assert.match(r.body, /^\{"error":/)
        assert.match(r.body, /cluster_conf\.data/)
        assert.match(
          r.body,
          /CheckInterval must be in \[1, 2147483647\] ms|cannot be used as a cluster name/,
        )
        const g = await get(bfe.url, { headers: { host: 'p.test' } })
        assert.equal(g.status, 200)
      }
      writeFileSync(file, original)
      assert.deepEqual(overflow.seen, [])
    } finally {
      overflow.stop()
      await bfe?.close()
      await up.close()
    }
  })
})

describe('prototype names at request time', () => {
  let up: Upstream
  let other: Upstream
  let bfe: RunningBfe
  before(async () => {
    up = await startUpstream((req, res) => {
      req.resume()
      res.end('default')
    })
    other = await startUpstream((req, res) => {
      req.resume()
      res.end('ctor')
    })
    // `constructor` as a hostname is fine (it is stored in a Map); as a product it is refused
    bfe = await startBfe({
      hostRule: {
        Version: 't',
        DefaultProduct: 'p',
        Hosts: { pTag: ['p.test'], ctorTag: ['constructor', 'tostring.test'] },
        HostTags: { p: ['pTag'], ctor: ['ctorTag'] },
      },
      routeRule: {
        Version: 't',
        ProductRule: {
          p: [{ Cond: 'default_t()', ClusterName: 'c' }],
          ctor: [{ Cond: 'default_t()', ClusterName: 'k' }],
        },
      },
      clusterConf: { Version: 't', Config: { c: {}, k: {} } },
      clusterTable: { c: { 'c.a': [{ Port: up.port }] }, k: { 'k.a': [{ Port: other.port }] } },
      gslb: { c: { 'c.a': 100 }, k: { 'k.a': 100 } },
    })
  })
  after(async () => {
    await bfe.close()
    await up.close()
    await other.close()
  })

  for (const host of ['__proto__', 'prototype', 'toString', 'hasOwnProperty', 'valueOf']) {
    test(`Host: ${host} finds no product of its own and goes to the default product`, async () => {
      const r = await get(`${bfe.url}/${host}`, { headers: { host } })
      assert.equal(r.status, 200)
      assert.equal(r.body, 'default')
    })
  }

  test('a configured hostname "constructor" routes to its product', async () => {
    const r = await get(`${bfe.url}/constructor`, { headers: { host: 'constructor' } })
    assert.equal(r.status, 200)
    assert.equal(r.body, 'ctor')
  })

  test('no default product: Host __proto__ and constructor answer like any unknown host', async () => {
    const u = await startUpstream()
    const b = await startBfe(
      simpleConf([u.port], {
        hostRule: { Version: 't', Hosts: { pTag: ['p.test'] }, HostTags: { p: ['pTag'] } },
      }),
    )
    try {
      const unknown = await get(b.url, { headers: { host: 'unknown.test' } })
      assert.notEqual(unknown.status, 200)
      for (const host of ['__proto__', 'constructor', 'prototype']) {
        const r = await get(b.url, { headers: { host } })
        assert.equal(r.status, unknown.status, host)
      }
      assert.equal(u.seen.length, 0)
    } finally {
      await b.close()
      await u.close()
    }
  })
})
