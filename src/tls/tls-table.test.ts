import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import net, { type AddressInfo } from 'node:net'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import tls from 'node:tls'
import { type CertPair, TestPki } from '../../test/helpers/certs.js'
import { BfeConfError } from '../basic/errors.js'
import { type BfeConf, parseBfeConf } from '../config/bfe-conf.js'
import { murmur3Sum32 } from '../util/murmur3-32.js'
import { cipherList, clientBucket, loadTlsConf, type TlsTable } from './tls-table.js'

const V4 = [192, 0, 2, 7]
const MAPPED = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...V4]

describe('clientBucket', () => {
  it('is murmur3 x86_32 of the 16-byte (or 4-byte) address, mod 100', () => {
    const b16 = murmur3Sum32(Uint8Array.from(MAPPED)) % 100
    const b4 = murmur3Sum32(Uint8Array.from(V4)) % 100
    assert.equal(clientBucket('192.0.2.7'), b16)
    assert.equal(clientBucket('::ffff:192.0.2.7'), b16)
    assert.equal(clientBucket('192.0.2.7', 4), b4)
    assert.equal(b16, 38)
    assert.equal(b4, 83)
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]
    assert.equal(clientBucket('2001:db8::7'), murmur3Sum32(Uint8Array.from(v6)) % 100)
  })
})

describe('cipherList', () => {
  it('maps BFE names, keeps order, drops RC4/3DES and (unless enabled) ChaCha20', () => {
    const dropped = new Set<string>()
    const levels = [
      'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256|TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
      'TLS_ECDHE_RSA_WITH_RC4_128_SHA',
      'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
      'TLS_RSA_WITH_3DES_EDE_CBC_SHA|TLS_RSA_WITH_AES_256_CBC_SHA',
    ]
    assert.deepEqual(cipherList(levels, false, dropped), [
      'ECDHE-RSA-AES128-GCM-SHA256',
      'AES256-SHA',
    ])
    assert.deepEqual(cipherList(levels, true), [
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-RSA-CHACHA20-POLY1305',
      'AES256-SHA',
    ])
    assert.deepEqual(
      [...dropped],
      ['TLS_ECDHE_RSA_WITH_RC4_128_SHA', 'TLS_RSA_WITH_3DES_EDE_CBC_SHA'],
    )
  })
})

interface Fixture {
  pki: TestPki
  root: string
  conf: BfeConf
  a: CertPair
  b: CertPair
  def: CertPair
  client: CertPair
  revoked: CertPair
  serverAsClient: CertPair
}

/** A conf root with four certificates and rules covering every selection path. */
function makeFixture(bfeConf: string, ruleExtra: Record<string, unknown> = {}): Fixture {
  const pki = new TestPki('bfe-tlst-')
  const root = pki.dir
  const a = pki.server('a', { cn: 'a.test', dns: ['a.test', '*.a.test'] })
  const w2 = pki.server('w2', { dns: ['*.a.test', '*.w.test'] })
  const b = pki.server('b', { dns: ['b.test', '*.b.test'] })
  const def = pki.server('def', { dns: ['default.test'] })
  const client = pki.client('client', { cn: 'client one' })
  const serverAsClient = pki.server('srvcli', { dns: ['x.test'] })
  const { cert: revoked, crl } = pki.revokedClient('revoked')
  for (const d of ['tls_conf/client_ca', 'tls_conf/client_crl/ca1', 'tls_conf/client_crl/other']) {
    mkdirSync(path.join(root, d), { recursive: true })
  }
  writeFileSync(path.join(root, 'tls_conf/client_ca/ca1.crt'), pki.ca.certPem)
  writeFileSync(path.join(root, 'tls_conf/client_crl/ca1/ca1.crl'), crl.pem)
  writeFileSync(path.join(root, 'bfe.conf'), bfeConf)
  const cc = (p: CertPair) => ({ ServerCertFile: p.certFile, ServerKeyFile: p.keyFile })
  writeFileSync(
    path.join(root, 'tls_conf/server_cert_conf.data'),
    JSON.stringify({
      Version: 'v',
      Config: { Default: 'def', CertConf: { a: cc(a), w2: cc(w2), b: cc(b), def: cc(def) } },
    }),
  )
  const bucket = clientBucket('127.0.0.1')
  writeFileSync(
    path.join(root, 'tls_conf/tls_rule_conf.data'),
    JSON.stringify({
      Version: 'v',
      DefaultNextProtos: ['h2;mcs=7', 'http/1.1'],
      DefaultChacha20: true,
      Config: {
        vip: {
          VipConf: ['10.0.0.1'],
          CertName: 'b',
          NextProtos: ['h2;level=1;mcs=50;isw=131072', 'http/1.1'],
          Grade: 'a+',
        },
        sni: {
          SniConf: ['a.test'],
          CertName: 'a',
          NextProtos: ['h2;rate=0', 'spdy/3.1', 'http/1.1'],
        },
        ratein: {
          SniConf: ['in.a.test'],
          CertName: 'a',
          NextProtos: [`h2;rate=${bucket + 1}`, 'http/1.1'],
        },
        rateout: {
          SniConf: ['out.a.test'],
          CertName: 'a',
          NextProtos: [`h2;rate=${bucket}`, 'http/1.1'],
        },
        mtls: {
          SniConf: ['m.a.test'],
          CertName: 'a',
          NextProtos: ['h2', 'http/1.1'],
          ClientAuth: true,
          ClientCAName: 'ca1',
        },
        stream: { VipConf: ['10.0.0.2'], CertName: 'a', NextProtos: ['stream;level=2;pp=2'] },
        noproto: { SniConf: ['np.b.test'], CertName: 'b', Chacha20: false },
        ...ruleExtra,
      },
    }),
  )
  const conf = parseBfeConf(bfeConf, root)
  return { pki, root, conf, a, b, def, client, revoked, serverAsClient }
}

