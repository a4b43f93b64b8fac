// The PROXY protocol in front of both listeners (protocols.md §6): the header's source becomes the
// remote address (conditions, logs, balancing), its destination the VIP (vip_rule.data, TLS
// VipConf, req_vip_*); connections without a header are served as is; malformed, oversized, late
// or truncated headers close the connection, are counted, and reach no parser.
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import type { ProxyProtocolStateCounters } from '../../src/monitor/state-counters.js'
import { rawExchange } from '../helpers/client.js'
import { testPki } from '../helpers/conf.js'
import { curlStatus, curlTls, run } from '../helpers/exec.js'
import { type RunningBfe, startBfe, waitFor } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

/** What HandleAccept saw of each session. */
interface Seen {
  remoteAddr: string
  remotePort: number
  vip: string | undefined
  vipPort: number
  balancerAddr: string | undefined
  product: string
}
const sessions: Seen[] = []
const recorder: BfeModule = {
  name: 'mod_test_pp',
  init({ callbacks: cb }) {
    cb.addAcceptFilter(0, (ses) => {
      sessions.push({
        remoteAddr: ses.remoteAddr,
        remotePort: ses.remotePort,
        vip: ses.vip,
        vipPort: ses.vipPort,
        balancerAddr: ses.balancerAddr,
        product: ses.product,
      })
      return HandlerResult.GoOn
    })
  },
}

let bfe: RunningBfe
let plain: Upstream // cluster c_plain
let byCip: Upstream // cluster c_cip: client address 203.0.113.0/24
let byVip: Upstream // cluster c_vip: req_vip_in("192.0.2.20")
let local: Upstream // cluster c_local: curl's own header (VIP 127.0.0.1)
let vipCertCn = ''

before(async () => {
  ;[plain, byCip, byVip, local] = await Promise.all([
    startUpstream(),
    startUpstream(),
    startUpstream(),
    startUpstream(),
  ])
  const vipCert = testPki().server('pp-vip', { cn: 'vip.example', dns: ['vip.example'] })
  vipCertCn = 'vip.example'
  const backends = (u: Upstream) => ({ [`${u.port}.a`]: [{ Port: u.port }] })
  bfe = await startBfe(
    {
      server: [
        'Layer4LoadBalancer = PROXY',
        'ClientReadTimeout = 1',
        'MaxProxyHeaderBytes = 256',
        'Modules = mod_test_pp',
      ],
      hostRule: {
        Version: 't',
        DefaultProduct: null,
        Hosts: { plainTag: ['plain.test'], loopTag: ['loop.test'] },
        HostTags: { p: ['plainTag'], loopback: ['loopTag'] },
      },
      vipRule: {
        Version: 't',
        Vips: { p: ['192.0.2.10', '192.0.2.20', '2001:db8::10'], loopback: ['127.0.0.1'] },
      },
      routeRule: {
        Version: 't',
        ProductRule: {
          p: [
            { Cond: 'req_cip_range("203.0.113.0", "203.0.113.255")', ClusterName: 'c_cip' },
            { Cond: 'req_vip_in("192.0.2.20")', ClusterName: 'c_vip' },
            { Cond: 'default_t()', ClusterName: 'c_plain' },
          ],
          loopback: [{ Cond: 'ses_vip_range("127.0.0.1", "127.0.0.1")', ClusterName: 'c_local' }],
        },
      },
      clusterConf: {
        Version: 't',
        Config: { c_plain: {}, c_cip: {}, c_vip: {}, c_local: {} },
      },
      clusterTable: {
        c_plain: backends(plain),
        c_cip: backends(byCip),
        c_vip: backends(byVip),
        c_local: backends(local),
      },
      gslb: {
        c_plain: { [`${plain.port}.a`]: 1 },
        c_cip: { [`${byCip.port}.a`]: 1 },
        c_vip: { [`${byVip.port}.a`]: 1 },
        c_local: { [`${local.port}.a`]: 1 },
      },
      files: {
        'tls_conf/certs/vip.crt': vipCert.certPem,
        'tls_conf/certs/vip.key': vipCert.keyPem,
        'tls_conf/server_cert_conf.data': JSON.stringify({
          Version: 't',
          Config: {
            Default: 'default',
            CertConf: {
              default: {
                ServerCertFile: 'tls_conf/certs/default.crt',
                ServerKeyFile: 'tls_conf/certs/default.key',
              },
              vip: {
                ServerCertFile: 'tls_conf/certs/vip.crt',
                ServerKeyFile: 'tls_conf/certs/vip.key',
              },
            },
          },
        }),
      },
      tlsRule: {
        Version: 't',
        DefaultNextProtos: ['h2', 'http/1.1'],
        Config: { vipRule: { VipConf: ['192.0.2.20'], CertName: 'vip', NextProtos: ['http/1.1'] } },
      },
    },
    [recorder],
  )
})

