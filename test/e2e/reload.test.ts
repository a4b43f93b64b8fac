import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { Agent, request } from 'undici'
import { BfeConfError } from '../../src/basic/errors.js'
import { HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import type { PreparedReload } from '../../src/monitor/types.js'
import type { BfeServer } from '../../src/server/server.js'
import { get } from '../helpers/client.js'
import { clustersConf, simpleConf, type TestConf, testPki } from '../helpers/conf.js'
import { sClient } from '../helpers/exec.js'
import { type RunningBfe, startBfe, waitFor } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const tmp = mkdtempSync(join(tmpdir(), 'bfe-reload-'))
let dirs = 0

/** A `path=` directory holding `files` (objects are written as JSON). */
function dataDir(files: Record<string, unknown>): string {
  const dir = join(tmp, `d${++dirs}`)
  mkdirSync(dir)
  for (const [name, v] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof v === 'string' ? v : JSON.stringify(v))
  }
  return dir
}

/** Runs the named reload of `server` in two phases: prepare, then commit (or abort). */
async function reload(
  server: BfeServer,
  name: string,
  query: Record<string, string> = {},
  then: 'commit' | 'abort' = 'commit',
): Promise<string | undefined> {
  const prepare = server.reloadPreparers().get(name)
  assert.ok(prepare !== undefined, `no reload ${name}`)
  const p: PreparedReload = await prepare(new URLSearchParams(query))
  if (then === 'abort') {
    p.abort()
    return undefined
  }
  return p.commit()
}

/** The BfeConfError a refused reload throws. */
async function refused(
  server: BfeServer,
  name: string,
  query: Record<string, string>,
): Promise<BfeConfError> {
  try {
    await reload(server, name, query)
  } catch (err) {
    assert.ok(err instanceof BfeConfError, `not a BfeConfError: ${String(err)}`)
    return err
  }
  assert.fail(`reload ${name} was not refused`)
}

after(() => rmSync(tmp, { recursive: true, force: true }))

