import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { Session } from '../../basic/session.js'
import { loadKeyLogTable, rulesFor } from './index.js'

const dir = mkdtempSync(join(tmpdir(), 'bfe-keylog-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function table(config: unknown) {
  const f = join(dir, 'key_log.data')
  writeFileSync(f, JSON.stringify({ Version: 'v9', Config: config }))
  return loadKeyLogTable(f)
}

describe('mod_key_log rules', () => {
  it("takes the session product's rules, else global's; a listed product hides global", () => {
    const t = table({
      global: [{ Cond: 'default_t()' }],
      shop: [{ Cond: 'req_proto_secure()' }, { Cond: 'default_t()' }],
      quiet: [],
    }).value
    const ses = new Session({ remoteAddr: '10.0.0.1', remotePort: 1, isSecure: true })
    assert.equal(rulesFor(t, ses)?.length, 1)
    ses.product = 'shop'
    assert.equal(rulesFor(t, ses)?.length, 2)
    assert.equal(rulesFor(t, ses)?.[0]?.Cond.condition.testSession(ses), true)
    ses.product = 'quiet'
    assert.deepEqual(rulesFor(t, ses), [])
    assert.equal(
      rulesFor(table({ shop: [] }).value, new Session({ remoteAddr: '', remotePort: 0 })),
      undefined,
    )
  })

  it('evaluates conditions without an HTTP request (request primitives are false)', () => {
    const t = table({ global: [{ Cond: 'req_host_in("a.test") || ses_tls_client_auth()' }] }).value
    const ses = new Session({ remoteAddr: '10.0.0.1', remotePort: 1, isSecure: true })
    assert.equal(rulesFor(t, ses)?.[0]?.Cond.condition.testSession(ses), false)
  })

  it('answers reloads with its version and refuses bad rules naming the field', () => {
    assert.equal(table({ global: [{ Cond: 'default_t()' }] }).version, 'key_log.data=v9')
    assert.throws(() => table({ global: [{}] }), /\/Config\/global\/0\/Cond is required/)
    assert.throws(() => table({ global: [{ Cond: 'nope()' }] }), /\/Config\/global\/0\/Cond/)
  })
})
