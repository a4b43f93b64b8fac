import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CallbackPoint, HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import { get } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js'

/*
 * HandleForward runs before each attempt, once the backend is chosen: a request header a filter
 * sets there goes to that attempt's backend (a per-backend credential, the attempt number).
 */
function perAttempt(): BfeModule {
  return {
    name: 'mod_per_attempt',
    init(ctx) {
      ctx.callbacks.addForwardFilter(CallbackPoint.Forward, (req) => {
        req.headers.set('X-Attempt-Port', String(req.backend.backendPort))
        req.headers.delete('X-Drop-At-Forward')
        return HandlerResult.GoOn
      })
    },
  }
}

describe('request headers set at HandleForward reach the backend of that attempt', () => {
  let up: Upstream
  let dead: number
  let bfe: RunningBfe

  before(async () => {
    up = await startUpstream()
    dead = await closedPort()
    // smooth WRR starts with the first backend listed: the refused one, then a retry to `up`
    bfe = await startBfe(simpleConf([dead, up.port], { server: ['Modules = mod_per_attempt'] }), [
      perAttempt(),
    ])
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('the retry carries the header its own HandleForward set, and a header deleted there is gone', async () => {
    const r = await get(`${bfe.url}/x`, { headers: { 'X-Drop-At-Forward': '1' } })
    assert.equal(r.status, 200)
    const seen = up.seen.at(-1)
    assert.equal(seen?.headers['x-attempt-port'], String(up.port))
    assert.equal(seen?.headers['x-drop-at-forward'], undefined)
  })
})