describe('TlsTable selection and ALPN', () => {
  let fx: Fixture
  let table: TlsTable
  let warnings: string[]
  before(() => {
    fx = makeFixture('[Server]\n')
    ;({ table, warnings } = loadTlsConf(fx.conf))
  })
  after(() => fx.pki.cleanup())

  it('warns once about the RC4 names of the default cipher list', () => {
    assert.equal(warnings.length, 1)
    assert.match(
      warnings[0] ?? '',
      /TLS_ECDHE_RSA_WITH_RC4_128_SHA, TLS_RSA_WITH_RC4_128_SHA .*ignored/,
    )
  })

  it('selectCert: VIP rule, SNI exact, first wildcard, default', () => {
    const name = (vip: string | undefined, sni: string) => table.selectCert(vip, sni).name
    assert.equal(name('10.0.0.1', 'a.test'), 'b')
    assert.equal(name('::ffff:10.0.0.1', ''), 'b')
    assert.equal(name('10.9.9.9', 'a.test'), 'a')
    assert.equal(name(undefined, 'B.Test..'), 'b')
    assert.equal(name(undefined, 'x.a.test'), 'a') // a's wildcard comes before w2's
    assert.equal(name(undefined, 'x.w.test'), 'w2')
    assert.equal(name(undefined, 'y.x.a.test'), 'def')
    assert.equal(name(undefined, 'a.test.example'), 'def')
    assert.equal(name(undefined, 'unknown.test'), 'def')
    assert.equal(name(undefined, ''), 'def')
    assert.equal(table.defaultCert.name, 'def')
  })

  it('selectRule: VIP, then exact SNI, then the default rule', () => {
    const label = (vip: string | undefined, sni: string) => table.selectRule(vip, sni).label
    assert.equal(label('10.0.0.1', 'a.test'), 'vip')
    assert.equal(label('10.0.0.2', ''), 'stream')
    assert.equal(label(undefined, 'a.test'), 'sni')
    assert.equal(label('10.9.9.9', 'a.test'), 'sni')
    assert.equal(label(undefined, 'A.test'), undefined) // exact string, as BFE
    assert.equal(label(undefined, 'nope.test'), undefined)
    const d = table.defaultRule
    assert.equal(d.grade, 'C')
    assert.equal(d.clientAuth, false)
    assert.equal(d.chacha20, true)
    assert.deepEqual(d.h2, { maxConcurrentStreams: 200, initialWindowSize: 65535 })
    assert.deepEqual(
      d.protos.map((p) => p.proto),
      ['h2', 'http/1.1'],
    )
  })

  it('offeredProtocols: rate 0, rate 100, buckets either side, global switches', () => {
    const sni = table.selectRule(undefined, 'a.test')
    assert.deepEqual(table.offeredProtocols(sni, '127.0.0.1', new Set()), ['spdy/3.1', 'http/1.1'])
    assert.deepEqual(table.offeredProtocols(sni, '2001:db8::1', new Set(['spdy'])), ['http/1.1'])
    const vip = table.selectRule('10.0.0.1', '')
    // level 1 is never switched off
    assert.deepEqual(table.offeredProtocols(vip, '127.0.0.1', new Set(['h2'])), ['h2', 'http/1.1'])
    const def = table.defaultRule
    assert.deepEqual(table.offeredProtocols(def, '127.0.0.1', new Set()), ['h2', 'http/1.1'])
    assert.deepEqual(table.offeredProtocols(def, '127.0.0.1', new Set(['h2'])), ['http/1.1'])
    assert.deepEqual(table.offeredProtocols(def, '127.0.0.1', new Set(['h2', 'http'])), [
      'http/1.1',
    ])
    const bucket = clientBucket('127.0.0.1')
    assert.ok(bucket >= 0 && bucket < 99)
    const ratein = table.selectRule(undefined, 'in.a.test')
    const rateout = table.selectRule(undefined, 'out.a.test')
    assert.deepEqual(table.offeredProtocols(ratein, '127.0.0.1'), ['h2', 'http/1.1'])
    assert.deepEqual(table.offeredProtocols(rateout, '127.0.0.1'), ['http/1.1'])
    // a rule without NextProtos uses DefaultNextProtos
    const np = table.selectRule(undefined, 'np.b.test')
    assert.deepEqual(table.offeredProtocols(np, '127.0.0.1'), ['h2', 'http/1.1'])
  })

  it("a rule's mandatory protocol, HTTP/2 settings and stream PROXY version", () => {
    const stream = table.selectRule('10.0.0.2', '')
    assert.equal(stream.mandatory, 'stream')
    assert.equal(stream.proxyProtocol, 2)
    assert.deepEqual(table.offeredProtocols(stream, '127.0.0.1'), ['stream'])
    const vip = table.selectRule('10.0.0.1', '')
    assert.equal(vip.mandatory, undefined)
    assert.equal(vip.proxyProtocol, 0)
    assert.deepEqual(vip.h2, { maxConcurrentStreams: 50, initialWindowSize: 131072 })
    // BFE takes HTTP/2 settings from the rule's own NextProtos only, not from the defaults
    assert.deepEqual(table.selectRule(undefined, 'np.b.test').h2, {
      maxConcurrentStreams: 200,
      initialWindowSize: 65535,
    })
  })

  it('context options: grades, versions, curves, ciphers, client CA and CRL', () => {
    const vip = table.selectRule('10.0.0.1', '')
    const o = table.contextOptions(table.selectCert('10.0.0.1', ''), vip)
    assert.equal(o.minVersion, 'TLSv1.2')
    assert.equal(o.maxVersion, 'TLSv1.3')
    assert.equal(o.ecdhCurve, 'X25519:P-256')
    assert.equal(o.honorCipherOrder, true)
    assert.equal(
      o.ciphers,
      'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-SHA:AES256-SHA',
    )
    assert.equal(o.ca, undefined)
    const d = table.contextOptions(table.defaultCert, table.defaultRule)
    assert.match(String(d.ciphers), /ECDHE-RSA-CHACHA20-POLY1305/)
    const m = table.contextOptions(
      table.selectCert(undefined, 'm.a.test'),
      table.selectRule(undefined, 'm.a.test'),
    )
    assert.equal(m.ca, fx.pki.ca.certPem)
    assert.equal((m.crl as string[]).length, 1)
    assert.notEqual(m.sessionIdContext, o.sessionIdContext)
    assert.equal(d.sessionIdContext, o.sessionIdContext)
    assert.ok(table.secureContext(table.defaultCert, table.defaultRule).context)
  })
})

