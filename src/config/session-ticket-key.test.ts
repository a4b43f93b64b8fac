import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { confError } from '../../test/helpers/conf-assert.js'
import { loadSessionTicketKey, parseSessionTicketKey } from './session-ticket-key.js'

const F = 'session_ticket_key.data'

describe('session_ticket_key.data', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bfe-stk-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('a JSON file with a 96-hex-digit key loads as 48 bytes', () => {
    const hex = randomBytes(48).toString('hex')
    const file = path.join(dir, 'key.data')
    writeFileSync(file, JSON.stringify({ Version: '2026-11-27', SessionTicketKey: hex }))
    const k = loadSessionTicketKey(file)
    assert.equal(k.Version, '2026-11-27')
    assert.equal(k.key.toString('hex'), hex)
    assert.equal(k.key.length, 48)
  })

  it('a key that is not hex, and a missing file, fail with the file named', () => {
    const f2 = path.join(dir, 'not-hex.data')
    writeFileSync(f2, JSON.stringify({ Version: 'v', SessionTicketKey: 'zz'.repeat(48) }))
    confError(() => loadSessionTicketKey(f2), f2, '/SessionTicketKey', /hex/)
    const f3 = path.join(dir, 'missing.data')
    confError(() => loadSessionTicketKey(f3), f3, '', /cannot be read/)
  })

  it('falls back to exactly 48 raw bytes', () => {
    const raw = randomBytes(48)
    const file = path.join(dir, 'raw.key')
    writeFileSync(file, raw)
    const k = loadSessionTicketKey(file)
    assert.deepEqual(k.key, raw)
    assert.equal(k.Version, '')
    confError(
      () => parseSessionTicketKey(F, randomBytes(47)),
      F,
      '',
      /raw 48-byte key \(47 bytes\)/,
    )
    confError(() => parseSessionTicketKey(F, Buffer.from('[1,2]')), F, '', /neither JSON/)
  })

  it('checks Version and the key length', () => {
    const json = (o: unknown) => Buffer.from(JSON.stringify(o))
    const hex = 'AB'.repeat(48)
    assert.equal(
      parseSessionTicketKey(F, json({ Version: 'v', SessionTicketKey: hex })).key[0],
      0xab,
    )
    confError(
      () => parseSessionTicketKey(F, json({ SessionTicketKey: hex })),
      F,
      '/Version',
      /required/,
    )
    confError(
      () => parseSessionTicketKey(F, json({ Version: 'v', SessionTicketKey: 'ab'.repeat(47) })),
      F,
      '/SessionTicketKey',
      /96 hex characters, got 94/,
    )
    confError(
      () => parseSessionTicketKey(F, json({ Version: 'v', SessionTicketKey: 'abc' })),
      F,
      '/SessionTicketKey',
      /hex string/,
    )
    confError(
      () => parseSessionTicketKey(F, json({ Version: 'v' })),
      F,
      '/SessionTicketKey',
      /96 hex/,
    )
  })
})
