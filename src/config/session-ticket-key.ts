import { readFileSync } from 'node:fs'
import { BfeConfError } from '../basic/errors.js'
import { JsonNode } from './json-node.js'

/** Size of a session ticket key: 16 bytes key name + 32 bytes key material (Node's ticketKeys). */
export const SESSION_TICKET_KEY_SIZE = 48

export interface SessionTicketKey {
  /** `Version` of the JSON file; '' for a raw 48-byte file. */
  readonly Version: string
  readonly key: Buffer
}

/**
 * Reads session_ticket_key.data (config.md §6.3): JSON `{Version, SessionTicketKey}` with 96 hex
 * characters, or, when the file is not a JSON object, exactly 48 raw bytes. Throws BfeConfError.
 */
export function loadSessionTicketKey(file: string): SessionTicketKey {
  let data: Buffer
  try {
    data = readFileSync(file)
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    throw new BfeConfError(file, '', `cannot be read: ${msg}`, { cause: err })
  }
  return parseSessionTicketKey(file, data)
}

/** Parses the content of session_ticket_key.data (`file` is used in messages). */
export function parseSessionTicketKey(file: string, data: Buffer): SessionTicketKey {
  let json: unknown
  try {
    json = JSON.parse(data.toString('utf8'))
  } catch {
    json = undefined
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    // not a JSON object: BFE falls back to the raw format
    if (data.length !== SESSION_TICKET_KEY_SIZE) {
      throw new BfeConfError(
        file,
        '',
        `is neither JSON {Version, SessionTicketKey} nor a raw ${SESSION_TICKET_KEY_SIZE}-byte key (${data.length} bytes)`,
      )
    }
    return { Version: '', key: Buffer.from(data) }
  }
  const root = new JsonNode(file, '', json)
  const versionNode = root.get('Version')
  const version = versionNode.string('')
  if (version === '') versionNode.fail('is required (non-empty string)')
  const keyNode = root.get('SessionTicketKey')
  const hex = keyNode.string('')
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) {
    keyNode.fail('must be a hex string')
  }
  if (hex.length !== SESSION_TICKET_KEY_SIZE * 2) {
    keyNode.fail(`must be ${SESSION_TICKET_KEY_SIZE * 2} hex characters, got ${hex.length}`)
  }
  return { Version: version, key: Buffer.from(hex, 'hex') }
}