describe('server_data_conf and gslb_data_conf', () => {
  let a: Upstream
  let b: Upstream
  let slow: Upstream
  let bfe: RunningBfe
  /** Requests to `/slow` wait for this. */
  let release: () => void = () => {}

  /** host `x.test` → cluster `target`; clusters ca (upstream a), cb (upstream b), cs (slow). */
  function routing(target: string, extraClusters: Record<string, unknown> = {}) {
    return {
      'host_rule.data': {
        Version: `to-${target}`,
        DefaultProduct: null,
        Hosts: { xTag: ['x.test'], sTag: ['s.test'], bTag: ['b.test'] },
        HostTags: { x: ['xTag'], s: ['sTag'], b: ['bTag'] },
      },
      'vip_rule.data': { Version: 't', Vips: {} },
      'route_rule.data': {
        Version: `to-${target}`,
        ProductRule: {
          x: [{ Cond: 'default_t()', ClusterName: target }],
          s: [{ Cond: 'default_t()', ClusterName: 'cs' }],
          b: [{ Cond: 'default_t()', ClusterName: 'cb' }],
        },
      },
      'cluster_conf.data': {
        Version: 't',
        Config: { ca: {}, cb: {}, cs: {}, ...extraClusters },
      },
    }
  }

  function balancing(clusters: Record<string, number[]>) {
    const table: Record<string, unknown> = {}
    const gslb: Record<string, unknown> = {}
    for (const [name, ports] of Object.entries(clusters)) {
      table[name] = {
        [`${name}.a`]: ports.map((Port, i) => ({
          Name: `${name}-${i}`,
          Addr: '127.0.0.1',
          Port,
          Weight: 1,
        })),
      }
      gslb[name] = { [`${name}.a`]: 100 }
    }
    return {
      'cluster_table.data': { Version: 't', Config: table },
      'gslb.data': { Hostname: 'h', Ts: '1', Clusters: gslb },
    }
  }

  function conf(): TestConf {
    return clustersConf({
      ca: { hosts: ['x.test'], subs: { 'ca.a': [{ Port: a.port }] } },
      cb: { hosts: ['b.test'], subs: { 'cb.a': [{ Port: b.port }] } },
      cs: { hosts: ['s.test'], subs: { 'cs.a': [{ Port: slow.port }] } },
    })
  }

  before(async () => {
    a = await startUpstream((_req, res) => res.end('from a'))
    b = await startUpstream((_req, res) => res.end('from b'))
    slow = await startUpstream((req, res) => {
      req.resume()
      const prev = release
      release = () => {
        prev()
        res.end('slow done')
      }
    })
  })
  after(async () => {
    release()
    await Promise.all([a.close(), b.close(), slow.close()])
  })

  const x = () => get(`${bfe.url}/`, { headers: { host: 'x.test' } })

  test('a routing reload changes routing for new requests; refused files change nothing', async () => {
    bfe = await startBfe(conf())
    try {
      assert.equal((await x()).body, 'from a')
      assert.equal(
        await reload(bfe.server, 'server_data_conf', { path: dataDir(routing('cb')) }),
        undefined,
      )
      assert.equal((await x()).body, 'from b')

      // bad JSON
      const bad = routing('ca') as Record<string, unknown>
      bad['route_rule.data'] = '{"Version": "t", "ProductRule": {'
      let e = await refused(bfe.server, 'server_data_conf', { path: dataDir(bad) })
      assert.match(e.file, /route_rule\.data$/)
      // bad condition: file and the rule's Cond pointer
      const badCond = routing('ca')
      badCond['route_rule.data'].ProductRule.x = [
        { Cond: 'req_path_prefix_in("/a", false) &&', ClusterName: 'ca' },
      ]
      e = await refused(bfe.server, 'server_data_conf', { path: dataDir(badCond) })
      assert.match(e.file, /route_rule\.data$/)
      assert.match(e.field, /ProductRule\/x\/0\/Cond/)
      // a cluster that cluster_conf.data does not have
      const unknown = routing('ca')
      unknown['route_rule.data'].ProductRule.x = [{ Cond: 'default_t()', ClusterName: 'nope' }]
      e = await refused(bfe.server, 'server_data_conf', { path: dataDir(unknown) })
      assert.match(e.file, /route_rule\.data$/)
      assert.match(e.field, /ProductRule\/x\/0\/ClusterName/)
      assert.match(e.message, /cluster "nope" is not in/)
      // a missing file
      e = await refused(bfe.server, 'server_data_conf', { path: join(tmp, 'missing') })
      assert.match(e.message, /cannot be read/)
      assert.equal((await x()).body, 'from b', 'the old routing keeps serving')

      // abort: checked, then dropped
      await reload(bfe.server, 'server_data_conf', { path: dataDir(routing('ca')) }, 'abort')
      assert.equal((await x()).body, 'from b')

      // no path: the configured files (rewritten in place)
      const files = routing('ca')
      for (const [name, v] of Object.entries(files)) {
        writeFileSync(join(bfe.confRoot, 'server_data_conf', name), JSON.stringify(v))
      }
      await reload(bfe.server, 'server_data_conf')
      assert.equal((await x()).body, 'from a')
    } finally {
      await bfe.close()
    }
  })

  test('a balancing reload switches backends; broken data is refused', async () => {
    bfe = await startBfe(conf())
    try {
      assert.equal((await x()).body, 'from a')
      await reload(bfe.server, 'gslb_data_conf', {
        path: dataDir(balancing({ ca: [b.port], cb: [b.port], cs: [slow.port] })),
      })
      assert.equal((await x()).body, 'from b')
      assert.equal(bfe.server.runtime.balTable.versionInfo().GslbConfTimeStamp, '1')

      const missing = balancing({ ca: [a.port], cb: [b.port], cs: [slow.port] })
      ;(missing['gslb.data'].Clusters as Record<string, unknown>)['other'] = { 'other.a': 1 }
      const e = await refused(bfe.server, 'gslb_data_conf', { path: dataDir(missing) })
      assert.match(e.file, /gslb\.data$/)
      assert.equal(e.field, '/Clusters/other')
      const badJson = dataDir({ 'cluster_table.data': '{', 'gslb.data': '{}' })
      assert.match(
        (await refused(bfe.server, 'gslb_data_conf', { path: badJson })).file,
        /cluster_table\.data$/,
      )
      assert.equal((await x()).body, 'from b')

      await reload(
        bfe.server,
        'gslb_data_conf',
        { path: dataDir(balancing({ ca: [a.port], cb: [b.port], cs: [slow.port] })) },
        'abort',
      )
      assert.equal((await x()).body, 'from b')
    } finally {
      await bfe.close()
    }
  })

  test('a request in flight finishes on its old cluster; then the pools of what is gone close', async () => {
    bfe = await startBfe(conf())
    try {
      // warm pools for ca (x.test) and cs (s.test)
      assert.equal((await x()).body, 'from a')
      const seen = slow.seen.length
      const inFlight = get(`${bfe.url}/slow`, { headers: { host: 's.test' } })
      await waitFor(() => slow.seen.length > seen, 2000, 'the slow request upstream')
      assert.equal(bfe.server.pools.size, 2)

      // s.test now goes to cb, and cluster cs leaves both routing and balancing
      const r = routing('cb')
      r['route_rule.data'].ProductRule.s = [{ Cond: 'default_t()', ClusterName: 'cb' }]
      r['cluster_conf.data'].Config = { ca: {}, cb: {} } as never
      await reload(bfe.server, 'server_data_conf', { path: dataDir(r) })
      await reload(bfe.server, 'gslb_data_conf', {
        path: dataDir(balancing({ ca: [a.port], cb: [b.port] })),
      })
      assert.equal(bfe.server.runtime.balTable.lookup('cs'), undefined)
      assert.equal((await get(`${bfe.url}/`, { headers: { host: 's.test' } })).body, 'from b')

      release()
      const done = await inFlight
      assert.equal(done.status, 200)
      assert.equal(done.body, 'slow done')
      // cs's pool was closed by the reloads once its request was done: its connection ends
      await waitFor(
        () => [...slow.sockets].every((s) => s.destroyed),
        2000,
        'the connection to the removed cluster to close',
      )
      assert.equal(bfe.server.pools.size, 2) // ca and cb
    } finally {
      await bfe.close()
    }
  })

  test('a request keeps the snapshot it started with, even for a cluster the reload removed', async () => {
    // HandleBeforeLocation holds `/gated` until the test lets it go
    let open: () => void = () => {}
    const gate: BfeModule = {
      name: 'mod_gate',
      init({ callbacks: cb }) {
        cb.addRequestFilter(2, (req) =>
          req.rawUri === '/gated'
            ? new Promise((resolve) => {
                open = () => resolve(HandlerResult.GoOn)
              })
            : HandlerResult.GoOn,
        )
      },
    }
    bfe = await startBfe({ ...conf(), server: ['Modules = mod_gate'] }, [gate])
    try {
      let held = false
      const gated = get(`${bfe.url}/gated`, { headers: { host: 'x.test' } })
      const prev = open
      await waitFor(() => open !== prev || held, 2000, 'the gated request')
      held = true
      // x.test moves to cb; cluster ca leaves routing and balancing; its pool is closed
      await x()
      const r = routing('cb')
      r['cluster_conf.data'].Config = { cb: {}, cs: {} } as never
      await reload(bfe.server, 'server_data_conf', { path: dataDir(r) })
      await reload(bfe.server, 'gslb_data_conf', {
        path: dataDir(balancing({ cb: [b.port], cs: [slow.port] })),
      })
      assert.equal((await x()).body, 'from b')
      open()
      const res = await gated
      assert.equal(res.status, 200)
      assert.equal(res.body, 'from a', 'routed and balanced with the tables it started with')
      // it went through a pool of its own, closed after it
      await waitFor(() => bfe.server.pools.orphanCount === 0, 2000, 'the orphan pool to close')
      assert.equal(bfe.server.pools.size, 1) // cb
    } finally {
      await bfe.close()
    }
  })

  test('50 reloads alternating two routing and balancing configurations under traffic: no failed request', async () => {
    bfe = await startBfe(conf())
    const agent = new Agent({ connections: 4, pipelining: 1 })
    try {
      const confA = {
        routing: dataDir(routing('ca')),
        balancing: dataDir(balancing({ ca: [a.port], cb: [b.port], cs: [slow.port] })),
      }
      const confB = {
        routing: dataDir(routing('cb')),
        balancing: dataDir(balancing({ ca: [b.port], cb: [a.port, b.port], cs: [slow.port] })),
      }
      let stop = false
      let ok = 0
      const failures: string[] = []
      const client = async () => {
        while (!stop) {
          try {
            const r = await request(`${bfe.url}/`, {
              headers: { host: 'x.test' },
              dispatcher: agent,
            })
            const body = await r.body.text()
            if (r.statusCode === 200 && (body === 'from a' || body === 'from b')) ok++
            else failures.push(`${r.statusCode} ${body}`)
          } catch (err) {
            failures.push(String(err))
          }
        }
      }
      const clients = [client(), client(), client(), client()]
      for (let i = 0; i < 50; i++) {
        const c = i % 2 === 0 ? confB : confA
        await reload(bfe.server, 'server_data_conf', { path: c.routing })
        await reload(bfe.server, 'gslb_data_conf', { path: c.balancing })
        await new Promise((r) => setTimeout(r, 5))
      }
      stop = true
      await Promise.all(clients)
      assert.deepEqual(failures, [])
      assert.ok(ok >= 50, `only ${ok} requests`)
      assert.ok(bfe.server.pools.size <= 3, `${bfe.server.pools.size} pools left`)
    } finally {
      await agent.close()
      await bfe.close()
    }
  })

  test('changed transport settings recreate the pool; unchanged ones keep their connections', async () => {
    bfe = await startBfe(conf())
    try {
      const aBefore = a.sockets.size
      await x()
      await x()
      assert.equal(a.sockets.size, aBefore + 1, 'keep-alive to a')
      await get(`${bfe.url}/`, { headers: { host: 'b.test' } })
      const bSockets = b.sockets.size
      // same settings for ca (a new routing snapshot): the warm connection is kept
      await reload(bfe.server, 'server_data_conf', { path: dataDir(routing('ca')) })
      await x()
      assert.equal(a.sockets.size, aBefore + 1)
      // ca's TimeoutConnSrv changes: a new pool, a new connection
      const r = routing('ca')
      r['cluster_conf.data'].Config = {
        ca: { BackendConf: { TimeoutConnSrv: 1500 } },
        cb: {},
        cs: {},
      } as never
      await reload(bfe.server, 'server_data_conf', { path: dataDir(r) })
      await x()
      assert.equal(a.sockets.size, aBefore + 2)
      await get(`${bfe.url}/`, { headers: { host: 'b.test' } })
      assert.equal(b.sockets.size, bSockets, 'cb kept its pool and its connection')
    } finally {
      await bfe.close()
    }
  })

  test('backend state survives both reloads for an unchanged addr:port', async () => {
    bfe = await startBfe(conf())
    try {
      const bal = bfe.server.runtime.balTable.lookup('ca')
      assert.ok(bal !== undefined)
      const backend = bal.subClusters[0]?.backends[0]
      assert.ok(backend !== undefined)
      backend.failNum = 2
      await reload(bfe.server, 'server_data_conf', { path: dataDir(routing('ca')) })
      await reload(bfe.server, 'gslb_data_conf', {
        path: dataDir(balancing({ ca: [a.port, b.port], cb: [b.port], cs: [slow.port] })),
      })
      const after = bfe.server.runtime.balTable.lookup('ca')
      assert.equal(after, bal)
      assert.equal(after?.subClusters[0]?.backends[0], backend)
      assert.equal(backend.failNum, 2)
      assert.equal(after?.subClusters[0]?.backends.length, 2)
    } finally {
      await bfe.close()
    }
  })
})

