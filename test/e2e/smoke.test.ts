import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { get } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

let up: Upstream
let bfe: RunningBfe

before(async () => {
  up = await startUpstream()
  bfe = await startBfe(simpleConf([up.port]))
})
after(async () => {
  await bfe.close()
  await up.close()
})

test('a request is proxied to the backend with its host, path and query', async () => {
  const r = await get(`${bfe.url}/a/b?x=1`, { headers: { host: 'p.test', 'x-custom': 'v' } })
  assert.equal(r.status, 200)
  assert.equal(r.body, `ok ${up.port}`)
  const seen = up.seen.at(-1)
  assert.equal(seen?.url, '/a/b?x=1')
  assert.equal(seen?.headers.host, 'p.test')
  assert.equal(seen?.headers['x-custom'], 'v')
})