describe('TlsTable bfe.conf options', () => {
  it('MinTlsVersion TLS 1.0 is honoured except for grade A+; curves; ticket key', () => {
    const fx = makeFixture(
      [
        '[HttpsBasic]',
        'MinTlsVersion = VersionTLS10',
        'MaxTlsVersion = VersionTLS12',
        'CurvePreferences = CurveP384',
        'CurvePreferences = CurveP256',
        'CipherSuites = TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
        '[SessionTicket]',
        'SessionTicketsDisabled = false',
        `SessionTicketKeyFile = ${'tls_conf/stk.data'}`,
        '',
      ].join('\n'),
    )
    try {
      writeFileSync(
        path.join(fx.root, 'tls_conf/stk.data'),
        JSON.stringify({ Version: 'v', SessionTicketKey: 'ab'.repeat(48) }),
      )
      const { table, warnings } = loadTlsConf(fx.conf)
      assert.deepEqual(warnings, [])
      const c = table.contextOptions(table.defaultCert, table.defaultRule)
      assert.equal(c.minVersion, 'TLSv1')
      assert.equal(c.maxVersion, 'TLSv1.2')
      assert.equal(c.ecdhCurve, 'X25519:P-384:P-256')
      assert.equal(c.ciphers, 'ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0')
      assert.deepEqual(c.ticketKeys, Buffer.from('ab'.repeat(48), 'hex'))
      assert.equal(c.secureOptions, undefined)
      const aplus = table.contextOptions(table.defaultCert, table.selectRule('10.0.0.1', ''))
      assert.equal(aplus.minVersion, 'TLSv1.2')
      assert.equal(aplus.ciphers, 'ECDHE-ECDSA-AES128-GCM-SHA256')
    } finally {
      fx.pki.cleanup()
    }
  })

  it('load errors: missing CRL base dir, unknown CertName', () => {
    const fx = makeFixture('[Server]\n', { bad: { CertName: 'zz' } })
    try {
      assert.throws(
        () => loadTlsConf(fx.conf),
        (e: unknown) => e instanceof BfeConfError && e.field === '/Config/bad/CertName',
      )
    } finally {
      fx.pki.cleanup()
    }
    const fx2 = makeFixture('[HttpsBasic]\nClientCRLBaseDir = tls_conf/none\n')
    try {
      assert.throws(
        () => loadTlsConf(fx2.conf),
        (e: unknown) =>
          e instanceof BfeConfError &&
          e.field === '[HttpsBasic] ClientCRLBaseDir' &&
          /does not exist/.test(e.reason),
      )
    } finally {
      fx2.pki.cleanup()
    }
  })
})

