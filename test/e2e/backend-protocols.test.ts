import assert from 'node:assert/strict'
import http, { type IncomingHttpHeaders } from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import { TestPki } from '../helpers/certs.js'
import { get } from '../helpers/client.js'
import { clustersConf, type TestConf, testPki, writeConf } from '../helpers/conf.js'
import { run } from '../helpers/exec.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'

// Backends that are not plain HTTP/1.1 (config.md §4.4 BackendConf.Protocol and HTTPSConf):
// HTTPS verified against a test CA (and refused with another CA, a wrong name, or without the
// client certificate a backend requires), h2c with gRPC-style trailers, and health checks of
// Schem https and tls with the cluster's TLS settings.

const MAIN = join(resolve(fileURLToPath(import.meta.url), '../../../..'), 'dist/src/main.js')

/** The test CA signs every backend certificate and the client certificate bfe-ts presents. */
const pki = testPki()
/** A CA that signed nothing the backends use. */
const otherPki = new TestPki('bfe-other-ca-')
const backendCert = pki.server('backend', { dns: ['backend.test'], ips: ['127.0.0.1'] })
/** No IP SAN: only RSHost can make it verify. */
const hcCert = pki.server('hc-backend', { dns: ['hc.test'] })
const clientCert = pki.client('bfe-client', { cn: 'bfe-ts' })

const servers: { close(cb: () => void): void; closeAllConnections?(): void }[] = []
const h2Sessions = new Set<http2.Http2Session>()

function listen(s: http.Server | http2.Http2Server): Promise<number> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)))
}

/** What each TLS backend saw per request: the SNI and the client certificate's CN. */
const tlsSeen = new Map<string, { sni: string | false | null; clientCn: string | undefined }[]>()

/** The newest request `name` saw. */
const lastTls = (name: string) => tlsSeen.get(name)?.at(-1)

function tlsBackend(
  name: string,
  opts: https.ServerOptions,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<number> {
  const s = https.createServer({ ...opts, minVersion: 'TLSv1.2' }, (req, res) => {
    const sock = req.socket as TLSSocket
    const cn = sock.getPeerCertificate().subject?.CN
    const seen = tlsSeen.get(name) ?? []
    tlsSeen.set(name, seen)
    seen.push({ sni: sock.servername, clientCn: typeof cn === 'string' ? cn : undefined })
    handler(req, res)
  })
  s.on('tlsClientError', () => {})
  servers.push(s)
  return listen(s)
}

let securePort = 0
let mutualPort = 0
/** The same backend limited to TLS 1.2, where a refused client certificate fails the handshake. */
let mutual12Port = 0
let hcPort = 0
let h2cPort = 0
/** Status the `/hc` path of the health-checked backend answers. */
let hcStatus = 200
/** Request headers the h2c backend saw, newest last. */
const h2cSeen: IncomingHttpHeaders[] = []
let bfe: RunningBfe
/** Error code and message of every finished request, by URI. */
const outcomes = new Map<string, { errCode: string | undefined; errMsg: string }>()
const recorder: BfeModule = {
  name: 'mod_test_outcome',
  init({ callbacks: cb }) {
    cb.addResponseFilter(7, (req) => {
      outcomes.set(req.rawUri, { errCode: req.errCode, errMsg: req.errMsg })
      return HandlerResult.GoOn
    })
  },
}

/** An h2c (HTTP/2 without TLS) backend answering like a gRPC server. */
async function h2cBackend(): Promise<number> {
  const s = http2.createServer()
  s.on('session', (sess) => {
    h2Sessions.add(sess)
    sess.on('close', () => h2Sessions.delete(sess))
  })
  s.on('stream', (stream, headers) => {
    h2cSeen.push(headers)
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => {
      const path = String(headers[':path'])
      const body = Buffer.concat(chunks).toString()
      if (path === '/grpc.Echo/Fail') {
        // Trailers-Only: a gRPC error in the response HEADERS, no body.
        stream.respond(
          {
            ':status': 200,
            'content-type': 'application/grpc',
            'grpc-status': '5',
            'grpc-message': 'not found',
          },
          { endStream: true },
        )
        return
      }
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'x-proto': 'h2c' },
        { waitForTrailers: true },
      )
      stream.on('wantTrailers', () =>
        stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': `echo ${body.length}` }),
      )
      stream.end(`echo:${body}`)
    })
  })
  servers.push(s)
  return listen(s)
}