describe('name_conf', () => {
  test('reloads the configured file or path=; a broken file is refused', async () => {
    const up = await startUpstream()
    const nameFile = (v: string) =>
      JSON.stringify({ Version: v, Config: { svc: [{ Host: '127.0.0.1', Port: 80, Weight: 1 }] } })
    const bfe = await startBfe(
      simpleConf([up.port], {
        server: ['NameConf = server_data_conf/name_conf.data'],
        files: { 'server_data_conf/name_conf.data': nameFile('v1') },
      }),
    )
    try {
      assert.equal(bfe.server.nameConf?.Version, 'v1')
      const other = join(dataDir({ 'x.data': nameFile('v2') }), 'x.data')
      await reload(bfe.server, 'name_conf', { path: other })
      assert.equal(bfe.server.nameConf?.Version, 'v2')
      await reload(bfe.server, 'name_conf')
      assert.equal(bfe.server.nameConf?.Version, 'v1')
      const broken = join(
        dataDir({ 'n.data': JSON.stringify({ Version: 'v3', Config: { svc: [{ Port: 1 }] } }) }),
        'n.data',
      )
      const e = await refused(bfe.server, 'name_conf', { path: broken })
      assert.equal(e.file, broken)
      assert.match(e.field, /\/Config\/svc\/0\/Host/)
      assert.equal(bfe.server.nameConf?.Version, 'v1')
    } finally {
      await bfe.close()
      await up.close()
    }
  })
})

