import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { simpleConf, type TestConf } from '../helpers/conf.js'
import { sClient } from '../helpers/exec.js'
import { type RedisProcess, startRedis } from '../helpers/redis.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

let up: Upstream
const tmp = mkdtempSync(join(tmpdir(), 'bfe-resume-'))
let n = 0

before(async () => {
  up = await startUpstream()
})
after(async () => {
  await up.close()
  rmSync(tmp, { recursive: true, force: true })
})

/** Connects with openssl s_client, saving the session; returns the handshake summary line. */
async function handshake(
  port: number,
  args: string[],
  session: { in?: string; out?: string },
): Promise<string> {
  const r = await sClient(
    port,
    [
      '-servername',
      'localhost',
      ...args,
      ...(session.in === undefined ? [] : ['-sess_in', session.in]),
      ...(session.out === undefined ? [] : ['-sess_out', session.out]),
    ],
    'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n',
  )
  assert.match(r.stdout, /HTTP\/1\.1 200/, r.stdout)
  const m = /^(New|Reused), (TLSv[0-9.]+), Cipher is \S+/m.exec(r.stdout)
  assert.ok(m !== null, `no handshake:\n${r.stdout}\n${r.stderr}`)
  return `${m[1]} ${m[2]}`
}

function sessFile(): string {
  return join(tmp, `s${++n}.pem`)
}

describe('session tickets ([SessionTicket])', () => {
  const key = randomBytes(48).toString('hex')
  let a: RunningBfe
  let b: RunningBfe
  let other: RunningBfe
  const ticketConf = (k: string): TestConf =>
    simpleConf([up.port], {
      extraBfeConf: '[SessionTicket]\nSessionTicketsDisabled = false\n',
      files: {
        'tls_conf/session_ticket_key.data': JSON.stringify({ Version: 't', SessionTicketKey: k }),
      },
    })
  before(async () => {
    a = await startBfe(ticketConf(key))
    b = await startBfe(ticketConf(key))
    other = await startBfe(ticketConf(randomBytes(48).toString('hex')))
  })
  after(async () => {
    await Promise.all([a.close(), b.close(), other.close()])
  })

  for (const v of ['-tls1_3', '-tls1_2']) {
    test(`${v}: a ticket resumes on the same instance and on another with the same key`, async () => {
      const s = sessFile()
      assert.match(await handshake(a.tlsPort, [v], { out: s }), /^New /)
      assert.match(await handshake(a.tlsPort, [v], { in: s }), /^Reused /)
      assert.match(await handshake(b.tlsPort, [v], { in: s }), /^Reused /)
      assert.match(await handshake(other.tlsPort, [v], { in: s }), /^New /)
    })
  }

  test('tickets disabled (the default): no resumption without a cache', async () => {
    const plain = await startBfe(simpleConf([up.port]))
    try {
      const s = sessFile()
      await handshake(plain.tlsPort, ['-tls1_2'], { out: s })
      assert.match(await handshake(plain.tlsPort, ['-tls1_2'], { in: s }), /^New /)
    } finally {
      await plain.close()
    }
  })
})

describe('session cache on Redis ([SessionCache])', () => {
  let redis: RedisProcess
  let a: RunningBfe
  let b: RunningBfe
  before(async () => {
    redis = await startRedis()
    const conf = simpleConf([up.port], {
      extraBfeConf: [
        '[SessionCache]',
        'SessionCacheDisabled = false',
        `Servers = 127.0.0.1:${redis.port}`,
        'KeyPrefix = bfe-test',
        'ConnectTimeout = 100',
        'ReadTimeout = 100',
        'WriteTimeout = 100',
        '',
      ].join('\n'),
    })
    a = await startBfe(conf)
    b = await startBfe(conf)
  })
  after(async () => {
    await Promise.all([a.close(), b.close()])
    await redis.close()
  })

  test('two instances resume each other’s TLS 1.2 sessions', async () => {
    const s = sessFile()
    assert.match(await handshake(a.tlsPort, ['-tls1_2'], { out: s }), /^New TLSv1.2/)
    assert.match(await handshake(b.tlsPort, ['-tls1_2'], { in: s }), /^Reused TLSv1.2/)
    assert.match(await handshake(a.tlsPort, ['-tls1_2'], { in: s }), /^Reused TLSv1.2/)
  })

  test('Redis down: handshakes are full, never failed', async () => {
    const s = sessFile()
    await handshake(a.tlsPort, ['-tls1_2'], { out: s })
    await redis.close()
    const t0 = Date.now()
    assert.match(await handshake(b.tlsPort, ['-tls1_2'], { in: s }), /^New TLSv1.2/)
    assert.ok(Date.now() - t0 < 3000, 'the handshake waited too long for Redis')
    const r = await sClient(
      b.tlsPort,
      ['-servername', 'localhost', '-tls1_2'],
      'GET / HTTP/1.0\r\n\r\n',
    )
    assert.match(r.stdout, /HTTP\/1\.1 200/)
  })
})
