import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { after, test } from 'node:test'
import tls from 'node:tls'
import { clusterConf, gslbData } from '../../test/helpers/balance.js'
import { TestPki } from '../../test/helpers/certs.js'
import { waitFor } from '../../test/helpers/server.js'
import type { Backend } from '../balance/backend.js'
import { BalTable } from '../balance/bal-table.js'
import { onBackendFailure } from '../balance/health.js'
import { socketHealthProber } from './health-probe.js'

type Patch = NonNullable<Parameters<typeof clusterConf>[1]>

const tables: BalTable[] = []
after(() => {
  for (const t of tables) t.stop()
})

function oneBackend(port: number, patch: Patch = {}, https?: { insecure: boolean }): Backend {
  const conf = clusterConf('web', patch)
  if (https !== undefined) conf.HTTPSConf.RSInsecureSkipVerify = https.insecure
  const t = new BalTable(
    gslbData({ web: { weights: { s: 1 }, table: { s: [['b', '127.0.0.1', port, 1]] } } }),
    new Map([['web', conf]]),
    { prober: socketHealthProber },
  )
  tables.push(t)
  return t.lookup('web')!.subClusters[0]!.backends[0]!
}

function listen(server: net.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      const a = server.address()
      resolve(typeof a === 'object' && a !== null ? a.port : 0)
    })
  })
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if ('closeAllConnections' in server && typeof server.closeAllConnections === 'function') {
      server.closeAllConnections()
    }
    server.close(() => resolve())
  })
}

test('http checker: down after FailNum, back up when the check passes (Host, Accept, status)', async () => {
  let healthy = false
  const seen: { host: string | undefined; accept: string | undefined; url: string | undefined }[] =
    []
  const server = http.createServer((req, res) => {
    seen.push({ host: req.headers.host, accept: req.headers.accept, url: req.url })
    res.statusCode = healthy ? 200 : 302
    res.setHeader('Location', '/elsewhere')
    res.end()
  })
  const port = await listen(server)
  try {
    const b = oneBackend(port, {
      CheckConf: { FailNum: 2, SuccNum: 2, CheckInterval: 20, Uri: '/ping', StatusCode: 200 },
    })
    onBackendFailure(b)
    assert.equal(b.available, true)
    onBackendFailure(b)
    assert.equal(b.available, false)
    await waitFor(() => seen.length >= 2, 1500)
    assert.equal(b.available, false) // 302 is not 200 and is not followed
    assert.deepEqual(seen[0], { host: `127.0.0.1:${port}`, accept: '*/*', url: '/ping' })
    healthy = true
    await waitFor(() => b.available, 1500)
    assert.equal(b.restarted, true)
    assert.equal(b.failNum, 0)
    assert.equal(b.checking, false)
    const n = seen.length
    await new Promise((r) => setTimeout(r, 60))
    assert.equal(seen.length, n) // the checker stopped
  } finally {
    await close(server)
  }
})

test('http checker: Host with a port replaces the backend port', async () => {
  let hits = 0
  let host: string | undefined
  const server = http.createServer((req, res) => {
    hits++
    host = req.headers.host
    res.end('ok')
  })
  const port = await listen(server)
  try {
    // the backend port is wrong; the check goes to the port in CheckConf.Host
    const b = oneBackend(1, {
      CheckConf: { FailNum: 1, CheckInterval: 20, Host: `check.example:${port}` },
    })
    onBackendFailure(b)
    await waitFor(() => b.available, 1500)
    assert.equal(hits, 1)
    assert.equal(host, `check.example:${port}`)
  } finally {
    await close(server)
  }
})

test('tcp checker: a backend that refuses, then recovers', async () => {
  const probe = net.createServer()
  const port = await listen(probe)
  await close(probe) // now the port refuses connections
  const b = oneBackend(port, { CheckConf: { Schem: 'tcp', FailNum: 1, CheckInterval: 20 } })
  onBackendFailure(b)
  assert.equal(b.available, false)
  await new Promise((r) => setTimeout(r, 80))
  assert.equal(b.available, false)
  const server = net.createServer((s) => s.destroy())
  await listen(server, port)
  try {
    await waitFor(() => b.available, 1500)
    assert.equal(b.restarted, true)
  } finally {
    await close(server)
  }
})