describe('tls_conf and tls_session_ticket_key', () => {
  let up: Upstream
  before(async () => {
    up = await startUpstream()
  })
  after(() => up.close())

  /** Certificate CN and ALPN result of one handshake with SNI localhost. */
  function handshake(port: number): Promise<{ cn: string; alpn: string | false }> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ALPNProtocols: ['h2', 'http/1.1'],
        rejectUnauthorized: false,
      })
      s.on('error', reject)
      s.on('secureConnect', () => {
        const cn = s.getPeerCertificate().subject?.CN
        resolve({ cn: typeof cn === 'string' ? cn : String(cn), alpn: s.alpnProtocol ?? false })
        s.destroy()
      })
    })
  }

  /** The TLS data files of a `path=` dir with `cert` as the default certificate. */
  function tlsDir(certFile: string, keyFile: string, protos = ['h2', 'http/1.1']): string {
    return dataDir({
      'server_cert_conf.data': {
        Version: 'reloaded',
        Config: {
          Default: 'main',
          CertConf: { main: { ServerCertFile: certFile, ServerKeyFile: keyFile } },
        },
      },
      'tls_rule_conf.data': { Version: 'reloaded', DefaultNextProtos: protos, Config: {} },
    })
  }

  test('a tls_conf reload changes the certificate served; enable=-h2 stops offering h2', async () => {
    const bfe = await startBfe(simpleConf([up.port]))
    try {
      const first = await handshake(bfe.tlsPort)
      assert.equal(first.cn, 'localhost')
      assert.equal(first.alpn, 'h2')

      const cert = testPki().server('reloaded', { cn: 'reloaded.test', dns: ['localhost'] })
      await reload(bfe.server, 'tls_conf', { path: tlsDir(cert.certFile, cert.keyFile) })
      assert.deepEqual(await handshake(bfe.tlsPort), { cn: 'reloaded.test', alpn: 'h2' })

      await reload(bfe.server, 'tls_conf', {
        path: tlsDir(cert.certFile, cert.keyFile),
        enable: '-h2',
      })
      assert.deepEqual(await handshake(bfe.tlsPort), { cn: 'reloaded.test', alpn: 'http/1.1' })
      // spdy switches are accepted (SPDY is never offered)
      await reload(bfe.server, 'tls_conf', {
        path: tlsDir(cert.certFile, cert.keyFile),
        enable: '-spdy,+spdy',
      })
      assert.equal((await handshake(bfe.tlsPort)).alpn, 'http/1.1')

      // a refused file: the certificate stays, but enable= takes effect anyway
      const broken = dataDir({
        'server_cert_conf.data': {
          Version: 'x',
          Config: {
            Default: 'main',
            CertConf: {
              main: { ServerCertFile: join(tmp, 'no.crt'), ServerKeyFile: cert.keyFile },
            },
          },
        },
        'tls_rule_conf.data': { Version: 'x', DefaultNextProtos: ['h2', 'http/1.1'], Config: {} },
      })
      const e = await refused(bfe.server, 'tls_conf', { path: broken, enable: '+h2' })
      assert.match(e.file, /server_cert_conf\.data$/)
      assert.match(e.field, /ServerCertFile/)
      assert.deepEqual(await handshake(bfe.tlsPort), { cn: 'reloaded.test', alpn: 'h2' })

      // abort (another worker refused): files dropped, enable= applied
      await reload(bfe.server, 'tls_conf', { enable: '-h2' }, 'abort')
      assert.deepEqual(await handshake(bfe.tlsPort), { cn: 'reloaded.test', alpn: 'http/1.1' })

      // no path: the configured files again (default certificate), h2 still off
      await reload(bfe.server, 'tls_conf')
      assert.deepEqual(await handshake(bfe.tlsPort), { cn: 'localhost', alpn: 'http/1.1' })
      await reload(bfe.server, 'tls_conf', { enable: 'h2' })
      assert.equal((await handshake(bfe.tlsPort)).alpn, 'h2')
    } finally {
      await bfe.close()
    }
  })

  /** openssl s_client with TLS `v`, saving or offering a session: "New" or "Reused". */
  async function resume(
    port: number,
    v: string,
    session: { in?: string; out?: string },
  ): Promise<string> {
    const r = await sClient(
      port,
      [
        '-servername',
        'localhost',
        v,
        ...(session.in === undefined ? [] : ['-sess_in', session.in]),
        ...(session.out === undefined ? [] : ['-sess_out', session.out]),
      ],
      'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n',
    )
    assert.match(r.stdout, /HTTP\/1\.1 200/, r.stdout)
    const m = /^(New|Reused), /m.exec(r.stdout)
    assert.ok(m !== null, `no handshake:\n${r.stdout}\n${r.stderr}`)
    return m[1] ?? ''
  }

  for (const v of ['-tls1_2', '-tls1_3']) {
    test(`${v}: a ticket key reload: old tickets no longer resume, new ones do`, async () => {
      const keyFile = 'tls_conf/session_ticket_key.data'
      const keyJson = (k: string) => JSON.stringify({ Version: 't', SessionTicketKey: k })
      const bfe = await startBfe(
        simpleConf([up.port], {
          extraBfeConf: '[SessionTicket]\nSessionTicketsDisabled = false\n',
          files: { [keyFile]: keyJson(randomBytes(48).toString('hex')) },
        }),
      )
      try {
        const s1 = join(tmp, `sess1${v}.pem`)
        assert.equal(await resume(bfe.tlsPort, v, { out: s1 }), 'New')
        assert.equal(await resume(bfe.tlsPort, v, { in: s1 }), 'Reused')

        // a broken key file is refused; the key in force stays
        writeFileSync(join(bfe.confRoot, keyFile), keyJson('abcd'))
        const e = await refused(bfe.server, 'tls_session_ticket_key', {})
        assert.match(e.file, /session_ticket_key\.data$/)
        assert.equal(e.field, '/SessionTicketKey')
        assert.equal(await resume(bfe.tlsPort, v, { in: s1 }), 'Reused')

        writeFileSync(join(bfe.confRoot, keyFile), keyJson(randomBytes(48).toString('hex')))
        await reload(bfe.server, 'tls_session_ticket_key')
        assert.equal(await resume(bfe.tlsPort, v, { in: s1 }), 'New')
        const s2 = join(tmp, `sess2${v}.pem`)
        assert.equal(await resume(bfe.tlsPort, v, { out: s2 }), 'New')
        assert.equal(await resume(bfe.tlsPort, v, { in: s2 }), 'Reused')
        // a tls_conf reload keeps the key in force (it does not re-read the key file)
        writeFileSync(join(bfe.confRoot, keyFile), keyJson(randomBytes(48).toString('hex')))
        await reload(bfe.server, 'tls_conf')
        assert.equal(await resume(bfe.tlsPort, v, { in: s2 }), 'Reused')
      } finally {
        await bfe.close()
      }
    })
  }

  test('tickets disabled: the ticket key reload is a no-op', async () => {
    const bfe = await startBfe(simpleConf([up.port]))
    try {
      // no key file exists at all: nothing is read
      assert.equal(await reload(bfe.server, 'tls_session_ticket_key'), undefined)
    } finally {
      await bfe.close()
    }
  })
})

