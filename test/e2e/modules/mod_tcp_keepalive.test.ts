import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { simpleConf, type TestConf } from '../../helpers/conf.js'
import { run } from '../../helpers/exec.js'
import { monitorGet } from '../../helpers/monitor.js'
import { ppConnect, ppH2 } from '../../helpers/proxy-client.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// VIPs of product p (known through the PROXY header's destination): .10 has keep-alive with a
// 70 s idle time, .11 has it disabled, .12 has no rule.
function data(version: string, idleVip: string): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        { VipConf: [idleVip], KeepAliveParam: { KeepIdle: 70, KeepIntvl: 5, KeepCnt: 3 } },
        { VipConf: ['192.0.2.11'], KeepAliveParam: { Disable: true } },
      ],
    },
  })
}

function conf(port: number, dataText: string): TestConf {
  return simpleConf([port], {
    server: ['Layer4LoadBalancer = PROXY', 'Modules = mod_tcp_keepalive'],
    vipRule: {
      Version: 't',
      Vips: { p: ['192.0.2.10', '192.0.2.11', '192.0.2.12', '192.0.2.13'] },
    },
    files: {
      'mod_tcp_keepalive/mod_tcp_keepalive.conf':
        '[basic]\nDataPath = mod_tcp_keepalive/tcp_keepalive.data\n\n[log]\nOpenDebug = false\n',
      'mod_tcp_keepalive/tcp_keepalive.data': dataText,
    },
  })
}

/** A keep-alive timer started from a 70 s idle time (the system default would be 120 min). */
const IDLE_70 = /^(1min)?\d+sec$/

/** The kernel's keep-alive timer of the server side of `client` (ss), '' when none runs. */
async function keepAliveTimer(serverPort: number, client: Socket): Promise<string> {
  const r = await run('ss', [
    '-tnoH',
    'state',
    'established',
    '(',
    'sport',
    '=',
    `:${serverPort}`,
    ')',
  ])
  assert.equal(r.code, 0, r.stderr)
  const peer = `127.0.0.1:${client.localPort}`
  const line = r.stdout.split('\n').find((l) => l.trim().split(/\s+/)[3] === peer)
  assert.ok(
    line !== undefined,
    `no server socket for client port ${client.localPort}:\n${r.stdout}`,
  )
  return /timer:\(keepalive,([^,]+),/.exec(line)?.[1] ?? ''
}

/** A PROXY connection to `vip` that has been accepted and answered one request. */
async function served(port: number, vip: string): Promise<Socket> {
  const s = await ppConnect(port, '198.51.100.7', vip)
  await new Promise<void>((resolve, reject) => {
    s.once('data', () => resolve())
    s.once('close', () => reject(new Error('closed')))
    s.write('GET / HTTP/1.1\r\nHost: p.test\r\n\r\n')
  })
  return s
}

async function counters(port: number): Promise<Record<string, number | undefined>> {
  return JSON.parse((await monitorGet(port, '/monitor/mod_tcp_keepalive')).body).CounterData
}

describe('mod_tcp_keepalive', () => {
  let up: Upstream
  let bfe: RunningBfe
  const open: Socket[] = []

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(conf(up.port, data('v1', '192.0.2.10')))
  })
  after(async () => {
    for (const s of open) s.destroy()
    await bfe.close()
    await up.close()
  })

  it('enables keep-alive with the rule idle time on connections to the VIP (HTTP/1.1)', async () => {
    const c0 = await counters(bfe.server.monitorPort)
    const s = await served(bfe.port, '192.0.2.10')
    open.push(s)
    assert.match(await keepAliveTimer(bfe.port, s), IDLE_70)
    const none = await served(bfe.port, '192.0.2.12')
    open.push(none)
    assert.equal(await keepAliveTimer(bfe.port, none), '')
    const off = await served(bfe.port, '192.0.2.11')
    open.push(off)
    assert.equal(await keepAliveTimer(bfe.port, off), '')
    const c1 = await counters(bfe.server.monitorPort)
    const d = (k: string) => (c1[k] ?? 0) - (c0[k] ?? 0)
    assert.equal(d('CONN_TO_SET'), 2)
    assert.equal(d('CONN_SET_KEEP_IDLE'), 1)
    assert.equal(d('CONN_DISABLE_KEEP_ALIVE'), 1)
    // accepted but not applied by Node
    assert.equal(d('CONN_SET_KEEP_INTVL'), 0)
    assert.equal(d('CONN_SET_KEEP_CNT'), 0)
  })

  it('applies on the HTTPS port before the TLS handshake; HTTP/2 is served on it', async () => {
    const s = await ppConnect(bfe.tlsPort, '198.51.100.8', '192.0.2.10')
    open.push(s)
    let timer = ''
    for (let i = 0; i < 40 && timer === ''; i++) {
      await new Promise((r) => setTimeout(r, 50))
      timer = await keepAliveTimer(bfe.tlsPort, s)
    }
    assert.match(timer, IDLE_70)
    const r = await ppH2(bfe.tlsPort, '198.51.100.8', '192.0.2.10', '/h2')
    assert.equal(r.body, `ok ${up.port}`)
  })

  it('reloads a good file and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_tcp_keepalive', 'tcp_keepalive.data')
    writeFileSync(file, data('v2', '192.0.2.13'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_tcp_keepalive')
    assert.deepEqual(JSON.parse(ok.body), { error: null })
    const moved = await served(bfe.port, '192.0.2.13')
    open.push(moved)
    assert.match(await keepAliveTimer(bfe.port, moved), IDLE_70)
    const old = await served(bfe.port, '192.0.2.10')
    open.push(old)
    assert.equal(await keepAliveTimer(bfe.port, old), '')

    writeFileSync(
      file,
      JSON.stringify({
        Version: 'v3',
        Config: { p: [{ VipConf: ['192.0.2.10'], KeepAliveParam: { KeepIdle: -5 } }] },
      }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_tcp_keepalive')
    assert.match(
      JSON.parse(bad.body).error,
      /tcp_keepalive\.data.*\/Config\/p\/0\/KeepAliveParam\/KeepIdle/,
    )
    const still = await served(bfe.port, '192.0.2.13')
    open.push(still)
    assert.match(await keepAliveTimer(bfe.port, still), IDLE_70)
  })

  it('refuses to start with a bad VIP or a parameter of the wrong type, naming file and field', async () => {
    const one = (rule: unknown) => JSON.stringify({ Version: '1', Config: { p: [rule] } })
    await assert.rejects(
      startBfe(conf(up.port, one({ VipConf: ['192.0.2'], KeepAliveParam: {} }))),
      /tcp_keepalive\.data.*\/Config\/p\/0\/VipConf\/0 .*not an IP address/,
    )
    await assert.rejects(
      startBfe(conf(up.port, one({ VipConf: ['192.0.2.1'], KeepAliveParam: { Disable: 'yes' } }))),
      /tcp_keepalive\.data.*\/Config\/p\/0\/KeepAliveParam\/Disable/,
    )
    await assert.rejects(
      startBfe(conf(up.port, JSON.stringify({ Config: {} }))),
      /tcp_keepalive\.data.*\/Version/,
    )
  })
})
