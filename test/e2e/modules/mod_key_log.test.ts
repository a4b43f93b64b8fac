import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { connect as h2connect } from 'node:http2'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// At handshake time there is no HTTP request: only default_t, req_cip_trusted, req_proto_secure
// and ses_tls_client_auth can be true there (spec/condition.md §3, as in BFE).
function keyLogData(version: string, cond: string, product = 'global'): string {
  return JSON.stringify({ Version: version, Config: { [product]: [{ Cond: cond }] } })
}

const CONF = [
  '[Basic]',
  'DataPath = mod_key_log/key_log.data',
  '[Log]',
  'LogPrefix = key',
  'LogDir = keylogs',
  'RotateWhen = MIDNIGHT',
  'BackupCount = 3',
].join('\n')

/** An HTTP/1.1 request over TLS 1.2: the key log lines the client itself saw. */
function tls12Request(port: number, servername: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = []
    const s: TLSSocket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername,
      rejectUnauthorized: false,
      maxVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
    })
    s.on('error', reject)
    s.on('keylog', (l: Buffer) => lines.push(l.toString('latin1').trim()))
    let data = ''
    s.on('data', (c: Buffer) => {
      data += c.toString()
    })
    s.on('close', () =>
      data.startsWith('HTTP/1.1 200') ? resolve(lines) : reject(new Error(data)),
    )
    s.once('secureConnect', () =>
      s.write(`GET / HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`),
    )
  })
}

/** An HTTP/2 request over TLS 1.3: the key log lines the client saw. */
function h2Tls13Request(port: number, servername: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = []
    const client = h2connect(`https://${servername}:${port}`, {
      createConnection: () => {
        const s = tlsConnect({
          host: '127.0.0.1',
          port,
          servername,
          rejectUnauthorized: false,
          minVersion: 'TLSv1.3',
          ALPNProtocols: ['h2'],
        })
        s.on('keylog', (l: Buffer) => lines.push(l.toString('latin1').trim()))
        return s
      },
    })
    client.on('error', reject)
    const req = client.request({ ':path': '/h2', ':authority': servername })
    req.on('error', reject)
    req.on('response', (h) => {
      if (h[':status'] !== 200) reject(new Error(`status ${h[':status']}`))
    })
    req.resume()
    req.on('end', () => {
      client.close(() => resolve(lines))
    })
    req.end()
  })
}

async function keyFileHas(file: string, lines: readonly string[]): Promise<string> {
  let text = ''
  for (let i = 0; i < 300; i++) {
    text = existsSync(file) ? readFileSync(file, 'utf8') : ''
    if (lines.every((l) => text.includes(`${l}\n`))) return text
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.fail(`key log lacks some of:\n${lines.join('\n')}\nit has:\n${text}`)
}

describe('mod_key_log', () => {
  let up: Upstream
  let bfe: RunningBfe
  let keyFile: string
  let dataFile: string

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_key_log'],
        files: {
          'mod_key_log/mod_key_log.conf': CONF,
          'mod_key_log/key_log.data': keyLogData('k1', 'req_proto_secure()'),
        },
      }),
    )
    keyFile = join(bfe.confRoot, 'keylogs', 'key.log')
    dataFile = join(bfe.confRoot, 'mod_key_log', 'key_log.data')
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('writes the CLIENT_RANDOM line of a selected TLS 1.2 connection (HTTP/1.1)', async () => {
    const client = await tls12Request(bfe.tlsPort, 'keylog.test')
    assert.equal(client.length, 1)
    assert.match(client[0] ?? '', /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/)
    await keyFileHas(keyFile, client)
  })

  it('writes the TLS 1.3 secrets of a selected HTTP/2 connection', async () => {
    const client = await h2Tls13Request(bfe.tlsPort, 'keylog.test')
    const labels = client.map((l) => l.split(' ')[0]).sort()
    assert.deepEqual(labels, [
      'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
      'CLIENT_TRAFFIC_SECRET_0',
      'EXPORTER_SECRET',
      'SERVER_HANDSHAKE_TRAFFIC_SECRET',
      'SERVER_TRAFFIC_SECRET_0',
    ])
    await keyFileHas(keyFile, client)
  })

  it('reloads a good file and keeps the rules after a broken one', async () => {
    const counters = async (): Promise<string> =>
      JSON.stringify(
        JSON.parse((await monitorGet(bfe.server.monitorPort, '/monitor/mod_key_log')).body),
      )
    // Rules only for another product: the sessions here (no VIP, no product) are not logged.
    writeFileSync(dataFile, keyLogData('k2', 'default_t()', 'elsewhere'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_key_log')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'key_log.data=k2' })
    const skipped = await tls12Request(bfe.tlsPort, 'keylog.test')
    // A selected connection after it proves that the skipped one had its chance to be written.
    writeFileSync(dataFile, keyLogData('k3', 'req_proto_secure() && !req_cip_trusted()'))
    const ok3 = await monitorGet(bfe.server.monitorPort, '/reload/mod_key_log')
    assert.deepEqual(JSON.parse(ok3.body), { error: null, version: 'key_log.data=k3' })
    await keyFileHas(keyFile, await tls12Request(bfe.tlsPort, 'keylog.test'))
    assert.equal(readFileSync(keyFile, 'utf8').includes(skipped[0] ?? 'x'), false)

    writeFileSync(
      dataFile,
      JSON.stringify({ Version: 'k4', Config: { global: [{ Cond: 'req_proto_secure(' }] } }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_key_log')
    assert.match(JSON.parse(bad.body).error, /key_log\.data.*\/Config\/global\/0\/Cond/)
    await keyFileHas(keyFile, await tls12Request(bfe.tlsPort, 'keylog.test'))
    assert.match(await counters(), /"KEY_LOG_SESSIONS":4\b/)
  })

  it('refuses to start with a bad condition or a bad [Log], naming file and field', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_key_log'],
          files: {
            'mod_key_log/mod_key_log.conf': CONF,
            'mod_key_log/key_log.data': JSON.stringify({
              Version: '1',
              Config: { p: [{ Cond: 'ses_tls_sni_in("a") &&' }] },
            }),
          },
        }),
      ),
      /key_log\.data: \/Config\/p\/0\/Cond/,
    )
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_key_log'],
          files: {
            'mod_key_log/mod_key_log.conf': CONF.replace('BackupCount = 3', 'BackupCount = 0'),
            'mod_key_log/key_log.data': keyLogData('1', 'default_t()'),
          },
        }),
      ),
      /mod_key_log\.conf: Log\.BackupCount must be > 0/,
    )
  })
})
