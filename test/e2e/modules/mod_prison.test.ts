import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request, rawExchange } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

interface RuleOpts {
  name?: string
  cond?: string
  sign?: Record<string, unknown>
  cmd?: string
  params?: string[]
  threshold?: number
}

function prisonRule(o: RuleOpts = {}): Record<string, unknown> {
  return {
    Name: o.name ?? 'slow_down',
    Cond: o.cond ?? 'req_path_prefix_in("/jail", false)',
    AccessSignConf: o.sign ?? { Cookie: ['uid'] },
    Action: { Cmd: o.cmd ?? 'CLOSE', Params: o.params ?? [] },
    CheckPeriod: 30,
    StayPeriod: 30,
    Threshold: o.threshold ?? 3,
    AccessDictSize: 64,
    PrisonDictSize: 64,
  }
}

function prisonData(version: string, rules: Record<string, unknown[]>): string {
  return JSON.stringify({ Version: version, Config: rules })
}

/** One HTTP/1.1 request on a raw connection: the status, or 'closed' when none came. */
async function status(port: number, path: string, cookie: string): Promise<number | 'closed'> {
  const r = await rawExchange(
    port,
    `GET ${path} HTTP/1.1\r\nHost: shop.test\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`,
  )
  const m = /^HTTP\/1\.1 (\d{3})/.exec(r.data)
  return m === null ? 'closed' : Number(m[1])
}

describe('mod_prison', () => {
  let up: Upstream
  let bfe: RunningBfe
  let file: string

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_prison'],
        files: {
          'mod_prison/mod_prison.conf': '[basic]\nProductRulePath = mod_prison/prison.data\n',
          'mod_prison/prison.data': prisonData('v1', {
            p: [
              prisonRule(),
              prisonRule({
                name: 'mark',
                cond: 'req_path_prefix_in("/mark", false)',
                sign: { UseClientIP: true },
                cmd: 'REQ_HEADER_SET',
                params: ['X-Bfe-Prison', 'marked'],
                threshold: 1,
              }),
            ],
          }),
        },
      }),
    )
    file = join(bfe.confRoot, 'mod_prison', 'prison.data')
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('closes the connection of a visitor over the threshold (HTTP/1.1), per visitor', async () => {
    for (let i = 0; i < 3; i++) assert.equal(await status(bfe.port, '/jail/a', 'uid=u1'), 200)
    assert.equal(await status(bfe.port, '/jail/a', 'uid=u1'), 'closed')
    assert.equal(await status(bfe.port, '/jail/b', 'uid=u1'), 'closed')
    // Another visitor, and paths the rule does not cover, still pass.
    assert.equal(await status(bfe.port, '/jail/a', 'uid=u2'), 200)
    assert.equal(await status(bfe.port, '/free', 'uid=u1'), 200)
    // No cookie: the rule cannot sign the request and skips it.
    for (let i = 0; i < 5; i++) assert.equal((await get(`${bfe.url}/jail/x`)).status, 200)
    const m = JSON.parse((await monitorGet(bfe.server.monitorPort, '/monitor/mod_prison')).body)
    const counters = JSON.stringify(m)
    assert.match(counters, /"ALL_PRISON":2\b/)
    assert.match(counters, /"ALL_CHECKED":\d+/)
  })

  it('sets the rule header on the requests of a jailed visitor and lets them through (HTTP/2)', async () => {
    const first = await h2Request(bfe.tlsPort, '/mark/1', { authority: 'shop.test' })
    assert.equal(first.status, 200)
    assert.equal(up.seen.at(-1)?.headers['x-bfe-prison'], undefined)
    const second = await h2Request(bfe.tlsPort, '/mark/2', { authority: 'shop.test' })
    assert.equal(second.status, 200)
    assert.equal(up.seen.at(-1)?.url, '/mark/2')
    assert.equal(up.seen.at(-1)?.headers['x-bfe-prison'], 'marked')
  })

  it('keeps the jail across a reload under the same name, and the old rules after a broken file', async () => {
    // Same rule name, higher threshold: u1 stays jailed; a fresh visitor gets the new threshold.
    writeFileSync(file, prisonData('v2', { p: [prisonRule({ threshold: 5 })] }))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_prison')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'prison.data=v2' })
    assert.equal(await status(bfe.port, '/jail/a', 'uid=u1'), 'closed')
    for (let i = 0; i < 5; i++) assert.equal(await status(bfe.port, '/jail/a', 'uid=u3'), 200)
    assert.equal(await status(bfe.port, '/jail/a', 'uid=u3'), 'closed')
    // The mark rule is gone.
    await h2Request(bfe.tlsPort, '/mark/3', { authority: 'shop.test' })
    assert.equal(up.seen.at(-1)?.headers['x-bfe-prison'], undefined)

    writeFileSync(file, prisonData('v3', { p: [prisonRule({ cmd: 'DROP' })] }))
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_prison')
    assert.match(
      JSON.parse(bad.body).error,
      /prison\.data.*\/Config\/p\/0\/Action\/Cmd "DROP" is not one of/,
    )
    assert.equal(await status(bfe.port, '/jail/a', 'uid=u3'), 'closed')
    assert.equal(await status(bfe.port, '/jail/a', 'uid=u4'), 200)
  })

  it('answers FINISH with 403 and closes (HTTP/1.1, lifecycle D7)', async () => {
    writeFileSync(
      file,
      prisonData('v4', { global: [prisonRule({ name: 'g', cmd: 'FINISH', threshold: 0 })] }),
    )
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_prison')
    assert.equal(JSON.parse(ok.body).error, null)
    const r = await rawExchange(
      bfe.port,
      'GET /jail/z HTTP/1.1\r\nHost: other.test\r\nCookie: uid=g1\r\n\r\n',
    )
    assert.match(r.data, /^HTTP\/1\.1 403 /)
    assert.equal(r.closed, true)
  })

  it('refuses to start with a bad rule, naming file, field and reason', async () => {
    const refused = (rule: Record<string, unknown>, re: RegExp) =>
      assert.rejects(
        startBfe(
          simpleConf([up.port], {
            server: ['Modules = mod_prison'],
            files: {
              'mod_prison/mod_prison.conf': '[Basic]\nProductRulePath = mod_prison/prison.data\n',
              'mod_prison/prison.data': prisonData('x', { p: [rule] }),
            },
          }),
        ),
        re,
      )
    await refused(prisonRule({ cond: 'req_path_in("/a"' }), /prison\.data: \/Config\/p\/0\/Cond/)
    await refused(prisonRule({ cmd: 'BLOCK' }), /\/Config\/p\/0\/Action\/Cmd "BLOCK" is not one of/)
    await refused(
      prisonRule({ cmd: 'REQ_HEADER_SET', params: ['X-Bfe-A'] }),
      /\/Config\/p\/0\/Action\/Params REQ_HEADER_SET takes 2 parameters, got 1/,
    )
    await refused({ ...prisonRule(), Threshold: '3' }, /\/Config\/p\/0\/Threshold/)
    await refused({ ...prisonRule(), CheckPeriod: null }, /\/Config\/p\/0\/CheckPeriod is required/)
  })
})
