import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { confError } from '../../test/helpers/conf-assert.js'
import { loadSessionTicketKey, parseSessionTicketKey } from './session-ticket-key.js'

const ROOT = path.resolve(fileURLToPath(import.meta.url), '../../../..')
const TESTDATA = path.join(ROOT, 'src/config/testdata/session_ticket_key')
const F = 'session_ticket_key.data'

describe('session_ticket_key.data', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bfe-stk-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('BFE testdata: session_ticket_key.data loads', () => {
    const k = loadSessionTicketKey(path.join(TESTDATA, 'session_ticket_key.data'))
    assert.equal(k.Version, '20141112095308')
    assert.equal(
      k.key.toString('hex'),
      '08a0d852ef494143af613ef32d3c39314758885f7108e9ab021d55f422a454f7c9cd5a53978f48fa1063eadcdc06878f',
    )
    assert.equal(k.key.length, 48)
  })

  it('BFE testdata: session_ticket_key.data2 (not hex) and a missing data3 fail', () => {
    const f2 = path.join(TESTDATA, 'session_ticket_key.data2')
    confError(() => loadSessionTicketKey(f2), f2, '/SessionTicketKey', /hex/)
    const f3 = path.join(TESTDATA, 'session_ticket_key.data3')
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
