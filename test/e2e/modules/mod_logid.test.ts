import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { HandlerResult } from '../../../src/module/callback-point.js'
import type { BfeModule } from '../../../src/module/types.js'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { ppGet } from '../../helpers/proxy-client.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

const HEX32 = /^[0-9a-f]{32}$/

/** What the server recorded of each finished request: session id and log id. */
const ids: { session: string; logId: string }[] = []
const recorder: BfeModule = {
  name: 'mod_test_logid',
  init({ callbacks }) {
    callbacks.addResponseFilter(7, (req) => {
      ids.push({ session: req.session.id, logId: req.logId })
      return HandlerResult.GoOn
    })
  },
}

async function noLogIdFromUpper(port: number): Promise<number> {
  const m = await monitorGet(port, '/monitor/mod_logid')
  return JSON.parse(m.body).CounterData.NO_LOGID_FROM_UPPER_BFE
}

describe('mod_logid', () => {
  let up: Upstream
  let bfe: RunningBfe

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      simpleConf([up.port], {
        server: [
          'Layer4LoadBalancer = PROXY',
          'Modules = mod_trust_clientip',
          'Modules = mod_logid',
          'Modules = mod_test_logid',
        ],
        files: {
          'mod_trust_clientip/mod_trust_clientip.conf': '[Basic]\n',
          'mod_trust_clientip/trust_client_ip.data': JSON.stringify({
            Version: '1',
            Config: { upper: [{ Begin: '192.0.2.1', End: '192.0.2.1' }] },
          }),
        },
      }),
      [recorder],
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('gives each request a log id, forwarded as X-Bfe-Log-Id (HTTP/1.1)', async () => {
    ids.length = 0
    await get(`${bfe.url}/a`)
    await get(`${bfe.url}/b`)
    const sent = up.seen.slice(-2).map((s) => s.headers['x-bfe-log-id'])
    assert.match(String(sent[0]), HEX32)
    assert.match(String(sent[1]), HEX32)
    assert.notEqual(sent[0], sent[1])
    assert.deepEqual(
      ids.map((i) => i.logId),
      sent,
    )
    // every connection has its own session id
    assert.match(ids[0]?.session ?? '', HEX32)
    assert.notEqual(ids[0]?.session, ids[1]?.session)
  })

  it('replaces a log id sent by an untrusted client', async () => {
    await get(`${bfe.url}/`, { headers: { 'X-Bfe-Log-Id': 'client-chosen' } })
    const h = up.seen.at(-1)?.headers['x-bfe-log-id']
    assert.match(String(h), HEX32)
    assert.equal(up.seen.at(-1)?.rawHeaders.filter((n) => /^x-bfe-log-id$/i.test(n)).length, 1)
  })

  it('keeps the log id of a trusted upstream BFE, and counts trusted requests without one', async () => {
    const port = bfe.server.monitorPort
    const before = await noLogIdFromUpper(port)
    ids.length = 0
    const r = await ppGet(bfe.port, '192.0.2.1', '192.0.2.100', '/', { 'X-Bfe-Log-Id': 'upper-7' })
    assert.equal(r.status, 200)
    assert.equal(up.seen.at(-1)?.headers['x-bfe-log-id'], 'upper-7')
    assert.equal(ids.at(-1)?.logId, 'upper-7')
    assert.equal(await noLogIdFromUpper(port), before)

    await ppGet(bfe.port, '192.0.2.1', '192.0.2.100', '/')
    assert.match(String(up.seen.at(-1)?.headers['x-bfe-log-id']), HEX32)
    assert.equal(await noLogIdFromUpper(port), before + 1)
  })

  it('HTTP/2 requests get a log id too', async () => {
    const r = await h2Request(bfe.tlsPort, '/h2', { headers: { 'x-bfe-log-id': 'from-client' } })
    assert.equal(r.status, 200)
    assert.match(String(up.seen.at(-1)?.headers['x-bfe-log-id']), HEX32)
  })
})
