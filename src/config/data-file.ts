import { readFileSync } from 'node:fs'
import { BfeConfError } from '../basic/errors.js'
import { JsonNode } from './json-node.js'

// The one way configuration files are read: a missing or unreadable file, or bad JSON, is a
// BfeConfError naming the file and the reason.

/** Reads a configuration file as UTF-8 text (bfe.conf, PEM files, any data file). */
export function readDataFile(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    throw new BfeConfError(file, '', `cannot be read: ${msg}`, { cause: err })
  }
}

/** Reads and parses a JSON data file; a syntax error names the file, line and column. */
export function readJsonFile(file: string): JsonNode {
  return JsonNode.parse(file, readDataFile(file))
}