/** One cluster routed by `<name>.test`, one backend. */
function cluster(name: string, port: number, conf: unknown) {
  return { hosts: [`${name}.test`], subs: { [`${name}.a`]: [{ Port: port }] }, conf }
}

/** Failures here must not mark the only backend down: every request shows its own error. */
const NO_HC = { DisableHealthCheck: true }

function bfeConf(): TestConf {
  const ca = 'tls_conf/backend_ca/ca.crt'
  const other = 'tls_conf/backend_ca/other.crt'
  const https = (HTTPSConf: unknown, extra: Record<string, unknown> = {}) => ({
    BackendConf: { Protocol: 'https' },
    HTTPSConf,
    ClusterBasic: NO_HC,
    ...extra,
  })
  const conf = clustersConf(
    {
      good: cluster('good', securePort, https({ RSHost: 'backend.test', RSCAList: [ca] })),
      byip: cluster('byip', securePort, https({ RSCAList: [ca] })),
      badca: cluster('badca', securePort, https({ RSHost: 'backend.test', RSCAList: [other] })),
      badname: cluster('badname', securePort, https({ RSHost: 'nope.test', RSCAList: [ca] })),
      skip: cluster(
        'skip',
        securePort,
        https({ RSHost: 'backend.test', RSCAList: [other], RSInsecureSkipVerify: true }),
      ),
      mtls: cluster(
        'mtls',
        mutualPort,
        https({
          RSHost: 'backend.test',
          RSCAList: [ca],
          BFECertFile: 'tls_conf/backend_ca/client.crt',
          BFEKeyFile: 'tls_conf/backend_ca/client.key',
        }),
      ),
      nomtls: cluster('nomtls', mutualPort, https({ RSHost: 'backend.test', RSCAList: [ca] })),
      nomtls12: cluster(
        'nomtls12',
        mutual12Port,
        https({ RSHost: 'backend.test', RSCAList: [ca] }),
      ),
      plain: cluster('plain', securePort, { ClusterBasic: NO_HC }),
      grpc: cluster('grpc', h2cPort, { BackendConf: { Protocol: 'h2c' } }),
      hc: cluster(
        'hc',
        hcPort,
        https(
          { RSHost: 'hc.test', RSCAList: [ca] },
          {
            CheckConf: {
              Schem: 'https',
              Uri: '/hc',
              StatusCode: 200,
              ActiveCheck: true,
              FailNum: 1,
              SuccNum: 1,
              CheckInterval: 30,
            },
            ClusterBasic: {},
          },
        ),
      ),
      tlsbad: cluster(
        'tlsbad',
        hcPort,
        // the handshake is verified against the other CA: never succeeds
        https(
          { RSHost: 'hc.test', RSCAList: [other] },
          {
            CheckConf: {
              Schem: 'tls',
              ActiveCheck: true,
              FailNum: 1,
              SuccNum: 1,
              CheckInterval: 30,
            },
            ClusterBasic: {},
          },
        ),
      ),
    },
    {
      server: [`Modules = ${recorder.name}`],
      files: {
        [ca]: pki.ca.certPem,
        [other]: otherPki.ca.certPem,
        'tls_conf/backend_ca/client.crt': clientCert.certPem,
        'tls_conf/backend_ca/client.key': clientCert.keyPem,
      },
    },
  )
  return conf
}

before(async () => {
  const pair = { cert: backendCert.certPem, key: backendCert.keyPem }
  securePort = await tlsBackend('secure', pair, (req, res) => {
    req.resume()
    res.end(`secure ${req.headers.host}`)
  })
  const mutual = { ...pair, requestCert: true, rejectUnauthorized: true, ca: pki.ca.certPem }
  const mutualHandler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume()
    res.end('mutual')
  }
  mutualPort = await tlsBackend('mutual', mutual, mutualHandler)
  mutual12Port = await tlsBackend('mutual12', { ...mutual, maxVersion: 'TLSv1.2' }, mutualHandler)
  hcPort = await tlsBackend('hc', { cert: hcCert.certPem, key: hcCert.keyPem }, (req, res) => {
    req.resume()
    res.statusCode = req.url === '/hc' ? hcStatus : 200
    res.end('hc')
  })
  h2cPort = await h2cBackend()
  bfe = await startBfe(bfeConf(), [recorder])
})

