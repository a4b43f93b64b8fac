import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { get, h2Request, rawExchange } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

type Counters = Record<string, number | undefined>
async function counters(port: number, diff = false): Promise<Counters> {
  const path = `/monitor/mod_http_code${diff ? '.diff' : ''}`
  return JSON.parse((await monitorGet(port, path)).body).CounterData
}

describe('mod_http_code', () => {
  let up: Upstream
  let bfe: RunningBfe

  before(async () => {
    // The upstream answers with the status named by the path: /204, /302, /404, /503 ...
    up = await startUpstream((req, res) => {
      req.resume()
      const code = Number((req.url ?? '/').slice(1)) || 200
      res.writeHead(code, { 'content-length': '0' })
      res.end()
    })
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_http_code'],
        // only p.test has a product: other hosts get BFE's internal 500
        hostRule: {
          Version: 't',
          DefaultProduct: null,
          Hosts: { t: ['p.test'] },
          HostTags: { p: ['t'] },
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('counts final status classes of backend and internal responses (HTTP/1.1 and HTTP/2)', async () => {
    const p = { headers: { host: 'p.test' } }
    const c0 = await counters(bfe.server.monitorPort)
    assert.equal((await get(`${bfe.url}/200`, p)).status, 200)
    assert.equal((await get(`${bfe.url}/204`, p)).status, 204)
    assert.equal((await get(`${bfe.url}/302`, p)).status, 302)
    assert.equal((await get(`${bfe.url}/404`, p)).status, 404)
    assert.equal((await get(`${bfe.url}/503`, p)).status, 503)
    assert.equal((await get(`${bfe.url}/`, { headers: { host: 'nowhere.test' } })).status, 500)
    assert.equal((await h2Request(bfe.tlsPort, '/404', { authority: 'p.test' })).status, 404)
    // a request the client abandons before any response is not counted
    await rawExchange(bfe.port, 'GET /200 HTTP/1.1\r\nHost: p.test\r\n', 300)
    const c1 = await counters(bfe.server.monitorPort)
    const d = (k: string) => (c1[k] ?? 0) - (c0[k] ?? 0)
    assert.deepEqual(
      { two: d('ALL2_X_X'), three: d('ALL3_X_X'), four: d('ALL4_X_X'), five: d('ALL5_X_X') },
      { two: 2, three: 1, four: 2, five: 2 },
    )
    const diff = await counters(bfe.server.monitorPort, true)
    assert.deepEqual(Object.keys(diff).sort(), ['ALL2_X_X', 'ALL3_X_X', 'ALL4_X_X', 'ALL5_X_X'])
  })
})