test('checker stops when the backend is removed by a reload', async () => {
  let hits = 0
  const server = http.createServer((_req, res) => {
    hits++
    res.statusCode = 500
    res.end()
  })
  const port = await listen(server)
  try {
    const conf = clusterConf('web', {
      CheckConf: { FailNum: 1, CheckInterval: 20, StatusCode: 200 },
    })
    const t = new BalTable(
      gslbData({ web: { weights: { s: 1 }, table: { s: [['b', '127.0.0.1', port, 1]] } } }),
      new Map([['web', conf]]),
      { prober: socketHealthProber },
    )
    tables.push(t)
    const b = t.lookup('web')!.subClusters[0]!.backends[0]!
    onBackendFailure(b)
    await waitFor(() => hits >= 2, 1500)
    t.reloadGslb(gslbData({ web: { weights: { s: 1 }, table: { s: [['c', '127.0.0.1', 1, 1]] } } }))
    assert.equal(b.removed, true)
    await new Promise((r) => setTimeout(r, 30))
    const n = hits
    await new Promise((r) => setTimeout(r, 80))
    assert.equal(hits, n)
  } finally {
    await close(server)
  }
})

test('active check (D14): probes healthy backends, marks down and up', async () => {
  let status = 200
  let hits = 0
  const server = http.createServer((_req, res) => {
    hits++
    res.statusCode = status
    res.end()
  })
  const port = await listen(server)
  try {
    const b = oneBackend(port, {
      CheckConf: { ActiveCheck: true, FailNum: 2, SuccNum: 2, CheckInterval: 20, StatusCode: 2 },
    })
    await waitFor(() => hits >= 2, 1500)
    assert.equal(b.available, true)
    status = 503
    await waitFor(() => !b.available, 1500)
    assert.equal(b.checking, false) // no passive checker in active mode
    status = 204
    await waitFor(() => b.available, 1500)
    assert.equal(b.restarted, true)
  } finally {
    await close(server)
  }
})

function selfSigned(): { key: string; cert: string } {
  const pki = new TestPki('bfe-hc-')
  try {
    const c = pki.selfSigned('check', { dns: ['check.test'] })
    return { key: c.keyPem, cert: c.certPem }
  } finally {
    pki.cleanup()
  }
}

test('tls and https checkers (SNI, StatusCodeRange, verification)', async () => {
  const pair = selfSigned()
  let sni: string | undefined
  let reqHead = ''
  const opts: tls.TlsOptions = {
    ...pair,
    SNICallback: (name, cb) => {
      sni = name
      cb(null, tls.createSecureContext(pair))
    },
  }
  const server = tls.createServer(opts, (s) => {
    s.on('error', () => {})
    s.once('data', (d: Buffer) => {
      reqHead = d.toString('latin1')
      s.end('HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n')
    })
  })
  server.on('tlsClientError', () => {})
  const port = await listen(server)
  try {
    const tlsB = oneBackend(
      port,
      { CheckConf: { Schem: 'tls', FailNum: 1, CheckInterval: 20, Host: 'check.test' } },
      { insecure: false },
    )
    onBackendFailure(tlsB)
    await new Promise((r) => setTimeout(r, 80))
    assert.equal(tlsB.available, false) // self-signed, verification on: fails
    assert.equal(sni, 'check.test')

    const httpsB = oneBackend(
      port,
      {
        CheckConf: {
          Schem: 'https',
          FailNum: 1,
          CheckInterval: 20,
          Host: 'check.test',
          Uri: '/hc',
          StatusCodeRange: '2xx|30x',
        },
      },
      { insecure: true },
    )
    onBackendFailure(httpsB)
    await waitFor(() => httpsB.available, 1500)
    assert.match(
      reqHead,
      /^GET \/hc HTTP\/1\.1\r\nHost: check\.test\r\nUser-Agent: BFE-Health-Check\r\n/,
    )

    const rangeMiss = oneBackend(
      port,
      { CheckConf: { Schem: 'https', FailNum: 1, CheckInterval: 20, StatusCodeRange: '2xx' } },
      { insecure: true },
    )
    onBackendFailure(rangeMiss)
    await new Promise((r) => setTimeout(r, 80))
    assert.equal(rangeMiss.available, false)
  } finally {
    for (const tb of tables) tb.stop()
    await close(server)
  }
})