after(async () => {
  await bfe?.close()
  for (const s of h2Sessions) s.destroy()
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((r) => {
          s.closeAllConnections?.()
          s.close(() => r())
        }),
    ),
  )
  otherPki.cleanup()
})

interface Reply {
  status: number
  body: string
  headers: IncomingHttpHeaders
  trailers: NodeJS.Dict<string>
  errCode: string | undefined
  errMsg: string
}

let seq = 0

/**
 * An HTTP/1.1 request to bfe-ts for `host`; the error code comes from the recording module (the
 * path carries a sequence number so the record is found).
 */
function h1(
  host: string,
  path = '/',
  opts: { method?: string; headers?: Record<string, string> | string[]; body?: string } = {},
): Promise<Reply> {
  // a flat [name, value, ...] list is sent as is (repeated names, any case)
  const headers = Array.isArray(opts.headers)
    ? ['Host', host, ...opts.headers]
    : { host, ...opts.headers }
  const uri = `${path}${path.includes('?') ? '&' : '?'}n=${++seq}`
  return new Promise((resolveReply, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: bfe.port,
        path: uri,
        method: opts.method ?? 'GET',
        headers,
        agent: false,
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          body += c
        })
        res.on('end', () => {
          const rec = outcomes.get(uri)
          resolveReply({
            status: res.statusCode ?? 0,
            body,
            headers: res.headers,
            trailers: res.trailers,
            errCode: rec?.errCode,
            errMsg: rec?.errMsg ?? '',
          })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(opts.body)
  })
}

interface H2Reply {
  headers: http2.IncomingHttpHeaders
  body: string
  trailers: http2.IncomingHttpHeaders
}

/** A POST on an HTTP/2 client session; resolves with headers, body and trailers at stream end. */
function h2Call(
  s: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: string,
): Promise<H2Reply> {
  return new Promise((resolveCall, reject) => {
    const st = s.request({ ':method': 'POST', ...headers })
    let head: http2.IncomingHttpHeaders = {}
    let trailers: http2.IncomingHttpHeaders = {}
    let out = ''
    st.setEncoding('utf8')
    st.on('response', (h) => {
      head = h
    })
    st.on('trailers', (t) => {
      trailers = t
    })
    st.on('data', (c: string) => {
      out += c
    })
    st.on('end', () => resolveCall({ headers: head, body: out, trailers }))
    st.on('error', reject)
    st.end(body)
  })
}

/** An HTTP/2 session to bfe-ts's TLS port. */
function h2Session(servername: string): http2.ClientHttp2Session {
  const s = http2.connect(`https://127.0.0.1:${bfe.tlsPort}`, {
    rejectUnauthorized: false,
    servername,
  })
  s.on('error', () => {})
  return s
}

