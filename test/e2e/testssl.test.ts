// testssl.sh (Debian's package) against the bundled configuration (conf/): what a TLS audit of
// a default installation must show. conf/ is copied with a certificate made by the test CA, and
// served in-process on free ports.
import assert from 'node:assert/strict'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { BfeServer } from '../../src/server/server.js'
import { testPki } from '../helpers/conf.js'
import { run } from '../helpers/exec.js'

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..')
const work = mkdtempSync(join(tmpdir(), 'bfe-testssl-'))
let server: BfeServer
let findings = new Map<string, string>()

before(async () => {
  const conf = join(work, 'conf')
  cpSync(join(ROOT, 'conf'), conf, { recursive: true })
  const cert = testPki().server('bundled', { dns: ['localhost'], ips: ['127.0.0.1'] })
  mkdirSync(join(conf, 'tls_conf/certs'), { recursive: true })
  writeFileSync(join(conf, 'tls_conf/certs/server.crt'), cert.certPem)
  writeFileSync(join(conf, 'tls_conf/certs/server.key'), cert.keyPem)
  server = await BfeServer.load({
    confRoot: conf,
    httpPort: 0,
    httpAddr: '127.0.0.1',
    httpsPort: 0,
    httpsAddr: '127.0.0.1',
    monitorPort: 0,
    monitorAddr: '127.0.0.1',
  })
  await server.listen()
  const json = join(work, 'testssl.json')
  // -p protocols, -s cipher categories, -f forward secrecy, -R renegotiation
  const r = await run(
    'testssl',
    [
      '--quiet',
      '--color',
      '0',
      '--warnings',
      'off',
      '--jsonfile',
      json,
      '-p',
      '-s',
      '-f',
      '-R',
      `127.0.0.1:${server.httpsPort}`,
    ],
    { timeoutMs: 120_000 },
  )
  assert.equal(r.code, 0, `testssl failed: ${r.stdout}\n${r.stderr}`)
  const list = JSON.parse(readFileSync(json, 'utf8')) as { id: string; finding: string }[]
  findings = new Map(list.map((f) => [f.id, f.finding]))
})

after(async () => {
  await server?.close()
  rmSync(work, { recursive: true, force: true })
})

const finding = (id: string): string => findings.get(id) ?? `(no finding ${id})`

test('no SSLv2, SSLv3, TLS 1.0 or TLS 1.1; TLS 1.2 and 1.3 offered', () => {
  for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1'])
    assert.equal(finding(id), 'not offered', id)
  assert.equal(finding('TLS1_2'), 'offered')
  assert.match(finding('TLS1_3'), /^offered/)
})

test('no NULL, anonymous, EXPORT, LOW (RC4, DES) or 3DES suites; strong AEAD suites offered', () => {
  for (const id of [
    'cipherlist_NULL',
    'cipherlist_aNULL',
    'cipherlist_EXPORT',
    'cipherlist_LOW',
    'cipherlist_3DES_IDEA',
  ])
    assert.equal(finding(id), 'not offered', id)
  assert.equal(finding('cipherlist_STRONG'), 'offered')
})

test('forward secrecy with every suite; no client-initiated renegotiation', () => {
  assert.equal(finding('PFS'), 'offered')
  assert.equal(finding('secure_client_renego'), 'not vulnerable')
})
