import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import http2 from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import type { CertPair, CrlFiles } from '../helpers/certs.js'
import { defaultTestCert, type TestConf, testPki } from '../helpers/conf.js'
import { curlStatus, curlTls, run, sClient } from '../helpers/exec.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

// Certificates: a.test (exact name), *.w.test (wildcard), mtls.test (client auth rule), and the
// default certificate of test configurations (localhost, *.test).
let aCert: CertPair
let wCert: CertPair
let mCert: CertPair
let client: CertPair
let revoked: { cert: CertPair; crl: CrlFiles }
let plain: Upstream
/** Streams `size` bytes in 64 KiB chunks with backpressure; records progress. */
let big: Upstream
const bigState = { written: 0, blocked: false, done: false }
let secure: Upstream
let mutual: Upstream
let bfe: RunningBfe
const tmp = mkdtempSync(join(tmpdir(), 'bfe-https-'))

/** HandleHandshake drops connections whose SNI is drop.test. */
const dropper: BfeModule = {
  name: 'mod_test_drop',
  init({ callbacks: cb }) {
    cb.addAcceptFilter(1, (ses) =>
      ses.tlsState?.sni === 'drop.test' ? HandlerResult.Close : HandlerResult.GoOn,
    )
  },
}

function certFiles(
  names: Record<string, CertPair>,
  ocsp: Record<string, string> = {},
): Record<string, string> {
  const files: Record<string, string> = {}
  const conf: Record<string, Record<string, string>> = {}
  for (const [name, c] of Object.entries(names)) {
    files[`tls_conf/certs/${name}.crt`] = c.certPem
    files[`tls_conf/certs/${name}.key`] = c.keyPem
    conf[name] = {
      ServerCertFile: `tls_conf/certs/${name}.crt`,
      ServerKeyFile: `tls_conf/certs/${name}.key`,
      ...(ocsp[name] === undefined ? {} : { OcspResponseFile: ocsp[name] }),
    }
  }
  files['tls_conf/server_cert_conf.data'] = JSON.stringify({
    Version: 't',
    Config: { Default: 'default', CertConf: conf },
  })
  return files
}

function httpsConf(extraServer: string[] = [], extraBfeConf = ''): TestConf {
  const pki = testPki()
  return {
    server: ['Modules = mod_test_drop', ...extraServer],
    extraBfeConf,
    hostRule: { Version: 't', DefaultProduct: 'p', Hosts: {}, HostTags: { p: [] } },
    routeRule: {
      Version: 't',
      ProductRule: {
        p: [
          { Cond: 'ses_tls_client_auth() && ses_tls_client_ca_in("ca")', ClusterName: 'cm' },
          { Cond: 'req_path_prefix_in("/big", false)', ClusterName: 'cb' },
          { Cond: 'req_proto_secure()', ClusterName: 'cs' },
          { Cond: 'default_t()', ClusterName: 'c' },
        ],
      },
    },
    clusterConf: { Version: 't', Config: { c: {}, cs: {}, cm: {}, cb: {} } },
    clusterTable: {
      c: { 'c.a': [{ Port: plain.port }] },
      cs: { 'cs.a': [{ Port: secure.port }] },
      cm: { 'cm.a': [{ Port: mutual.port }] },
      cb: { 'cb.a': [{ Port: big.port }] },
    },
    gslb: { c: { 'c.a': 100 }, cs: { 'cs.a': 100 }, cm: { 'cm.a': 100 }, cb: { 'cb.a': 100 } },
    tlsRule: {
      Version: 't',
      DefaultNextProtos: ['http/1.1'],
      Config: {
        a: { SniConf: ['a.test'], CertName: 'a', NextProtos: ['h2;rate=100', 'http/1.1'] },
        w: { SniConf: ['off.w.test'], CertName: 'w', NextProtos: ['h2;rate=0', 'http/1.1'] },
        m: {
          SniConf: ['mtls.test'],
          CertName: 'm',
          NextProtos: ['h2', 'http/1.1'],
          ClientAuth: true,
          ClientCAName: 'ca',
        },
      },
    },
    files: {
      ...certFiles(
        { default: defaultTestCert(), a: aCert, w: wCert, m: mCert },
        { a: pki.ocspResponse(aCert) },
      ),
      'tls_conf/client_ca/ca.crt': pki.ca.certPem,
      'tls_conf/client_crl/ca/ca.crl': revoked.crl.pem,
    },
  }
}