describe('https backends', () => {
  test('verified against the test CA with RSHost as SNI and name: 200', async () => {
    const r = await h1('good.test')
    assert.equal(r.status, 200, `${r.errCode} ${r.errMsg}`)
    assert.equal(r.body, 'secure good.test') // the client's Host is forwarded unchanged
    assert.equal(r.errCode, undefined)
    assert.equal(lastTls('secure')?.sni, 'backend.test')
  })

  test('without RSHost the backend address is verified (IP SAN), no SNI is sent', async () => {
    const r = await h1('byip.test')
    assert.equal(r.status, 200, `${r.errCode} ${r.errMsg}`)
    assert.equal(lastTls('secure')?.sni, false)
  })

  test('with a CA that did not sign the backend certificate: 502 BK_CONNECT_BACKEND', async () => {
    const r = await h1('badca.test')
    assert.equal(r.status, 502)
    assert.equal(r.errCode, 'BK_CONNECT_BACKEND')
  })

  test('with an RSHost the certificate does not name: 502 BK_CONNECT_BACKEND', async () => {
    const r = await h1('badname.test')
    assert.equal(r.status, 502)
    assert.equal(r.errCode, 'BK_CONNECT_BACKEND')
  })

  test('RSInsecureSkipVerify accepts the certificate whatever the CA list says', async () => {
    const r = await h1('skip.test')
    assert.equal(r.status, 200, `${r.errCode} ${r.errMsg}`)
  })

  test('mTLS: with BFECertFile and BFEKeyFile the backend accepts bfe-ts', async () => {
    const r = await h1('mtls.test')
    assert.equal(r.status, 200, `${r.errCode} ${r.errMsg}`)
    assert.equal(r.body, 'mutual')
    assert.equal(lastTls('mutual')?.clientCn, 'bfe-ts')
  })

  test('mTLS: without a client certificate a TLS 1.2 backend fails the handshake: 502 BK_CONNECT_BACKEND', async () => {
    const r = await h1('nomtls12.test')
    assert.equal(r.status, 502)
    assert.equal(r.errCode, 'BK_CONNECT_BACKEND', r.errMsg)
  })

  test('mTLS: without a client certificate a TLS 1.3 backend refuses after the handshake: 502', async () => {
    // TLS 1.3 ends the client's handshake before the server checks the certificate: the refusal
    // arrives while the response is awaited, as in BFE (BK_READ_RESP_HEADER), or as the alert.
    const r = await h1('nomtls.test')
    assert.equal(r.status, 502)
    assert.ok(
      r.errCode === 'BK_READ_RESP_HEADER' || r.errCode === 'BK_CONNECT_BACKEND',
      `${r.errCode} ${r.errMsg}`,
    )
  })

  test('a POST body reaches an https backend', async () => {
    const r = await h1('good.test', '/post', { method: 'POST', body: 'x'.repeat(100_000) })
    assert.equal(r.status, 200)
  })

  test('an HTTP/2 client POST reaches an HTTP/1.1 https backend and gets its answer', async () => {
    const s = h2Session('good.test')
    try {
      const r = await h2Call(s, { ':path': '/h2', ':authority': 'good.test' }, 'y'.repeat(70_000))
      assert.equal(r.headers[':status'], 200)
      assert.equal(r.body, 'secure good.test')
    } finally {
      s.destroy()
    }
  })

  test('Protocol http towards a TLS backend fails as a broken exchange, not a hang', async () => {
    const r = await h1('plain.test')
    assert.equal(r.status, 502)
    assert.ok(r.errCode?.startsWith('BK_'), r.errCode)
  })
})

describe('h2c backends (gRPC-style)', () => {
  const grpcHeaders = {
    'content-type': 'application/grpc',
    te: 'trailers',
  }

  test('HTTP/2 client: body and trailers (grpc-status, grpc-message) are relayed', async () => {
    const s = h2Session('grpc.test')
    try {
      const call = (path: string, body: string) =>
        h2Call(s, { ':path': path, ':authority': 'grpc.test', ...grpcHeaders }, body)
      const r = await call('/grpc.Echo/Say', 'hello')
      assert.equal(r.headers[':status'], 200)
      assert.equal(r.headers['content-type'], 'application/grpc')
      assert.equal(r.headers['x-proto'], 'h2c')
      assert.equal(r.body, 'echo:hello')
      assert.equal(r.trailers['grpc-status'], '0')
      assert.equal(r.trailers['grpc-message'], 'echo 5')
      const seen = h2cSeen.at(-1)
      assert.equal(seen?.[':authority'], 'grpc.test')
      assert.equal(seen?.['te'], 'trailers')
      assert.equal(seen?.['content-type'], 'application/grpc')

      // Trailers-Only: the status travels in the response header block
      const f = await call('/grpc.Echo/Fail', 'x')
      assert.equal(f.headers['grpc-status'], '5')
      assert.equal(f.headers['grpc-message'], 'not found')

      // concurrent calls on one client connection all complete
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, i) => call('/grpc.Echo/Say', `m${i}`)),
      )
      many.forEach((m, i) => {
        assert.equal(m.body, `echo:m${i}`)
        assert.equal(m.trailers['grpc-status'], '0')
      })
    } finally {
      s.destroy()
    }
  })

  test('HTTP/1.1 client that sent TE: trailers gets them as chunked trailers', async () => {
    const r = await h1('grpc.test', '/grpc.Echo/Say', {
      method: 'POST',
      headers: grpcHeaders,
      body: 'abc',
    })
    assert.equal(r.status, 200)
    assert.equal(r.headers['transfer-encoding'], 'chunked')
    assert.equal(r.body, 'echo:abc')
    assert.equal(r.trailers['grpc-status'], '0')
    assert.equal(r.trailers['grpc-message'], 'echo 3')
    assert.equal(h2cSeen.at(-1)?.['te'], 'trailers')
  })

  test('HTTP/1-only request fields are fitted to HTTP/2 (no crash, no refusal)', async () => {
    const r = await h1('grpc.test', '/fields', {
      headers: [
        'HTTP2-Settings',
        'AAMAAABkAARAAAAAAAIAAAAA',
        'Connection',
        'HTTP2-Settings',
        'Content-Type',
        'text/plain',
        'content-type',
        'text/x',
        'X-Many',
        'a',
        'x-many',
        'b',
        'TE',
        'gzip',
      ],
    })
    assert.equal(r.status, 200, `${r.errCode} ${r.errMsg}`)
    const seen = h2cSeen.at(-1)
    assert.equal(seen?.['http2-settings'], undefined)
    assert.equal(seen?.['te'], undefined)
    assert.equal(seen?.['content-type'], 'text/plain, text/x')
    assert.equal(seen?.['x-many'], 'a, b')
  })

  test('a GET through h2c is an ordinary request', async () => {
    const r = await h1('grpc.test', '/plain')
    assert.equal(r.status, 200)
    assert.equal(r.body, 'echo:')
    assert.equal(h2cSeen.at(-1)?.[':method'], 'GET')
  })
})

