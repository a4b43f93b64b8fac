import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { promisify } from 'node:util'
import bcrypt from 'bcryptjs'
import { basicCredentials } from './index.js'
import { classifyHash, parseUserFile, verifyPassword } from './user-file.js'

const exec = promisify(execFile)

// Hashes made here by an independent tool (openssl), not by the library under test.
async function opensslPasswd(kind: '-apr1' | '-1', salt: string, pw: string): Promise<string> {
  const r = await exec('openssl', ['passwd', kind, '-salt', salt, pw])
  return r.stdout.trim()
}

function entryOf(hash: string) {
  const { kind, digest } = classifyHash(hash)
  return { kind, hash, digest }
}

test('apr1 and MD5-crypt hashes from openssl verify, wrong passwords do not', async () => {
  const apr = await opensslPasswd('-apr1', 'Qx7pLm2a', 'river-stone')
  assert.match(apr, /^\$apr1\$Qx7pLm2a\$/)
  assert.equal(classifyHash(apr).kind, 'apr1')
  assert.equal(verifyPassword(entryOf(apr), Buffer.from('river-stone')), true)
  assert.equal(verifyPassword(entryOf(apr), Buffer.from('river-stonE')), false)
  const md5 = await opensslPasswd('-1', 'k9Zt', 'påssword')
  assert.equal(classifyHash(md5).kind, 'md5crypt')
  assert.equal(verifyPassword(entryOf(md5), Buffer.from('påssword', 'utf8')), true)
  assert.equal(verifyPassword(entryOf(md5), Buffer.from('password')), false)
})

test('{SHA} hashes compare the SHA-1 digest', () => {
  const h = `{SHA}${createHash('sha1').update('lantern').digest('base64')}`
  assert.equal(classifyHash(h).kind, 'sha')
  assert.equal(verifyPassword(entryOf(h), Buffer.from('lantern')), true)
  assert.equal(verifyPassword(entryOf(h), Buffer.from('lanterns')), false)
  assert.equal(classifyHash('{SHA}short').kind, 'unsupported')
})

test('bcrypt $2a$, $2b$ and $2y$ hashes verify asynchronously', async () => {
  const h = bcrypt.hashSync('orchard', 4)
  for (const prefix of ['$2a$', '$2b$', '$2y$']) {
    const hash = prefix + h.slice(4)
    assert.equal(classifyHash(hash).kind, 'bcrypt')
    assert.equal(await verifyPassword(entryOf(hash), Buffer.from('orchard')), true)
    assert.equal(await verifyPassword(entryOf(hash), Buffer.from('orchart')), false)
  }
})

test('plain-text passwords never authenticate and are reported at load', () => {
  const f = parseUserFile('users', 'carol:secret\n')
  const e = f.users.get('carol')
  assert.equal(e?.kind, 'unsupported')
  assert.equal(e !== undefined && verifyPassword(e, Buffer.from('secret')), false)
  assert.match(f.warnings[0] ?? '', /users: line 1 user "carol".*never log in/)
})

test('user files: comments, blanks, comments after the hash, trimming, bad lines', () => {
  const f = parseUserFile(
    'u.txt',
    [
      '# a comment',
      '',
      '  dave : {SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA= ',
      'erin:{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=:Erin, ops',
      'frank:{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA= # has a hash sign so skipped',
      '\t',
    ].join('\r\n'),
  )
  assert.deepEqual([...f.users.keys()], ['dave', 'erin'])
  assert.throws(() => parseUserFile('u.txt', 'ok:{SHA}x\nno-colon\n'), /u\.txt: line 2 must be/)
  assert.throws(() => parseUserFile('u.txt', 'a:b:c:d'), /line 1 .*got 4 fields/)
})

test('Basic credentials: scheme case, padding, first colon, malformed values', () => {
  const enc = (s: string) => Buffer.from(s).toString('base64')
  const c = basicCredentials(`Basic ${enc('gina:pa:ss')}`)
  assert.equal(c?.user, 'gina')
  assert.equal(c?.password.toString(), 'pa:ss')
  assert.equal(basicCredentials(`bAsIc ${enc('h:x')}`)?.user, 'h')
  assert.equal(basicCredentials(undefined), undefined)
  assert.equal(basicCredentials(`Bearer ${enc('h:x')}`), undefined)
  assert.equal(basicCredentials(`Basic ${enc('nocolon')}`), undefined)
  assert.equal(basicCredentials('Basic aGk6eA'), undefined) // unpadded
  assert.equal(basicCredentials('Basic !!!!'), undefined)
})
