// BFE's documented scenario "TLS client authentication" (docs/en_us/example/client_auth.md in
// BFE's repository), step by step on a BFE 1.8 layout configuration directory, with the same
// openssl commands. Without the scenario's HAProxy in front there is no VIP, so the rule is
// selected by SNI instead of its VipConf; proxy-protocol-haproxy.test.ts runs the scenario with
// HAProxy and the PROXY protocol.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openssl } from '../helpers/certs.js'
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
  mkdirSync(keys)
  // Step 1. Root certificate.
  openssl(['genrsa', '-out', 'root.key', '2048'], keys)
  openssl(
    [
      'req',
      '-new',
      '-x509',
      '-days',
      '365',
      '-key',
      'root.key',
      '-out',
      'root.crt',
      '-subj',
      '/CN=root',
    ],
    keys,
  )
  // Steps 2 and 3. Client key, signing request, certificate for client authentication.
  openssl(['genrsa', '-out', 'client.key', '2048'], keys)
  openssl(['req', '-new', '-out', 'client.csr', '-key', 'client.key', '-subj', '/CN=client'], keys)
  writeFileSync(join(keys, 'openssl.cnf'), 'extendedKeyUsage = clientAuth\n')
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'client.csr',
      '-out',
      'client.crt',
      '-CA',
      'root.crt',
      '-CAkey',
      'root.key',
      '-CAcreateserial',
      '-days',
      '365',
      '-extfile',
      'openssl.cnf',
    ],
    keys,
  )
  // A client certificate from another CA, which must be refused.
  const stranger = testPki().client('stranger', { cn: 'stranger' })

  // Step 5. BFE configuration: the BFE 1.8 layout, root.crt in tls_conf/client_ca, the rule
  // with ClientAuth and ClientCAName "root".
  cpSync(join(ROOT, 'test/fixtures/conf/bfe18'), conf, { recursive: true })
  const server = testPki().server('example.org', { dns: ['example.org'] })
  mkdirSync(join(conf, 'tls_conf/certs'), { recursive: true })
  writeFileSync(join(conf, 'tls_conf/certs/server.crt'), server.certPem)
  writeFileSync(join(conf, 'tls_conf/certs/server.key'), server.keyPem)
  cpSync(join(keys, 'root.crt'), join(conf, 'tls_conf/client_ca/root.crt'))
  writeFileSync(
    join(conf, 'tls_conf/tls_rule_conf.data'),
    JSON.stringify({
      Version: '12',
      DefaultNextProtos: ['http/1.1'],
      Config: {
        example_product: {
          VipConf: ['127.0.0.1'],
          SniConf: ['example.org'],
          CertName: 'example.org',
          NextProtos: ['h2;rate=0;isw=65535;mcs=200;level=0', 'http/1.1'],
          Grade: 'C',
          ClientAuth: true,
          ClientCAName: 'root',
        },
      },
    }),
  )
  const httpPort = await closedPort()
  tlsPort = await closedPort()
  const bfeConf = join(conf, 'bfe.conf')
  writeFileSync(
    bfeConf,
    readFileSync(bfeConf, 'utf8')
      .replace(/^HttpPort = 8080$/m, `HttpPort = ${httpPort}`)
      .replace(/^HttpsPort = 8443$/m, `HttpsPort = ${tlsPort}`)
      .replace(/^MaxCpus = 0$/m, 'MaxCpus = 1'),
  )
  const table = join(conf, 'cluster_conf/cluster_table.data')
  writeFileSync(table, readFileSync(table, 'utf8').replace('"Port": 8181', `"Port": ${up.port}`))
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