before(async () => {
  const pki = testPki()
  aCert = pki.server('a', { dns: ['a.test'] })
  wCert = pki.server('w', { dns: ['*.w.test'] })
  mCert = pki.server('m', { dns: ['mtls.test'] })
  client = pki.client('client', { cn: 'client' })
  revoked = pki.revokedClient('revoked', { cn: 'revoked' })
  plain = await startUpstream((_req, res) => res.end('plain'))
  secure = await startUpstream((req, res) => {
    if (req.url === '/trailers') {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' })
      res.write('part one, ')
      res.addTrailers({ 'x-checksum': 'abc123' })
      res.end('part two')
      return
    }
    res.end('secure')
  })
  big = await startUpstream((req, res) => {
    const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size') ?? '0')
    const chunk = Buffer.alloc(64 * 1024, 120)
    bigState.written = 0
    bigState.blocked = false
    bigState.done = false
    res.writeHead(200, { 'content-length': String(size) })
    const pump = (): void => {
      while (bigState.written < size) {
        const n = Math.min(chunk.length, size - bigState.written)
        bigState.written += n
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          bigState.blocked = true
          res.once('drain', pump)
          return
        }
      }
      bigState.done = true
      res.end()
    }
    pump()
  })
  mutual = await startUpstream((_req, res) => res.end('mutual'))
  bfe = await startBfe(httpsConf(), [dropper])
})

after(async () => {
  await bfe?.close()
  await Promise.all([plain?.close(), secure?.close(), mutual?.close(), big?.close()])
  rmSync(tmp, { recursive: true, force: true })
})

/** The subject line openssl prints for the server certificate. */
async function servedSubject(args: string[]): Promise<string> {
  const r = await sClient(bfe.tlsPort, args)
  const m = /^subject=(.*)$/m.exec(r.stdout)
  assert.ok(m !== null, `no certificate in:\n${r.stdout}\n${r.stderr}`)
  return m[1] ?? ''
}

describe('certificate selection by SNI', () => {
  test('exact name', async () => {
    assert.match(await servedSubject(['-servername', 'a.test']), /CN ?= ?a\.test/)
  })
  test('wildcard: one label in front', async () => {
    assert.match(await servedSubject(['-servername', 'x.w.test']), /CN ?= ?\*\.w\.test/)
  })
  test('unknown name: the default certificate', async () => {
    assert.match(await servedSubject(['-servername', 'unknown.example']), /CN ?= ?localhost/)
  })
  test('no SNI: the default certificate', async () => {
    assert.match(await servedSubject(['-noservername']), /CN ?= ?localhost/)
  })
})

describe('ALPN per rule', () => {
  test('rate=100: h2 negotiated (curl --http2)', async () => {
    const r = await curlTls('a.test', bfe.tlsPort, '/', ['--http2'])
    assert.deepEqual(curlStatus(r), ['200', '2'], r.stdout + r.stderr)
    assert.ok(r.stdout.startsWith('secure'), r.stdout)
  })
  test('rate=0: h2 never offered, HTTP/1.1', async () => {
    const r = await curlTls('off.w.test', bfe.tlsPort, '/', ['--http2'])
    assert.deepEqual(curlStatus(r), ['200', '1.1'], r.stdout + r.stderr)
  })
  test('no rule: DefaultNextProtos (http/1.1 only)', async () => {
    const r = await curlTls('other.test', bfe.tlsPort, '/', ['--http2'])
    assert.deepEqual(curlStatus(r), ['200', '1.1'], r.stdout + r.stderr)
  })
  test('plain HTTP still goes to the non-TLS cluster (req_proto_secure is false)', async () => {
    const r = await run('curl', ['-sS', `http://127.0.0.1:${bfe.port}/`])
    assert.equal(r.stdout, 'plain')
  })
})