after(async () => {
  await bfe?.close()
  await Promise.all([plain?.close(), byCip?.close(), byVip?.close(), local?.close()])
})

function counters(): ProxyProtocolStateCounters {
  const c = bfe.server.proxyProtocol?.counters
  assert.ok(c !== undefined)
  return { ...c }
}

function delta(before: ProxyProtocolStateCounters): Partial<ProxyProtocolStateCounters> {
  const now = counters()
  const out: Partial<Record<keyof ProxyProtocolStateCounters, number>> = {}
  for (const k of Object.keys(now) as (keyof ProxyProtocolStateCounters)[]) {
    const d = now[k] - before[k]
    if (d !== 0) out[k] = d
  }
  return out
}

const GET = (host: string) => `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`

function v2Header(src: number[], dst: number[], sport: number, dport: number, tlv = 0): Buffer {
  const b = Buffer.alloc(28 + tlv)
  Buffer.from('0d0a0d0a000d0a515549540a', 'hex').copy(b)
  b[12] = 0x21
  b[13] = 0x11
  b.writeUInt16BE(12 + tlv, 14)
  b.set(src, 16)
  b.set(dst, 20)
  b.writeUInt16BE(sport, 24)
  b.writeUInt16BE(dport, 26)
  if (tlv >= 3) {
    b[28] = 0x04 // PP2_TYPE_NOOP
    b.writeUInt16BE(tlv - 3, 29)
  }
  return b
}

test('v1 header: source is the client address (condition), destination the VIP (vip_rule)', async () => {
  const c0 = counters()
  sessions.length = 0
  const r = await rawExchange(
    bfe.port,
    `PROXY TCP4 203.0.113.7 192.0.2.10 40001 80\r\n${GET('unknown.test')}`,
  )
  assert.match(r.data, /^HTTP\/1\.1 200/)
  assert.ok(r.data.endsWith(`ok ${byCip.port}`), r.data)
  assert.deepEqual(sessions[0], {
    remoteAddr: '203.0.113.7',
    remotePort: 40001,
    vip: '192.0.2.10',
    vipPort: 80,
    balancerAddr: '127.0.0.1',
    product: 'p',
  })
  assert.deepEqual(delta(c0), { PROXY_MATCHED_V1_SIGNATURE: 1, PROXY_NORMAL_V1_HEADER: 1 })
})

test('v2 header with a TLV: the VIP routes through req_vip_in', async () => {
  const c0 = counters()
  sessions.length = 0
  const h = v2Header([198, 51, 100, 9], [192, 0, 2, 20], 40002, 80, 8)
  const r = await rawExchange(bfe.port, Buffer.concat([h, Buffer.from(GET('unknown.test'))]))
  assert.ok(r.data.endsWith(`ok ${byVip.port}`), r.data)
  assert.equal(sessions[0]?.remoteAddr, '198.51.100.9')
  assert.equal(sessions[0]?.vip, '192.0.2.20')
  assert.deepEqual(delta(c0), { PROXY_MATCHED_V2_SIGNATURE: 1, PROXY_NORMAL_V2_HEADER: 1 })
})

test('v1 TCP6 header', async () => {
  sessions.length = 0
  const r = await rawExchange(
    bfe.port,
    `PROXY TCP6 2001:db8::7 2001:db8::10 40003 80\r\n${GET('unknown.test')}`,
  )
  assert.ok(r.data.endsWith(`ok ${plain.port}`), r.data)
  assert.equal(sessions[0]?.remoteAddr, '2001:db8::7')
  assert.equal(sessions[0]?.vip, '2001:db8::10')
})

