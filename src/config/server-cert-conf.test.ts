import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CertPair, TestPki } from '../../test/helpers/certs.js'
import { confError } from '../../test/helpers/conf-assert.js'
import {
  certNames,
  checkOcspResponse,
  DEFAULT_CERT_NAME,
  parseServerCertConf,
} from './server-cert-conf.js'

const F = 'server_cert_conf.data'

describe('server_cert_conf.data', () => {
  let pki: TestPki
  let root: string
  let a: CertPair
  let b: CertPair
  before(() => {
    pki = new TestPki('bfe-scc-')
    root = pki.dir
    a = pki.server('a', { cn: 'Example.ORG', dns: ['example.org', '*.Example.org', 'www.a.test'] })
    b = pki.server('b', { cn: '', dns: ['b.test'] })
    mkdirSync(path.join(root, 'tls_conf/certs'), { recursive: true })
    writeFileSync(path.join(root, 'tls_conf/certs/a.crt'), a.certPem)
    writeFileSync(path.join(root, 'tls_conf/certs/a.key'), a.keyPem)
  })
  after(() => pki.cleanup())

  const conf = (certConf: unknown, def = 'a', version: unknown = 'v1'): string =>
    JSON.stringify({ Version: version, Config: { Default: def, CertConf: certConf } })

  it('loads certificates relative to the conf root, with lower-cased names', () => {
    const c = parseServerCertConf(
      F,
      conf({
        a: { ServerCertFile: 'tls_conf/certs/a.crt', ServerKeyFile: 'tls_conf/certs/a.key' },
        b: { ServerCertFile: b.certFile, ServerKeyFile: b.keyFile },
      }),
      root,
    )
    assert.equal(c.Version, 'v1')
    assert.equal(c.Default, 'a')
    assert.deepEqual([...c.certs.keys()], ['a', 'b'])
    const ca = c.certs.get('a')
    assert.equal(c.defaultCert, ca)
    assert.equal(ca?.certFile, path.join(root, 'tls_conf/certs/a.crt'))
    assert.deepEqual(ca?.names, ['example.org', '*.example.org', 'www.a.test'])
    assert.equal(ca?.ocspResponse, undefined)
    assert.deepEqual(c.certs.get('b')?.names, ['b.test'])
    assert.equal(c.certs.get('b')?.x509.serialNumber.replace(/^0+/, ''), b.serial)
    assert.deepEqual(c.warnings, [])
  })

  it('rejects bad documents', () => {
    const ok = { ServerCertFile: a.certFile, ServerKeyFile: a.keyFile }
    confError(
      () => parseServerCertConf(F, conf({ a: ok }, 'a', ''), root),
      F,
      '/Version',
      /required/,
    )
    confError(() => parseServerCertConf(F, '{"Version":"v"}', root), F, '/Config', /required/)
    confError(
      () => parseServerCertConf(F, conf({ a: ok }, 'x'), root),
      F,
      '/Config/Default',
      /"x" is not a key/,
    )
    confError(
      () => parseServerCertConf(F, conf({ [DEFAULT_CERT_NAME]: ok }, DEFAULT_CERT_NAME), root),
      F,
      `/Config/CertConf/${DEFAULT_CERT_NAME}`,
      /reserved/,
    )
    confError(
      () => parseServerCertConf(F, conf({ a: { ServerKeyFile: a.keyFile } }), root),
      F,
      '/Config/CertConf/a/ServerCertFile',
      /required/,
    )
    confError(
      () => parseServerCertConf(F, conf({ a: { ...ok, ServerKeyFile: 'nope.key' } }), root),
      F,
      '/Config/CertConf/a/ServerKeyFile',
      /file not found/,
    )
    confError(
      () => parseServerCertConf(F, conf({ a: { ...ok, OcspResponseFile: 'nope.der' } }), root),
      F,
      '/Config/CertConf/a/OcspResponseFile',
      /file not found/,
    )
    confError(
      () => parseServerCertConf(F, conf({ a: { ...ok, ServerKeyFile: b.keyFile } }), root),
      F,
      '/Config/CertConf/a/ServerKeyFile',
      /does not match/,
    )
    const junk = pki.write('junk.crt', 'not a cert')
    confError(
      () => parseServerCertConf(F, conf({ a: { ...ok, ServerCertFile: junk } }), root),
      F,
      '/Config/CertConf/a/ServerCertFile',
      /no PEM certificate/,
    )
    confError(
      () => parseServerCertConf(F, conf({ a: { ...ok, ServerKeyFile: junk } }), root),
      F,
      '/Config/CertConf/a/ServerKeyFile',
      /cannot parse the private key/,
    )
  })

  it('staples a good OCSP response and warns about bad ones', () => {
    const good = pki.ocspResponse(a, 'a-good.der')
    const other = pki.server('other', { dns: ['other.test'] })
    const wrongSerial = pki.ocspResponse(other, 'a-wrong.der')
    const revokedCert = pki.server('revoked', { dns: ['r.test'] })
    pki.revoke(revokedCert)
    const revoked = pki.ocspResponse(revokedCert, 'r.der')
    const garbage = pki.write('garbage.der', 'garbage')
    const text = conf({
      a: { ServerCertFile: a.certFile, ServerKeyFile: a.keyFile, OcspResponseFile: good },
      w: { ServerCertFile: a.certFile, ServerKeyFile: a.keyFile, OcspResponseFile: wrongSerial },
      r: {
        ServerCertFile: revokedCert.certFile,
        ServerKeyFile: revokedCert.keyFile,
        OcspResponseFile: revoked,
      },
      g: { ServerCertFile: a.certFile, ServerKeyFile: a.keyFile, OcspResponseFile: garbage },
    })
    const c = parseServerCertConf(F, text, root)
    assert.deepEqual(c.certs.get('a')?.ocspResponse, readFileSync(good))
    assert.equal(c.certs.get('w')?.ocspResponse, undefined)
    assert.equal(c.certs.get('r')?.ocspResponse, undefined)
    assert.equal(c.certs.get('g')?.ocspResponse, undefined)
    assert.equal(c.warnings.length, 3)
    assert.match(c.warnings[0] ?? '', /a-wrong\.der \(certificate "w"\): .*serial number/)
    assert.match(c.warnings[1] ?? '', /r\.der \(certificate "r"\): .*revoked/)
    assert.match(c.warnings[2] ?? '', /garbage\.der .*cannot parse/)
    // outside the window: the same good response two days later
    const later = parseServerCertConf(F, text, root, { now: new Date(Date.now() + 2 * 86400e3) })
    assert.equal(later.certs.get('a')?.ocspResponse, undefined)
    assert.match(later.warnings[0] ?? '', /a-good\.der .*expired/)
  })

  it('checkOcspResponse: each verdict', () => {
    const c = pki.server('c', { dns: ['c.test'] })
    const x = new X509Certificate(c.certPem)
    const der = readFileSync(pki.ocspResponse(c, 'c.der'))
    assert.equal(checkOcspResponse(der, x), undefined)
    assert.match(checkOcspResponse(der, x, new Date(Date.now() - 86400e3)) ?? '', /not valid yet/)
    assert.match(checkOcspResponse(der, x, new Date(Date.now() + 2 * 86400e3)) ?? '', /expired/)
    assert.match(checkOcspResponse(der.subarray(0, 20), x) ?? '', /cannot parse/)
    // an OCSP error response (tryLater) is not a basic response
    assert.match(checkOcspResponse(Buffer.from('30030a0103', 'hex'), x) ?? '', /tryLater/)
    const self = pki.selfSigned('s', { dns: ['s.test'] })
    const unknown = readFileSync(pki.ocspResponse(self, 's.der'))
    assert.match(
      checkOcspResponse(unknown, new X509Certificate(self.certPem)) ?? '',
      /status is unknown/,
    )
  })

  it('certNames: CN first, SANs after, duplicates dropped, IP SANs ignored', () => {
    const c = pki.server('n', { cn: 'N.test', dns: ['n.test', 'M.test'], ips: ['10.0.0.1'] })
    assert.deepEqual(certNames(new X509Certificate(c.certPem)), ['n.test', 'm.test'])
    const noSan = pki.selfSigned('ns', { cn: 'Only.CN' })
    assert.deepEqual(certNames(new X509Certificate(noSan.certPem)), ['only.cn'])
  })
})
