// BFE's documented scenario "TLS client authentication" (docs/en_us/example/client_auth.md in
// BFE's repository), step by step on a BFE 1.8 layout configuration directory, with the same
// openssl commands. Without the scenario's HAProxy in front there is no VIP, so the rule is
// selected by SNI instead of its VipConf; proxy-protocol-haproxy.test.ts runs the scenario with
// HAProxy and the PROXY protocol.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { makeScenarioKeys, writeScenarioConf } from '../helpers/client-auth-scenario.js'
import { testPki } from '../helpers/conf.js'
import { sClient } from '../helpers/exec.js'
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js'

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..')
const MAIN = join(ROOT, 'dist/src/main.js')
const work = mkdtempSync(join(tmpdir(), 'bfe-client-auth-'))
const conf = join(work, 'conf')
const keys = join(work, 'keys')
let up: Upstream
let child: ChildProcess | undefined
let tlsPort = 0

before(async () => {
  up = await startUpstream()
  // Steps 1 to 3: the document's root and client certificates.
  makeScenarioKeys(keys)
  // A client certificate from another CA, which must be refused.
  const stranger = testPki().client('stranger', { cn: 'stranger' })
  // Step 5. BFE configuration: the BFE 1.8 layout, root.crt in tls_conf/client_ca, the rule
  // with ClientAuth and ClientCAName "root"; selected by SNI here (no VIP without a balancer).
  const httpPort = await closedPort()
  tlsPort = await closedPort()
  writeScenarioConf(conf, keys, {
    sniConf: ['example.org'],
    upstreamPort: up.port,
    editBfeConf: (t) =>
      t
        .replace(/^HttpPort = 8080$/m, `HttpPort = ${httpPort}`)
        .replace(/^HttpsPort = 8443$/m, `HttpsPort = ${tlsPort}`),
  })
  writeFileSync(join(keys, 'stranger.crt'), stranger.certPem)
  writeFileSync(join(keys, 'stranger.key'), stranger.keyPem)

  // Run BFE: `bfe -c ../conf`.
  const c = spawn(process.execPath, [MAIN, '-c', conf, '-l', join(work, 'log')], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child = c
  let out = ''
  c.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  c.stderr.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const end = Date.now() + 5000
  while (!out.includes('listening on port')) {
    if (Date.now() > end || c.exitCode !== null) assert.fail(`bfe did not start: ${out}`)
    await new Promise((r) => setTimeout(r, 20))
  }
})

after(async () => {
  if (child !== undefined && child.exitCode === null) {
    const exited = new Promise((r) => child?.once('close', r))
    child.kill('SIGTERM')
    await exited
  }
  await up?.close()
  rmSync(work, { recursive: true, force: true })
})

const request = 'GET /hello HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n'

// Step 6. `openssl s_client -connect … -cert client.crt -key client.key`
test('the client certificate from the root CA is accepted and the request is proxied', async () => {
  const r = await sClient(
    tlsPort,
    [
      '-servername',
      'example.org',
      '-cert',
      join(keys, 'client.crt'),
      '-key',
      join(keys, 'client.key'),
    ],
    request,
  )
  assert.match(r.stdout, /HTTP\/1\.1 200 OK/, r.stdout + r.stderr)
  assert.ok(r.stdout.includes(`ok ${up.port}`), r.stdout)
})

test('without a client certificate the handshake fails', async () => {
  const r = await sClient(tlsPort, ['-servername', 'example.org'], request)
  assert.doesNotMatch(r.stdout, /HTTP\/1\.1 200/)
  assert.match(r.stdout + r.stderr, /alert|error/i)
})

test('a certificate from another CA is refused', async () => {
  const r = await sClient(
    tlsPort,
    [
      '-servername',
      'example.org',
      '-cert',
      join(keys, 'stranger.crt'),
      '-key',
      join(keys, 'stranger.key'),
    ],
    request,
  )
  assert.doesNotMatch(r.stdout, /HTTP\/1\.1 200/)
})
