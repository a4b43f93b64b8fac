import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { SignJWT } from 'jose'
import { bearerToken, loadKeyFile, verifyToken } from './key-file.js'

const dir = mkdtempSync(join(tmpdir(), 'jwt-keys-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function keyFile(name: string, keys: unknown): string {
  const f = join(dir, name)
  writeFileSync(f, JSON.stringify(keys))
  return f
}

// An 8-byte secret, as short as the sample key BFE ships.
const secret = randomBytes(8)
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const ed = generateKeyPairSync('ed25519')
const file = keyFile('keys.json', [
  { kty: 'oct', kid: 'k1', k: secret.toString('base64url') },
  { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'r1' },
  { ...ec.publicKey.export({ format: 'jwk' }), kid: 'e1' },
  ed.publicKey.export({ format: 'jwk' }),
])
const keys = loadKeyFile(file)
const now = () => Math.floor(Date.now() / 1000)

test('key files: oct, RSA, EC and Ed25519 keys with their algorithms', () => {
  assert.deepEqual(
    keys.map((k) => k.algorithms[0]),
    ['HS256', 'RS256', 'ES256', 'EdDSA'],
  )
  assert.deepEqual(
    keys.map((k) => k.kid),
    ['k1', 'r1', 'e1', undefined],
  )
})

test('tokens signed with any key of the file verify; the kid is not consulted', async () => {
  const claims = { sub: 'ivy', exp: now() + 60 }
  const hs = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid: 'nope' })
    .sign(secret)
  assert.equal(await verifyToken(hs, keys), true)
  const hs512 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS512' }).sign(secret)
  assert.equal(await verifyToken(hs512, keys), true)
  const rs = await new SignJWT(claims).setProtectedHeader({ alg: 'PS384' }).sign(rsa.privateKey)
  assert.equal(await verifyToken(rs, keys), true)
  const es = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(ec.privateKey)
  assert.equal(await verifyToken(es, keys), true)
  const eddsa = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA' }).sign(ed.privateKey)
  assert.equal(await verifyToken(eddsa, keys), true)
})

test('tampered, wrongly signed, expired, not-yet-valid and future-issued tokens fail', async () => {
  const good = await new SignJWT({ sub: 'ivy' }).setProtectedHeader({ alg: 'HS256' }).sign(secret)
  assert.equal(await verifyToken(good, keys), true)
  const [h, p, sig] = good.split('.') as [string, string, string]
  const forged = Buffer.from(JSON.stringify({ sub: 'admin' })).toString('base64url')
  assert.equal(await verifyToken(`${h}.${forged}.${sig}`, keys), false)
  assert.equal(await verifyToken(`${h}.${p}.${sig.slice(0, -2)}AA`, keys), false)
  const other = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(randomBytes(8))
  assert.equal(await verifyToken(other, keys), false)
  const sign = (c: Record<string, number>) =>
    new SignJWT(c).setProtectedHeader({ alg: 'HS256' }).sign(secret)
  assert.equal(await verifyToken(await sign({ exp: now() - 5 }), keys), false)
  assert.equal(await verifyToken(await sign({ nbf: now() + 60 }), keys), false)
  assert.equal(await verifyToken(await sign({ iat: now() + 60 }), keys), false)
  assert.equal(await verifyToken(await sign({ iat: now() - 60, nbf: now() - 1 }), keys), true)
  assert.equal(await verifyToken('not-a-token', keys), false)
})

test('alg none and algorithm confusion are refused', async () => {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  assert.equal(await verifyToken(`${enc({ alg: 'none' })}.${enc({ sub: 'x' })}.`, keys), false)
  // HS256 keyed with the RSA public key's PEM text: RSA keys only check RS*/PS* tokens.
  const pem = rsa.publicKey.export({ format: 'pem', type: 'spki' })
  const confused = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(pem))
  assert.equal(await verifyToken(confused, keys.slice(1)), false)
})

test('Bearer header parsing', () => {
  assert.equal(bearerToken(undefined), undefined)
  assert.equal(bearerToken('Bearer abc'), 'abc')
  assert.equal(bearerToken('bearer abc'), null)
  assert.equal(bearerToken('Bearer  abc'), null)
  assert.equal(bearerToken('Bearer a b'), null)
  assert.equal(bearerToken('Bearer'), null)
})

test('bad key files name the file and the key', () => {
  assert.throws(
    () => loadKeyFile(keyFile('bad1.json', [{ kty: 'oct', k: '' }])),
    /bad1\.json: \/0 "k" must not be empty/,
  )
  assert.throws(
    () => loadKeyFile(keyFile('bad2.json', [{ kty: 'oct', k: 'AAAA' }, { kty: 'XYZ' }])),
    /bad2\.json: \/1 "kty" must be/,
  )
  assert.throws(
    () => loadKeyFile(keyFile('bad3.json', [{ kty: 'RSA', n: 'AQAB' }])),
    /bad3\.json: \/0 is not a usable JWK/,
  )
  assert.throws(() => loadKeyFile(keyFile('bad4.json', { kty: 'oct' })), /bad4\.json.*array/)
})
