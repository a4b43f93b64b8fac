import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { ppGet, ppH2 } from '../../helpers/proxy-client.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// Requests reach cluster `cip` when the client address is in 203.0.113.0/24, `trusted` when the
// session is trusted (and the client address matched nothing else), `c` otherwise.
function trustData(version: string, ranges: { Begin: string; End: string }[]): string {
  return JSON.stringify({
    Version: version,
    Config: { lb: ranges, local: [{ Begin: '127.0.0.1', End: '127.0.0.1' }] },
  })
}
async function counters(port: number): Promise<Record<string, number>> {
  const m = await monitorGet(port, '/monitor/mod_trust_clientip')
  return JSON.parse(m.body).CounterData
}

const LB = { Begin: '192.0.2.0', End: '192.0.2.127' }

describe('mod_trust_clientip', () => {
  let plain: Upstream
  let cip: Upstream
  let trusted: Upstream
  let bfe: RunningBfe

  before(async () => {
    ;[plain, cip, trusted] = await Promise.all([startUpstream(), startUpstream(), startUpstream()])
    bfe = await startBfe(
      simpleConf([plain.port], {
        server: ['Layer4LoadBalancer = PROXY', 'Modules = mod_trust_clientip'],
        routeRule: {
          Version: 't',
          ProductRule: {
            p: [
              { Cond: 'req_cip_range("203.0.113.0", "203.0.113.255")', ClusterName: 'cip' },
              { Cond: 'req_cip_trusted()', ClusterName: 'trusted' },
              { Cond: 'default_t()', ClusterName: 'c' },
            ],
          },
        },
        clusterConf: { Version: 't', Config: { c: {}, cip: {}, trusted: {} } },
        clusterTable: {
          c: { 'c.a': [{ Port: plain.port }] },
          cip: { 'cip.a': [{ Port: cip.port }] },
          trusted: { 'trusted.a': [{ Port: trusted.port }] },
        },
        gslb: { c: { 'c.a': 100 }, cip: { 'cip.a': 100 }, trusted: { 'trusted.a': 100 } },
        files: {
          'mod_trust_clientip/mod_trust_clientip.conf':
            '[Basic]\nDataPath = mod_trust_clientip/trust_client_ip.data\n',
          'mod_trust_clientip/trust_client_ip.data': trustData('v1', [LB]),
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await Promise.all([plain.close(), cip.close(), trusted.close()])
  })

  it('takes the client address from X-Real-Ip on a trusted session (HTTP/1.1)', async () => {
    const r = await ppGet(bfe.port, '192.0.2.5', '192.0.2.200', '/', { 'X-Real-Ip': '203.0.113.9' })
    assert.equal(r.body, `ok ${cip.port}`)
  })

  it('falls back to the first X-Forwarded-For item when X-Real-Ip is absent', async () => {
    const r = await ppGet(bfe.port, '192.0.2.5', '192.0.2.200', '/', {
      'X-Forwarded-For': '203.0.113.7, 10.0.0.1',
    })
    assert.equal(r.body, `ok ${cip.port}`)
    // the first item wins: a proxy's own address later in the list is not the client
    const r2 = await ppGet(bfe.port, '192.0.2.5', '192.0.2.200', '/', {
      'X-Forwarded-For': '198.51.100.1, 203.0.113.7',
    })
    assert.equal(r2.body, `ok ${trusted.port}`)
  })

  it('a trusted session without client headers satisfies req_cip_trusted()', async () => {
    const r = await ppGet(bfe.port, '192.0.2.127', '192.0.2.200', '/')
    assert.equal(r.body, `ok ${trusted.port}`)
  })

  it('ignores X-Real-Ip and X-Forwarded-For from an untrusted peer', async () => {
    const r = await ppGet(bfe.port, '192.0.2.128', '192.0.2.200', '/', {
      'X-Real-Ip': '203.0.113.9',
      'X-Forwarded-For': '203.0.113.9',
    })
    assert.equal(r.body, `ok ${plain.port}`)
  })

  it('HTTP/2: a trusted peer (127.0.0.1) passes the client address through', async () => {
    const r = await h2Request(bfe.tlsPort, '/', { headers: { 'x-real-ip': '203.0.113.20' } })
    assert.equal(r.body.toString(), `ok ${cip.port}`)
    const u = await ppH2(bfe.tlsPort, '198.51.100.3', '192.0.2.200', '/', {
      'x-real-ip': '203.0.113.20',
    })
    assert.equal(u.body, `ok ${plain.port}`)
  })

  it('counts sessions, trusted sessions and private-range peers', async () => {
    const before = await counters(bfe.server.monitorPort)
    await ppGet(bfe.port, '10.1.2.3', '192.0.2.200', '/')
    await ppGet(bfe.port, '192.0.2.1', '192.0.2.200', '/')
    const now = await counters(bfe.server.monitorPort)
    const d = (k: string) => (now[k] ?? NaN) - (before[k] ?? NaN)
    assert.equal(d('CONN_TOTAL'), 2)
    assert.equal(d('CONN_TRUST_CLIENTIP'), 1)
    assert.equal(d('CONN_ADDR_INTERNAL'), 1)
    assert.equal(d('CONN_ADDR_INTERNAL_NOT_TRUST'), 1)
  })

  it('reloads a good file and keeps the ranges when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_trust_clientip', 'trust_client_ip.data')
    writeFileSync(file, trustData('v2', [{ Begin: '198.51.100.0', End: '198.51.100.255' }]))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_trust_clientip')
    assert.deepEqual(JSON.parse(ok.body), { error: null })
    const xri = { 'X-Real-Ip': '203.0.113.9' }
    assert.equal(
      (await ppGet(bfe.port, '198.51.100.8', '192.0.2.200', '/', xri)).body,
      `ok ${cip.port}`,
    )
    assert.equal(
      (await ppGet(bfe.port, '192.0.2.5', '192.0.2.200', '/', xri)).body,
      `ok ${plain.port}`,
    )

    writeFileSync(file, trustData('v3', [{ Begin: '192.0.2.300', End: '192.0.2.1' }]))
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_trust_clientip')
    assert.match(
      JSON.parse(bad.body).error,
      /trust_client_ip\.data.*\/Config\/lb\/0\/Begin.*not an IP address/,
    )
    assert.equal(
      (await ppGet(bfe.port, '198.51.100.8', '192.0.2.200', '/', xri)).body,
      `ok ${cip.port}`,
    )
  })

  it('refuses to start with an invalid range, naming file and field', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([plain.port], {
          server: ['Modules = mod_trust_clientip'],
          files: {
            'mod_trust_clientip/mod_trust_clientip.conf': '[Basic]\n',
            'mod_trust_clientip/trust_client_ip.data': JSON.stringify({
              Version: '1',
              Config: { lb: [{ Begin: '10.0.0.9', End: '10.0.0.1' }] },
            }),
          },
        }),
      ),
      /trust_client_ip\.data.*\/Config\/lb\/0 .*start 10\.0\.0\.9 is greater than end 10\.0\.0\.1/,
    )
    // the data path defaults to mod_trust_clientip/trust_client_ip.data, here missing
    await assert.rejects(
      startBfe(
        simpleConf([plain.port], {
          server: ['Modules = mod_trust_clientip'],
          files: { 'mod_trust_clientip/mod_trust_clientip.conf': '[Basic]\n' },
        }),
      ),
      /mod_trust_clientip\/trust_client_ip\.data.*cannot be read/,
    )
  })
})