test('without a header the connection is served as is (the header is optional)', async () => {
  const c0 = counters()
  sessions.length = 0
  const r = await rawExchange(
    bfe.port,
    `POST / HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`,
  )
  assert.ok(r.data.endsWith(`ok ${plain.port}`), r.data)
  assert.equal(sessions[0]?.remoteAddr, '127.0.0.1')
  assert.equal(sessions[0]?.vip, undefined)
  assert.equal(sessions[0]?.balancerAddr, undefined)
  assert.deepEqual(delta(c0), { PROXY_ERR_NO_PROXY_PROTOCOL: 1 })
})

test('v1 UNKNOWN and v2 LOCAL keep the real addresses', async () => {
  sessions.length = 0
  const r1 = await rawExchange(bfe.port, `PROXY UNKNOWN\r\n${GET('plain.test')}`)
  assert.ok(r1.data.endsWith(`ok ${plain.port}`), r1.data)
  const local = Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex')
  const r2 = await rawExchange(bfe.port, Buffer.concat([local, Buffer.from(GET('plain.test'))]))
  assert.ok(r2.data.endsWith(`ok ${plain.port}`), r2.data)
  for (const s of sessions) {
    assert.equal(s.remoteAddr, '127.0.0.1')
    assert.equal(s.vip, undefined)
  }
})

test('curl --haproxy-protocol: VIP 127.0.0.1 finds the product and ses_vip_range routes', async () => {
  const url = `http://127.0.0.1:${bfe.port}/`
  const r = await run('curl', ['-sS', '--max-time', '5', '--haproxy-protocol', url])
  assert.equal(r.stdout, `ok ${local.port}`, r.stderr)
  // the same request without the header has no VIP, so no product: BFE's 500
  const r2 = await run('curl', [
    '-sS',
    '--max-time',
    '5',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    url,
  ])
  assert.equal(r2.stdout, '500')
})