describe('health checks with the cluster TLS settings', () => {
  /** Polls with requests until `host` answers `status`. */
  async function untilStatus(host: string, status: number, timeoutMs = 3000): Promise<Reply> {
    const end = Date.now() + timeoutMs
    for (;;) {
      const r = await h1(host)
      if (r.status === status) return r
      if (Date.now() > end) assert.fail(`${host} still answers ${r.status}, not ${status}`)
      await new Promise((res) => setTimeout(res, 20))
    }
  }

  test('Schem https (RSHost as SNI, the cluster CA) marks the backend down, then up', async () => {
    await untilStatus('hc.test', 200)
    hcStatus = 503
    const down = await untilStatus('hc.test', 503)
    assert.equal(down.errCode, 'BK_NO_BACKEND')
    hcStatus = 200
    await untilStatus('hc.test', 200)
  })

  test('Schem tls with a CA that does not verify the backend keeps it down', async () => {
    const r = await untilStatus('tlsbad.test', 503)
    assert.equal(r.errCode, 'BK_NO_BACKEND')
  })
})

describe('bfe -t', () => {
  async function check(clusterConf: unknown): Promise<string> {
    const dir = writeConf({ clusterConf })
    try {
      const r = await run(process.execPath, [MAIN, '-t', '-c', dir.root])
      assert.equal(r.code, 1, r.stdout + r.stderr)
      return r.stdout + r.stderr
    } finally {
      dir.cleanup()
    }
  }

  test('a missing RSCAList file of an https cluster fails the test, naming file and field', async () => {
    const out = await check({
      Version: 't',
      Config: {
        c: { BackendConf: { Protocol: 'https' }, HTTPSConf: { RSCAList: ['no/such/ca.crt'] } },
      },
    })
    assert.match(
      out,
      /cluster_conf\.data: \/Config\/c\/HTTPSConf\/RSCAList\/0 file no\/such\/ca\.crt not found/,
    )
  })

  test('Protocol fcgi passes the test with a warning; its requests get 503 (D19)', async () => {
    const conf = clustersConf({
      c: {
        hosts: ['fcgi.test'],
        subs: { 'c.a': [{ Port: 9 }] },
        conf: { BackendConf: { Protocol: 'fcgi' } },
      },
    })
    const dir = writeConf(conf)
    try {
      const r = await run(process.execPath, [MAIN, '-t', '-c', dir.root])
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.match(
        r.stdout + r.stderr,
        /BackendConf\/Protocol is "fcgi": FastCGI backends are not supported/,
      )
    } finally {
      dir.cleanup()
    }
    const bfe = await startBfe(conf)
    try {
      const res = await get(`${bfe.url}/x`, { headers: { host: 'fcgi.test' } })
      assert.equal(res.status, 503)
    } finally {
      await bfe.close()
    }
  })
})
