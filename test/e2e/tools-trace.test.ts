import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { BfeConfError } from '../../src/basic/errors.js'
import { get } from '../helpers/client.js'
import { simpleConf, type TestConf } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const TOKEN = 'support-7f3a9c2e51d04b8a'

const closers: (() => Promise<void>)[] = []
after(async () => {
  for (const c of closers.reverse()) await c()
})

async function upstream(): Promise<Upstream> {
  const u = await startUpstream()
  closers.push(() => u.close())
  return u
}

async function bfe(conf: TestConf): Promise<RunningBfe> {
  const b = await startBfe(conf)
  closers.push(() => b.close())
  return b
}

/** Product p by host, an advanced rule for /api/, cluster c with one backend. */
function traceConf(port: number, server: string[]): TestConf {
  return simpleConf([port], {
    server,
    routeRule: {
      Version: 't',
      ProductRule: {
        p: [
          { Cond: 'req_path_prefix_in("/api/", false)', ClusterName: 'c' },
          { Cond: 'default_t()', ClusterName: 'c' },
        ],
      },
    },
  })
}

describe('trace on demand', () => {
  test('a trusted request with the token gets the decision path; the token never reaches the backend', async () => {
    const u = await upstream()
    const b = await bfe(traceConf(u.port, [`DecisionTraceToken = ${TOKEN}`]))
    const r = await get(`${b.url}/api/x`, { headers: { host: 'p.test', 'x-bfe-trace': TOKEN } })
    assert.equal(r.status, 200)
    const d = r.headers['x-bfe-decision']
    assert.equal(
      d,
      `product=p (host p.test); route=advanced rule 0; cluster=c; subcluster=c.a; backend=b0 127.0.0.1:${u.port}`,
    )
    const seen = u.seen.at(-1)
    assert.equal(seen?.headers['x-bfe-trace'], undefined)

    // a wrong token: no trace, and the header is still removed
    const w = await get(`${b.url}/other`, {
      headers: { host: 'p.test', 'x-bfe-trace': 'wrong-token-0000000' },
    })
    assert.equal(w.status, 200)
    assert.equal(w.headers['x-bfe-decision'], undefined)
    assert.equal(u.seen.at(-1)?.headers['x-bfe-trace'], undefined)

    // no token: nothing
    const n = await get(`${b.url}/other`, { headers: { host: 'p.test' } })
    assert.equal(n.headers['x-bfe-decision'], undefined)

    // a request that fails at the product lookup still says why
    const nf = await get(`${b.url}/`, { headers: { host: 'unknown.test', 'x-bfe-trace': TOKEN } })
    assert.match(String(nf.headers['x-bfe-decision']), /^product=p \(default p\)/)
  })

  test('an address outside DecisionTraceAllow gets no trace', async () => {
    const u = await upstream()
    const b = await bfe(
      traceConf(u.port, [`DecisionTraceToken = ${TOKEN}`, 'DecisionTraceAllow = 10.0.0.0/8']),
    )
    const r = await get(`${b.url}/api/x`, { headers: { host: 'p.test', 'x-bfe-trace': TOKEN } })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-bfe-decision'], undefined)
    assert.equal(u.seen.at(-1)?.headers['x-bfe-trace'], undefined)
  })

  test('off by default: the header passes through untouched', async () => {
    const u = await upstream()
    const b = await bfe(traceConf(u.port, []))
    const r = await get(`${b.url}/api/x`, { headers: { host: 'p.test', 'x-bfe-trace': TOKEN } })
    assert.equal(r.headers['x-bfe-decision'], undefined)
    assert.equal(u.seen.at(-1)?.headers['x-bfe-trace'], TOKEN)
  })

  test('bad settings fail the load naming the key', async () => {
    await assert.rejects(
      startBfe(traceConf(1, [`DecisionTraceToken = ${TOKEN}`, 'DecisionTraceAllow = 10.0.0/33'])),
      (e: unknown) => e instanceof BfeConfError && /DecisionTraceAllow/.test(e.message),
    )
    await assert.rejects(
      startBfe(traceConf(1, ['DecisionTraceToken = short'])),
      (e: unknown) => e instanceof BfeConfError && /at least 16 characters/.test(e.message),
    )
  })
})