test('malformed, oversized and truncated headers close the connection; nothing is forwarded', async () => {
  const seenBefore = plain.seen.length + byCip.seen.length + byVip.seen.length + local.seen.length
  const c0 = counters()
  const bad = await rawExchange(bfe.port, `PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n${GET('plain.test')}`)
  assert.deepEqual(bad, { data: '', closed: true })
  const v2big = v2Header([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, 300) // 328 bytes > MaxProxyHeaderBytes
  const big = await rawExchange(bfe.port, Buffer.concat([v2big, Buffer.from(GET('plain.test'))]))
  assert.deepEqual(big, { data: '', closed: true })
  const badCmd = v2Header([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)
  badCmd[12] = 0x2f
  const r3 = await rawExchange(bfe.port, Buffer.concat([badCmd, Buffer.from(GET('plain.test'))]))
  assert.deepEqual(r3, { data: '', closed: true })
  // truncated: the client half-closes in the middle of the header
  const truncated = await new Promise<boolean>((resolve) => {
    const s = connect(bfe.port, '127.0.0.1')
    s.on('error', () => {})
    s.on('close', () => resolve(true))
    s.end('PROXY TCP4 1.2.3.4 ')
  })
  assert.ok(truncated)
  await waitFor(() => counters().PROXY_ERR_READ_HEADER - c0.PROXY_ERR_READ_HEADER === 2)
  assert.deepEqual(delta(c0), {
    PROXY_MATCHED_V1_SIGNATURE: 2,
    PROXY_MATCHED_V2_SIGNATURE: 2,
    PROXY_ERR_INVALID_HEADER: 2,
    PROXY_ERR_READ_HEADER: 2,
  })
  const seenAfter = plain.seen.length + byCip.seen.length + byVip.seen.length + local.seen.length
  assert.equal(seenAfter, seenBefore)
})

test('a header that does not arrive within ClientReadTimeout closes the connection', async () => {
  const c0 = counters()
  const start = Date.now()
  const r = await rawExchange(bfe.port, 'PROXY TCP4 1.2.3.4', 4000)
  assert.deepEqual(r, { data: '', closed: true })
  const took = Date.now() - start
  assert.ok(took >= 900 && took < 3000, `closed after ${took} ms`)
  assert.deepEqual(delta(c0), { PROXY_MATCHED_V1_SIGNATURE: 1, PROXY_ERR_READ_HEADER: 1 })
})

/** Writes `header` on a TCP connection, then speaks TLS over it. Resolves with the response. */
function tlsAfterHeader(
  header: Buffer | string,
  servername: string,
): Promise<{ cn: string; body: string }> {
  return new Promise((resolve, reject) => {
    const raw: Socket = connect(bfe.tlsPort, '127.0.0.1')
    raw.on('error', reject)
    raw.on('connect', () => {
      raw.write(header)
      const t = tlsConnect({ socket: raw, servername, rejectUnauthorized: false })
      t.on('error', reject)
      let body = ''
      t.on('secureConnect', () => {
        const cert = t.getPeerCertificate()
        const cn = typeof cert.subject?.CN === 'string' ? cert.subject.CN : ''
        t.write(GET(servername))
        t.on('data', (d: Buffer) => {
          body += d.toString()
        })
        t.on('end', () => resolve({ cn, body }))
      })
    })
  })
}

test('HTTPS: the header comes before TLS; the VIP selects the TLS rule and its certificate', async () => {
  sessions.length = 0
  const withVip = await tlsAfterHeader(
    v2Header([203, 0, 113, 8], [192, 0, 2, 20], 1, 443),
    'x.test',
  )
  assert.equal(withVip.cn, vipCertCn)
  assert.ok(withVip.body.endsWith(`ok ${byCip.port}`), withVip.body)
  const other = await tlsAfterHeader('PROXY TCP4 198.51.100.1 192.0.2.10 1 443\r\n', 'x.test')
  assert.equal(other.cn, 'localhost')
  assert.ok(other.body.endsWith(`ok ${plain.port}`), other.body)
  const none = await tlsAfterHeader(Buffer.alloc(0), 'plain.test')
  assert.equal(none.cn, 'localhost')
  assert.equal(sessions.length, 3)
  assert.equal(sessions[0]?.vip, '192.0.2.20')
  assert.equal(sessions[2]?.vip, undefined)
})

test('HTTPS: a malformed header never reaches the TLS stage', async () => {
  const tls0 = { ...(bfe.server.tls?.counters ?? {}) }
  const r = await rawExchange(bfe.tlsPort, Buffer.from('PROXY TCP9 x\r\n\x16\x03\x01'))
  assert.deepEqual(r, { data: '', closed: true })
  assert.equal(bfe.server.tls?.counters.TLS_HANDSHAKE_ALL, tls0.TLS_HANDSHAKE_ALL)
})

test('a header split over several packets, then the request later', async () => {
  sessions.length = 0
  const body = await new Promise<string>((resolve) => {
    const s = connect(bfe.port, '127.0.0.1')
    s.on('error', () => {})
    let data = ''
    s.on('data', (d: Buffer) => {
      data += d.toString()
    })
    s.on('close', () => resolve(data))
    const parts = ['PR', 'OXY TCP4 203.0.113.', '9 192.0.2.10 1 80\r', '\n']
    let i = 0
    const next = (): void => {
      if (i < parts.length) {
        s.write(parts[i++] as string)
        setTimeout(next, 20)
      } else s.write(GET('x.test'))
    }
    next()
  })
  assert.ok(body.endsWith(`ok ${byCip.port}`), body)
  assert.equal(sessions[0]?.remoteAddr, '203.0.113.9')
})

test('curl --haproxy-protocol over HTTPS with HTTP/2: the header, then TLS, then h2', async () => {
  sessions.length = 0
  const r = await curlTls('localhost', bfe.tlsPort, '/', ['--http2', '--haproxy-protocol'])
  assert.deepEqual(curlStatus(r), ['200', '2'], r.stdout + r.stderr)
  assert.ok(r.stdout.startsWith(`ok ${local.port}`), r.stdout)
  assert.equal(sessions[0]?.vip, '127.0.0.1')
})