describe('module reloads', () => {
  /** A module answering every request with its table's text; reload reads `path=`. */
  function tableModule(): BfeModule {
    let table = 'v1'
    return {
      name: 'mod_table',
      init({ callbacks: cb, web }) {
        cb.addResponseFilter(6, (_req, res) => {
          res?.headers.set('x-table', table)
          return HandlerResult.GoOn
        })
        web.registerReload('mod_table', (query) => {
          const file = query.get('path') ?? ''
          const text = readFileSync(file, 'utf8').trim()
          if (!/^v\d+$/.test(text)) throw new BfeConfError(file, '', `bad table "${text}"`)
          return {
            commit: () => {
              table = text
              return text
            },
            abort: () => {},
          }
        })
      },
    }
  }

  test('a module reload takes part in the two phases', async () => {
    const up = await startUpstream()
    const bfe = await startBfe(simpleConf([up.port], { server: ['Modules = mod_table'] }), [
      tableModule(),
    ])
    try {
      const names = [...bfe.server.reloadPreparers().keys()]
      assert.deepEqual(names, [
        'server_data_conf',
        'gslb_data_conf',
        'name_conf',
        'tls_conf',
        'tls_session_ticket_key',
        'mod_table',
      ])
      const tableOf = async () => (await get(`${bfe.url}/`)).headers['x-table']
      assert.equal(await tableOf(), 'v1')
      const file = (t: string) => join(dataDir({ 't.txt': t }), 't.txt')
      await reload(bfe.server, 'mod_table', { path: file('v2') }, 'abort')
      assert.equal(await tableOf(), 'v1')
      assert.equal(await reload(bfe.server, 'mod_table', { path: file('v2') }), 'v2')
      assert.equal(await tableOf(), 'v2')
      const e = await refused(bfe.server, 'mod_table', { path: file('nope') })
      assert.match(e.message, /bad table "nope"/)
      assert.equal(await tableOf(), 'v2')
    } finally {
      await bfe.close()
      await up.close()
    }
  })

  test('a module cannot register a core reload name', async () => {
    const up = await startUpstream()
    try {
      await assert.rejects(
        startBfe(simpleConf([up.port], { server: ['Modules = mod_bad'] }), [
          {
            name: 'mod_bad',
            init({ web }) {
              web.registerReload('tls_conf', () => ({ commit: () => undefined, abort: () => {} }))
            },
          },
        ]),
        /reload handler tls_conf is a reload of the server itself/,
      )
    } finally {
      await up.close()
    }
  })
})