describe('client authentication (mTLS)', () => {
  test('a certificate from the CA is accepted; ses_tls_client_auth() and the CA name match', async () => {
    const r = await curlTls('mtls.test', bfe.tlsPort, '/', [
      '--http2',
      '--cert',
      client.certFile,
      '--key',
      client.keyFile,
    ])
    assert.deepEqual(curlStatus(r), ['200', '2'], r.stdout + r.stderr)
    assert.ok(r.stdout.startsWith('mutual'), r.stdout)
  })
  test('no client certificate: the handshake fails', async () => {
    const before = bfe.server.tls?.counters.TLS_HANDSHAKE_SUCC ?? 0
    const r = await curlTls('mtls.test', bfe.tlsPort, '/')
    assert.notEqual(r.code, 0, r.stdout)
    assert.ok(!r.stdout.includes('mutual'))
    assert.equal(bfe.server.tls?.counters.TLS_HANDSHAKE_SUCC, before)
  })
  test('a certificate revoked by the CRL is rejected', async () => {
    const before = bfe.server.tls?.counters.TLS_HANDSHAKE_CLIENT_CERT_REJECTED ?? 0
    const r = await curlTls('mtls.test', bfe.tlsPort, '/', [
      '--cert',
      revoked.cert.certFile,
      '--key',
      revoked.cert.keyFile,
    ])
    assert.ok(!r.stdout.includes('mutual'), r.stdout)
    assert.equal(bfe.server.tls?.counters.TLS_HANDSHAKE_CLIENT_CERT_REJECTED, before + 1)
  })
  test('a self-signed client certificate is rejected', async () => {
    const self = testPki().selfSigned('stranger', { cn: 'stranger' })
    const r = await curlTls('mtls.test', bfe.tlsPort, '/', [
      '--cert',
      self.certFile,
      '--key',
      self.keyFile,
    ])
    assert.ok(!r.stdout.includes('mutual'), r.stdout)
  })
})

describe('protocol versions', () => {
  test('TLS 1.3 is negotiated by default', async () => {
    const r = await sClient(bfe.tlsPort, ['-servername', 'a.test'])
    assert.match(r.stdout, /New, TLSv1\.3, Cipher is /)
  })
  test('TLS 1.2 is accepted', async () => {
    const r = await sClient(bfe.tlsPort, ['-servername', 'a.test', '-tls1_2'])
    assert.match(r.stdout, /New, TLSv1\.2, Cipher is ECDHE-/)
  })
  test('TLS 1.0 and 1.1 are refused', async () => {
    for (const v of ['-tls1', '-tls1_1']) {
      const r = await sClient(bfe.tlsPort, [v, '-cipher', 'DEFAULT:@SECLEVEL=0'])
      assert.doesNotMatch(r.stdout, /New, TLSv1(\.1)?, Cipher is [A-Z]/, v)
      assert.notEqual(r.code, 0, v)
    }
  })
})

describe('HandleHandshake', () => {
  test('Close drops the connection; other names are served', async () => {
    const dropped = await curlTls('drop.test', bfe.tlsPort, '/')
    assert.notEqual(dropped.code, 0)
    assert.equal(curlStatus(dropped)[0], '000')
    const ok = await curlTls('kept.test', bfe.tlsPort, '/')
    assert.deepEqual(curlStatus(ok), ['200', '1.1'])
  })
})

describe('HTTP/2', () => {
  test('100 concurrent streams on one connection (h2load)', async () => {
    const before = secure.seen.length
    const r = await run('h2load', [
      '-n',
      '100',
      '-c',
      '1',
      '-m',
      '100',
      `https://127.0.0.1:${bfe.tlsPort}/h2load`,
      '--connect-to',
      `127.0.0.1:${bfe.tlsPort}`,
      '-H',
      ':authority: a.test',
    ])
    assert.match(r.stdout, /100 succeeded, 0 failed/, r.stdout + r.stderr)
    assert.equal(secure.seen.length - before, 100)
  })

  test('a lookup failure answers 500 and closes the connection with GOAWAY', async () => {
    const noDefault = await startBfe(
      {
        ...httpsConf(),
        hostRule: { Version: 't', DefaultProduct: null, Hosts: {}, HostTags: { p: [] } },
        tlsRule: { Version: 't', DefaultNextProtos: ['h2', 'http/1.1'], Config: {} },
        files: certFiles({ default: defaultTestCert() }),
        server: [],
      },
      [],
    )
    try {
      const s = http2.connect(`https://localhost:${noDefault.tlsPort}`, {
        rejectUnauthorized: false,
      })
      s.on('error', () => {})
      const goaway = new Promise<void>((r) => s.once('goaway', () => r()))
      const status = await new Promise<number>((resolve, reject) => {
        const st = s.request({ ':path': '/' })
        st.on('response', (h) => resolve(Number(h[':status'])))
        st.on('error', reject)
        st.resume()
      })
      assert.equal(status, 500)
      await goaway
      s.destroy()
    } finally {
      await noDefault.close()
    }
  })
})

