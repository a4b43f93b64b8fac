import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { SignJWT } from 'jose'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

const CONF = '[Basic]\nDataPath = mod_auth_jwt/auth_jwt_rule.data\n[Log]\nOpenDebug = true\n'
const now = () => Math.floor(Date.now() / 1000)

function ruleData(version: string, realm?: string): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        {
          Cond: 'req_path_prefix_in("/api/", false)',
          KeyFile: 'mod_auth_jwt/keys.json',
          ...(realm === undefined ? {} : { Realm: realm }),
        },
      ],
    },
  })
}

describe('mod_auth_jwt', () => {
  let up: Upstream
  let bfe: RunningBfe
  // Keys made for this test: an 8-byte HMAC secret (as short as BFE's sample) and an RSA pair.
  const secret = randomBytes(8)
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const keys = JSON.stringify([
    { kty: 'oct', kid: 'h1', k: secret.toString('base64url') },
    { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'r1' },
  ])
  const hs = (claims: Record<string, unknown>, key: Uint8Array = secret) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key)

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_auth_jwt'],
        files: {
          'mod_auth_jwt/mod_auth_jwt.conf': CONF,
          'mod_auth_jwt/auth_jwt_rule.data': ruleData('v1', 'api'),
          'mod_auth_jwt/keys.json': keys,
        },
      }),
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  const api = (authorization?: string) =>
    get(`${bfe.url}/api/orders`, { headers: authorization ? { authorization } : {} })

  it('refuses a request without a token: 401 with a Bearer challenge (HTTP/1.1)', async () => {
    const before = up.seen.length
    const r = await api()
    assert.equal(r.status, 401)
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="api"')
    assert.equal(r.headers['server'], 'bfe')
    assert.equal(up.seen.length, before)
  })

  it('accepts tokens signed with any key of the key file', async () => {
    const a = await api(`Bearer ${await hs({ sub: 'u1', exp: now() + 60, iat: now() - 5 })}`)
    assert.equal(a.status, 200)
    assert.equal(a.body, `ok ${up.port}`)
    const rs = await new SignJWT({ sub: 'u2' })
      .setProtectedHeader({ alg: 'RS256', kid: 'unrelated' })
      .sign(rsa.privateKey)
    assert.equal((await api(`Bearer ${rs}`)).status, 200)
  })

  it('refuses tampered, expired, not-yet-valid, unsigned and foreign tokens', async () => {
    const good = await hs({ sub: 'u1' })
    const [h, , sig] = good.split('.') as [string, string, string]
    const evil = Buffer.from(JSON.stringify({ sub: 'root' })).toString('base64url')
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${evil}.`
    for (const token of [
      `${h}.${evil}.${sig}`,
      await hs({ exp: now() - 10 }),
      await hs({ nbf: now() + 3600 }),
      await hs({ iat: now() + 3600 }),
      none,
      await hs({}, randomBytes(8)),
      'garbage',
    ]) {
      const r = await api(`Bearer ${token}`)
      assert.equal(r.status, 401, token)
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="api"')
    }
  })

  it('refuses malformed Authorization headers', async () => {
    for (const auth of [`bearer ${await hs({})}`, `Bearer  ${await hs({})}`, 'Basic dTpw']) {
      assert.equal((await api(auth)).status, 401, auth)
    }
  })

  it('leaves requests no rule matches alone', async () => {
    assert.equal((await get(`${bfe.url}/public`)).status, 200)
  })

  it('works on HTTP/2', async () => {
    const no = await h2Request(bfe.tlsPort, '/api/x')
    assert.equal(no.status, 401)
    assert.equal(no.headers['www-authenticate'], 'Bearer realm="api"')
    const yes = await h2Request(bfe.tlsPort, '/api/x', {
      headers: { authorization: `Bearer ${await hs({ exp: now() + 60 })}` },
    })
    assert.equal(yes.status, 200)
  })

  it('counts what it did', async () => {
    const c = JSON.parse(
      (await monitorGet(bfe.server.monitorPort, '/monitor/mod_auth_jwt')).body,
    ).CounterData
    assert.equal(c.REQ_AUTH_RULE_HIT, c.REQ_AUTH_SUCCESS + c.REQ_AUTH_FAILURE)
    assert.equal(c.REQ_AUTH_NO_AUTHORIZATION, 2)
    assert.equal(c.REQ_AUTH_AUTHORIZATION_FORMAT_ERR, 3)
    assert.equal(c.REQ_AUTH_SUCCESS, 3)
    assert.equal(c.REQ_AUTH_FAILURE, 12)
  })

  it('reloads new keys; a broken key file keeps the old ones', async () => {
    const dir = join(bfe.confRoot, 'mod_auth_jwt')
    const secret2 = randomBytes(16)
    writeFileSync(
      join(dir, 'keys.json'),
      JSON.stringify([{ kty: 'oct', k: secret2.toString('base64url') }]),
    )
    writeFileSync(join(dir, 'auth_jwt_rule.data'), ruleData('v2'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_auth_jwt')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'auth_jwt_rule.data=v2' })
    assert.equal((await api(`Bearer ${await hs({})}`)).status, 401)
    const t2 = `Bearer ${await hs({}, secret2)}`
    assert.equal((await api(t2)).status, 200)
    assert.equal((await api()).headers['www-authenticate'], 'Bearer realm="Restricted"')

    writeFileSync(
      join(dir, 'keys.json'),
      JSON.stringify([{ kty: 'oct', k: secret.toString('base64url') }, { kty: 'RSA' }]),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_auth_jwt')
    assert.match(JSON.parse(bad.body).error, /keys\.json: \/1 is not a usable JWK/)
    assert.equal((await api(t2)).status, 200)
  })

  it('refuses to start with a bad rule or key file, naming file, field and reason', async () => {
    const start = (rule: unknown, keyFile = keys) =>
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_auth_jwt'],
          files: {
            'mod_auth_jwt/mod_auth_jwt.conf': CONF,
            'mod_auth_jwt/auth_jwt_rule.data': JSON.stringify({
              Version: '1',
              Config: { p: [rule] },
            }),
            'mod_auth_jwt/keys.json': keyFile,
          },
        }),
      )
    await assert.rejects(
      start({ Cond: 'req_path_in(1', KeyFile: 'mod_auth_jwt/keys.json' }),
      /auth_jwt_rule\.data: \/Config\/p\/0\/Cond/,
    )
    await assert.rejects(
      start({ Cond: 'default_t()', KeyFile: '' }),
      /auth_jwt_rule\.data: \/Config\/p\/0\/KeyFile must not be empty/,
    )
    await assert.rejects(
      start({ Cond: 'default_t()', KeyFile: 'mod_auth_jwt/nope.json' }),
      /auth_jwt_rule\.data: \/Config\/p\/0\/KeyFile .*nope\.json.*cannot be read/,
    )
    await assert.rejects(
      start(
        { Cond: 'default_t()', KeyFile: 'mod_auth_jwt/keys.json' },
        '[{"kty":"oct","k":"a+b"}]',
      ),
      /keys\.json: \/0 "k" must be a base64url string/,
    )
  })
})