interface HandshakeResult {
  ok: boolean
  alpn: string | false | undefined
  subject: string | undefined
  cipher: string | undefined
  error: string | undefined
}

/**
 * One loopback handshake with certificate and rule chosen before the handshake (SNI known, VIP
 * unknown), the way the connection layer will. The table's SecureContext is handed over in
 * SNICallback (it provides the certificate and the client CA store with its CRLs); the server's
 * base options are the same profile's, because OpenSSL keeps the first context's ciphers,
 * versions and ALPN callback when the context is swapped. The server answers "ok" once the
 * handshake, client certificate check included, succeeded.
 */
async function handshake(
  table: TlsTable,
  sni: string,
  client: tls.ConnectionOptions,
): Promise<HandshakeResult> {
  const rule = table.selectRule(undefined, sni)
  const cert = table.selectCert(undefined, sni)
  const server = tls.createServer({
    ...table.contextOptions(cert, rule),
    SNICallback: (_name, cb) => cb(null, table.secureContext(cert, rule)),
    requestCert: rule.clientAuth,
    rejectUnauthorized: rule.clientAuth,
    // ALPNProtocols would be lost with the context swap; the callback is kept on the socket
    ALPNCallback: ({ protocols }) => {
      const offered = table.offeredProtocols(rule, '127.0.0.1')
      return offered.find((p) => protocols.includes(p))
    },
  })
  server.on('secureConnection', (s) => {
    s.on('error', () => {})
    s.end('ok')
  })
  server.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  try {
    return await new Promise<HandshakeResult>((resolve) => {
      let data = ''
      const res: HandshakeResult = {
        ok: false,
        alpn: undefined,
        subject: undefined,
        cipher: undefined,
        error: undefined,
      }
      const c = tls.connect({ host: '127.0.0.1', port, servername: sni, ...client })
      c.on('secureConnect', () => {
        res.alpn = c.alpnProtocol ?? false
        res.subject = c.getPeerX509Certificate()?.subjectAltName
        res.cipher = c.getCipher().name
      })
      c.on('data', (d: Buffer) => {
        data += d.toString()
      })
      c.on('error', (e) => {
        res.error = e.message
      })
      c.on('close', () => {
        res.ok = data === 'ok'
        resolve(res)
      })
    })
  } finally {
    server.close()
  }
}

/**
 * ALPN without a context swap: the TLS socket is created with the table's SecureContext and the
 * offered list (Node loses the ALPN selection when SNICallback swaps contexts). Resolves with the
 * protocol the client saw, or false.
 */