describe('OCSP stapling', () => {
  test('a certificate with OcspResponseFile gets its response stapled', async () => {
    const r = await sClient(bfe.tlsPort, ['-servername', 'a.test', '-status'])
    assert.match(r.stdout, /OCSP Response Status: successful/, r.stdout)
    assert.match(r.stdout, /Cert Status: good/)
  })
  test('a certificate without one staples nothing', async () => {
    const r = await sClient(bfe.tlsPort, ['-servername', 'x.w.test', '-status'])
    assert.match(r.stdout, /OCSP response: no response sent/, r.stdout)
  })
})

/** One HTTP/2 request on session `s`; resolves with status, body and trailers. */
function h2get(
  s: http2.ClientHttp2Session,
  path: string,
): Promise<{ status: number; body: string; trailers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const st = s.request({ ':path': path, ':authority': 'a.test' })
    let status = 0
    let body = ''
    let trailers: http2.IncomingHttpHeaders = {}
    st.setEncoding('utf8')
    st.on('response', (h) => {
      status = Number(h[':status'])
    })
    st.on('trailers', (t) => {
      trailers = t
    })
    st.on('data', (c: string) => {
      body += c
    })
    st.on('end', () => resolve({ status, body, trailers }))
    st.on('error', reject)
  })
}

describe('HTTP/2 streaming', () => {
  test('backend trailers are forwarded as HTTP/2 trailers', async () => {
    const s = http2.connect(`https://127.0.0.1:${bfe.tlsPort}`, {
      rejectUnauthorized: false,
      servername: 'a.test',
    })
    s.on('error', () => {})
    try {
      const r = await h2get(s, '/trailers')
      assert.equal(r.status, 200)
      assert.equal(r.body, 'part one, part two')
      assert.equal(r.trailers['x-checksum'], 'abc123')
    } finally {
      s.destroy()
    }
  })

  test('a slow HTTP/2 client makes the backend block (flow control end to end)', async () => {
    const MB = 1024 * 1024
    const size = 64 * MB
    const s = http2.connect(`https://127.0.0.1:${bfe.tlsPort}`, {
      rejectUnauthorized: false,
      servername: 'a.test',
    })
    s.on('error', () => {})
    try {
      const st = s.request({ ':path': `/big?size=${size}`, ':authority': 'a.test' })
      st.on('error', () => {})
      st.pause()
      const t0 = Date.now()
      while (!bigState.blocked && Date.now() - t0 < 3000)
        await new Promise((r) => setTimeout(r, 20))
      assert.ok(bigState.blocked, 'the backend never saw backpressure')
      let last = -1
      while (bigState.written !== last) {
        last = bigState.written
        await new Promise((r) => setTimeout(r, 150))
      }
      assert.ok(!bigState.done, 'the backend wrote everything while the client read nothing')
      assert.ok(
        bigState.written < 16 * MB,
        `${(bigState.written / MB).toFixed(1)} MB left the backend`,
      )
      // Reading again lets the whole body through; another stream on the connection works too.
      let received = 0
      st.on('data', (c: Buffer) => {
        received += c.length
      })
      const ended = new Promise<void>((r) => st.once('end', () => r()))
      st.resume()
      const other = await h2get(s, '/')
      assert.equal(other.body, 'secure')
      await ended
      assert.equal(received, size)
    } finally {
      s.destroy()
    }
  })
})
