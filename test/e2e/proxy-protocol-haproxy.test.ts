// BFE's documented scenario "TLS client authentication" (docs/en_us/example/client_auth.md in
// BFE's repository) end to end, with its layer-4 balancer: a real HAProxy in TCP mode forwards to
// bfe-ts with `send-proxy` (v1) and `send-proxy-v2`, and the VIP it passes on (the address the
// client connected to) selects the TLS rule, whose SniConf is null as in the document.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import { BfeServer } from '../../src/server/server.js'
import { makeScenarioKeys, writeScenarioConf } from '../helpers/client-auth-scenario.js'
import { run, sClient } from '../helpers/exec.js'
import { type RunningHaproxy, startHaproxy } from '../helpers/haproxy.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const _ROOT = resolve(fileURLToPath(import.meta.url), '../../../..')
const work = mkdtempSync(join(tmpdir(), 'bfe-pp-client-auth-'))
const conf = join(work, 'conf')
const keys = join(work, 'keys')
let up: Upstream
let server: BfeServer | undefined
let haproxy: RunningHaproxy | undefined
/** HAProxy frontends: v1 on 127.0.0.1, v2 on 127.0.0.1, v2 on 127.0.0.2 (HTTPS); v1 (HTTP). */
let fe = { v1: 0, v2: 0, otherVip: 0, http: 0 }

const vips: string[] = []
const recorder: BfeModule = {
  name: 'mod_test_vip',
  init({ callbacks: cb }) {
    cb.addAcceptFilter(0, (ses) => {
      vips.push(`${ses.remoteAddr} ${ses.vip} ${ses.balancerAddr}`)
      return HandlerResult.GoOn
    })
  },
}

before(async () => {
  up = await startUpstream()
  // Steps 1 to 3: the document's root and client certificates.
  makeScenarioKeys(keys)
  // Step 5: the BFE 1.8 layout, Layer4LoadBalancer = "PROXY", the rule of the document
  // (VipConf 127.0.0.1, SniConf null, h2 at rate 0, ClientAuth).
  writeScenarioConf(conf, keys, {
    sniConf: null,
    upstreamPort: up.port,
    editBfeConf: (t) =>
      t.replace(
        /^Layer4LoadBalancer = ""$/m,
        'Layer4LoadBalancer = "PROXY"\nModules = mod_test_vip',
      ),
  })

  server = await BfeServer.load({
    confRoot: conf,
    modules: [recorder],
    httpPort: 0,
    httpAddr: '127.0.0.1',
    httpsPort: 0,
    httpsAddr: '127.0.0.1',
  })
  const httpPort = await server.listen()
  // Step 4: HAProxy in TCP mode in front of both ports.
  haproxy = await startHaproxy([
    { bindAddr: '127.0.0.1', serverPort: server.httpsPort, proxy: 'send-proxy' },
    { bindAddr: '127.0.0.1', serverPort: server.httpsPort, proxy: 'send-proxy-v2' },
    { bindAddr: '127.0.0.2', serverPort: server.httpsPort, proxy: 'send-proxy-v2' },
    { bindAddr: '127.0.0.1', serverPort: httpPort, proxy: 'send-proxy' },
  ])
  const [v1 = 0, v2 = 0, otherVip = 0, http = 0] = haproxy.ports
  fe = { v1, v2, otherVip, http }
})

after(async () => {
  await haproxy?.stop()
  await server?.close()
  await up?.close()
  rmSync(work, { recursive: true, force: true })
})

const request = 'GET /hello HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n'
const withCert = () => ['-cert', join(keys, 'client.crt'), '-key', join(keys, 'client.key')]

/** s_client to a frontend on `addr` (it has no bind option: 127.0.0.2 is reached by -connect). */
function sClientTo(addr: string, port: number, args: string[]) {
  if (addr === '127.0.0.1') return sClient(port, args, request)
  return run('openssl', ['s_client', '-connect', `${addr}:${port}`, '-ign_eof', ...args], {
    input: request,
    timeoutMs: 8000,
  })
}

for (const v of ['v1', 'v2'] as const) {
  test(`send-proxy${v === 'v2' ? '-v2' : ''}: mTLS with the client certificate succeeds, h2 not offered at rate=0`, async () => {
    const port = fe[v]
    const before = { ...server?.proxyProtocol?.counters }
    vips.length = 0
    // Step 6 (with an ALPN offer, to see that h2 is left out at rate=0)
    const r = await sClient(port, [...withCert(), '-alpn', 'h2,http/1.1'], request)
    assert.match(r.stdout, /HTTP\/1\.1 200 OK/, r.stdout + r.stderr + (haproxy?.output() ?? ''))
    assert.ok(r.stdout.includes(`ok ${up.port}`), r.stdout)
    assert.match(r.stdout, /ALPN protocol: http\/1\.1/)
    // the session saw the client (via HAProxy), the VIP and HAProxy as the balancer
    assert.ok(vips.includes('127.0.0.1 127.0.0.1 127.0.0.1'), vips.join('; '))
    const c = server?.proxyProtocol?.counters
    const key = v === 'v1' ? 'PROXY_NORMAL_V1_HEADER' : 'PROXY_NORMAL_V2_HEADER'
    assert.ok((c?.[key] ?? 0) > (before[key] ?? 0))
  })

  test(`send-proxy${v === 'v2' ? '-v2' : ''}: without a client certificate the handshake fails`, async () => {
    const r = await sClient(fe[v], [], request)
    assert.doesNotMatch(r.stdout, /HTTP\/1\.1 200/)
    assert.match(r.stdout + r.stderr, /alert|error/i)
  })
}

test('the VIP selects the rule: through 127.0.0.2 the default rule applies (no client auth)', async () => {
  vips.length = 0
  const r = await sClientTo('127.0.0.2', fe.otherVip, ['-alpn', 'h2,http/1.1'])
  assert.match(r.stdout, /HTTP\/1\.1 200 OK/, r.stdout + r.stderr)
  assert.ok(
    vips.some((v) => v.includes(' 127.0.0.2 ')),
    vips.join('; '),
  )
  // and the rule of 127.0.0.1 still asks for the certificate
  const r2 = await sClientTo('127.0.0.1', fe.v2, [])
  assert.doesNotMatch(r2.stdout, /HTTP\/1\.1 200/)
})

test('HTTP through HAProxy send-proxy', async () => {
  const r = await run('curl', [
    '-sS',
    '--max-time',
    '5',
    '-H',
    'Host: example.org',
    `http://127.0.0.1:${fe.http}/hello`,
  ])
  assert.equal(r.stdout, `ok ${up.port}`, r.stderr)
})