async function alpnOf(
  table: TlsTable,
  ca: string,
  sni: string,
  offer: string[],
): Promise<string | false> {
  const rule = table.selectRule(undefined, sni)
  const cert = table.selectCert(undefined, sni)
  const server = net.createServer((sock) => {
    sock.on('error', () => {})
    const ts = new tls.TLSSocket(sock, {
      isServer: true,
      secureContext: table.secureContext(cert, rule),
      ALPNProtocols: [...table.offeredProtocols(rule, sock.remoteAddress ?? '')],
    })
    ts.on('error', () => {})
    ts.on('secure', () => ts.end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  try {
    return await new Promise<string | false>((resolve, reject) => {
      const c = tls.connect({
        host: '127.0.0.1',
        port,
        servername: sni,
        ca,
        ALPNProtocols: offer,
      })
      c.on('secureConnect', () => {
        resolve(c.alpnProtocol ?? false)
        c.end()
      })
      c.on('error', reject)
    })
  } finally {
    server.close()
  }
}

describe('TlsTable secure contexts in real handshakes', () => {
  let fx: Fixture
  let table: TlsTable
  before(() => {
    fx = makeFixture('[Server]\n')
    table = loadTlsConf(fx.conf).table
  })
  after(() => fx.pki.cleanup())

  it('serves the SNI-selected certificate and the rule’s ALPN list', async () => {
    const ca = fx.pki.ca.certPem
    const r = await handshake(table, 'x.a.test', { ca, ALPNProtocols: ['h2', 'http/1.1'] })
    assert.equal(r.error, undefined)
    assert.equal(r.ok, true)
    assert.match(r.subject ?? '', /DNS:\*\.a\.test/)
    assert.equal(await alpnOf(table, ca, 'x.a.test', ['h2', 'http/1.1']), 'h2') // default rule
    const s = await handshake(table, 'a.test', { ca, ALPNProtocols: ['h2', 'http/1.1'] })
    assert.equal(s.ok, true)
    assert.equal(await alpnOf(table, ca, 'a.test', ['h2', 'http/1.1']), 'http/1.1') // h2;rate=0
    assert.equal(await alpnOf(table, ca, 'in.a.test', ['h2', 'http/1.1']), 'h2')
    assert.equal(await alpnOf(table, ca, 'out.a.test', ['h2', 'http/1.1']), 'http/1.1')
  })

  it('TLS 1.2 ciphers follow the list; ChaCha20 only where enabled', async () => {
    const ca = fx.pki.ca.certPem
    const chachaOnly = {
      ca,
      maxVersion: 'TLSv1.2' as const,
      ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305',
    }
    const def = await handshake(table, 'x.a.test', chachaOnly) // default rule: DefaultChacha20
    assert.equal(def.ok, true)
    assert.equal(def.cipher, 'ECDHE-ECDSA-CHACHA20-POLY1305')
    const no = await handshake(table, 'np.b.test', chachaOnly) // Chacha20: false
    assert.equal(no.ok, false)
    const gcm = await handshake(table, 'np.b.test', { ca, maxVersion: 'TLSv1.2' })
    assert.equal(gcm.ok, true)
    assert.equal(gcm.cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256')
  })

  it('mTLS: a client certificate of the CA is accepted; none, revoked or non-client are rejected', async () => {
    const ca = fx.pki.ca.certPem
    const good = await handshake(table, 'm.a.test', {
      ca,
      cert: fx.client.certPem,
      key: fx.client.keyPem,
    })
    assert.equal(good.error, undefined)
    assert.equal(good.ok, true)
    const none = await handshake(table, 'm.a.test', { ca })
    assert.equal(none.ok, false)
    const revoked = await handshake(table, 'm.a.test', {
      ca,
      cert: fx.revoked.certPem,
      key: fx.revoked.keyPem,
    })
    assert.equal(revoked.ok, false)
    const wrongEku = await handshake(table, 'm.a.test', {
      ca,
      cert: fx.serverAsClient.certPem,
      key: fx.serverAsClient.keyPem,
    })
    assert.equal(wrongEku.ok, false)
    const self = fx.pki.selfSigned('intruder', { cn: 'intruder' })
    const foreign = await handshake(table, 'm.a.test', { ca, cert: self.certPem, key: self.keyPem })
    assert.equal(foreign.ok, false)
    // the same client certificate is not asked for on a rule without ClientAuth
    const plain = await handshake(table, 'a.test', { ca })
    assert.equal(plain.ok, true)
  })
})
