import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import bcrypt from 'bcryptjs'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { run } from '../../helpers/exec.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

const basic = (user: string, pw: string) =>
  `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`
const sha = (pw: string) => `{SHA}${createHash('sha1').update(pw).digest('base64')}`

const CONF = '[Basic]\nDataPath = mod_auth_basic/auth_basic_rule.data\n[Log]\nOpenDebug = false\n'

function ruleData(version: string, realm?: string): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        {
          Cond: 'req_host_in("secure.test")',
          UserFile: 'mod_auth_basic/users',
          ...(realm === undefined ? {} : { Realm: realm }),
        },
      ],
    },
  })
}

describe('mod_auth_basic', () => {
  let up: Upstream
  let bfe: RunningBfe
  let users: string

  before(async () => {
    up = await startUpstream()
    // Hashes made by independent tools: openssl for apr1 and MD5-crypt, node:crypto for {SHA}.
    const apr = (await run('openssl', ['passwd', '-apr1', '-salt', 'T3stSalt', 'alpine-7'])).stdout
    const md5 = (await run('openssl', ['passwd', '-1', '-salt', 'Zq9', 'maple'])).stdout
    users = [
      '# test users',
      `alice:${apr.trim()}`,
      `bob:${sha('harbor-42')}:Bob, on call`,
      `carol:${bcrypt.hashSync('cedar', 4)}`,
      `dan:${md5.trim()}`,
      '',
    ].join('\n')
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_auth_basic'],
        files: {
          'mod_auth_basic/mod_auth_basic.conf': CONF,
          'mod_auth_basic/auth_basic_rule.data': ruleData('v1', 'staff'),
          'mod_auth_basic/users': users,
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  const secure = (authorization?: string) =>
    get(`${bfe.url}/doc`, {
      headers: { host: 'secure.test', ...(authorization ? { authorization } : {}) },
    })

  it('challenges a request without credentials with 401 and the realm (HTTP/1.1)', async () => {
    const before = up.seen.length
    const r = await secure()
    assert.equal(r.status, 401)
    assert.equal(r.headers['www-authenticate'], 'Basic realm="staff"')
    assert.equal(r.headers['server'], 'bfe')
    assert.equal(r.body, '')
    assert.equal(up.seen.length, before, 'the backend never saw it')
  })

  it('lets apr1, {SHA}, bcrypt and MD5-crypt users through with the right password', async () => {
    for (const [u, pw] of [
      ['alice', 'alpine-7'],
      ['bob', 'harbor-42'],
      ['carol', 'cedar'],
      ['dan', 'maple'],
    ] as const) {
      const r = await secure(basic(u, pw))
      assert.equal(r.status, 200, u)
      assert.equal(r.body, `ok ${up.port}`)
    }
    // The backend still gets the Authorization header.
    assert.equal(up.seen.at(-1)?.headers.authorization, basic('dan', 'maple'))
  })

  it('refuses wrong passwords, unknown users and malformed headers', async () => {
    for (const auth of [
      basic('alice', 'alpine-8'),
      basic('bob', 'harbor-4'),
      basic('carol', 'Cedar'),
      basic('mallory', 'alpine-7'),
      'Basic not-base64!',
      `Bearer ${Buffer.from('alice:alpine-7').toString('base64')}`,
    ]) {
      const r = await secure(auth)
      assert.equal(r.status, 401, auth)
      assert.equal(r.headers['www-authenticate'], 'Basic realm="staff"')
    }
  })

  it('does not touch requests no rule matches', async () => {
    const r = await get(`${bfe.url}/doc`, { headers: { host: 'open.test' } })
    assert.equal(r.status, 200)
  })

  it('works on HTTP/2', async () => {
    const no = await h2Request(bfe.tlsPort, '/doc', { authority: 'secure.test' })
    assert.equal(no.alpn, 'h2')
    assert.equal(no.status, 401)
    assert.equal(no.headers['www-authenticate'], 'Basic realm="staff"')
    const yes = await h2Request(bfe.tlsPort, '/doc', {
      authority: 'secure.test',
      headers: { authorization: basic('bob', 'harbor-42') },
    })
    assert.equal(yes.status, 200)
    assert.equal(yes.body.toString(), `ok ${up.port}`)
  })

  it('counts hits, challenges, successes and failures', async () => {
    const m = await monitorGet(bfe.server.monitorPort, '/monitor/mod_auth_basic')
    const c = JSON.parse(m.body).CounterData
    assert.equal(
      c.REQ_AUTH_RULE_HIT,
      c.REQ_AUTH_CHALLENGE + c.REQ_AUTH_SUCCESS + c.REQ_AUTH_FAILURE,
    )
    // No or unreadable credentials (absent, not base64, another scheme) are challenges.
    assert.equal(c.REQ_AUTH_CHALLENGE, 4)
    assert.equal(c.REQ_AUTH_SUCCESS, 5)
    assert.equal(c.REQ_AUTH_FAILURE, 4)
  })

  it('reloads rule and user files; a broken user file keeps the old users', async () => {
    const dir = join(bfe.confRoot, 'mod_auth_basic')
    writeFileSync(join(dir, 'users'), `${users}erin:${sha('willow')}\n`)
    writeFileSync(join(dir, 'auth_basic_rule.data'), ruleData('v2'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_auth_basic')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'auth_basic_rule.data=v2' })
    assert.equal((await secure(basic('erin', 'willow'))).status, 200)
    // No Realm in the rule: BFE's default.
    assert.equal((await secure()).headers['www-authenticate'], 'Basic realm="Restricted"')

    writeFileSync(join(dir, 'users'), 'frank:{SHA}x\nthis line has no colon\n')
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_auth_basic')
    assert.match(JSON.parse(bad.body).error, /users: line 2 must be user:hash/)
    assert.equal((await secure(basic('erin', 'willow'))).status, 200)

    writeFileSync(
      join(dir, 'auth_basic_rule.data'),
      JSON.stringify({ Version: 'v3', Config: { p: [{ Cond: 'x(', UserFile: 'u' }] } }),
    )
    const bad2 = await monitorGet(bfe.server.monitorPort, '/reload/mod_auth_basic')
    assert.match(JSON.parse(bad2.body).error, /auth_basic_rule\.data.*\/Config\/p\/0\/Cond/)
    assert.equal((await secure(basic('erin', 'willow'))).status, 200)
  })

  it('refuses to start with a bad rule file, naming file, field and reason', async () => {
    const start = (rule: unknown, extra: Record<string, string> = {}) =>
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_auth_basic'],
          files: {
            'mod_auth_basic/mod_auth_basic.conf': CONF,
            'mod_auth_basic/auth_basic_rule.data': JSON.stringify({
              Version: '1',
              Config: { p: [rule] },
            }),
            ...extra,
          },
        }),
      )
    await assert.rejects(
      start({ Cond: 'req_host_in(', UserFile: 'u' }),
      /auth_basic_rule\.data: \/Config\/p\/0\/Cond/,
    )
    await assert.rejects(
      start({ Cond: 'default_t()', UserFile: '' }),
      /auth_basic_rule\.data: \/Config\/p\/0\/UserFile must not be empty/,
    )
    await assert.rejects(
      start({ Cond: 'default_t()', UserFile: 'mod_auth_basic/missing' }),
      /auth_basic_rule\.data: \/Config\/p\/0\/UserFile .*missing.*cannot be read/,
    )
    await assert.rejects(
      start({ Cond: 'default_t()', UserFile: 'u', Realm: 7 }),
      /\/Config\/p\/0\/Realm must be a string/,
    )
  })
})
