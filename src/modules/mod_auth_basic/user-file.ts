import { createHash, timingSafeEqual } from 'node:crypto'
import aprMd5Module from 'apache-md5'
import bcrypt from 'bcryptjs'
import { BfeConfError } from '../../basic/errors.js'
import { readDataFile } from '../../config/data-file.js'

/**
 * The password hash formats of an htpasswd-style user file (spec/modules.md §7). A line whose
 * hash is none of them loads (as in BFE) but can never authenticate; the loader warns about it.
 */
export type HashKind = 'apr1' | 'md5crypt' | 'sha' | 'bcrypt' | 'unsupported'

export interface UserEntry {
  readonly kind: HashKind
  /** The hash as written (`$apr1$salt$...`, `{SHA}...`, `$2y$10$...`). */
  readonly hash: string
  /** `{SHA}`: the 20-byte digest, decoded once at load. */
  readonly digest: Buffer | undefined
}

export interface UserFile {
  readonly users: ReadonlyMap<string, UserEntry>
  readonly warnings: readonly string[]
}

const MD5_CRYPT = /^\$(apr1|1)\$[^$]{0,8}\$[./0-9A-Za-z]{22}$/
const BCRYPT = /^\$2[aby]\$\d\d\$[./0-9A-Za-z]{53}$/

/** The kind of a stored hash, and the `{SHA}` digest. */
export function classifyHash(hash: string): { kind: HashKind; digest: Buffer | undefined } {
  if (hash.startsWith('{SHA}')) {
    const b64 = hash.slice(5)
    const digest = Buffer.from(b64, 'base64')
    if (digest.length === 20 && /^[A-Za-z0-9+/]{27}=$/.test(b64)) return { kind: 'sha', digest }
    return { kind: 'unsupported', digest: undefined }
  }
  const m = MD5_CRYPT.exec(hash)
  if (m !== null) return { kind: m[1] === 'apr1' ? 'apr1' : 'md5crypt', digest: undefined }
  if (BCRYPT.test(hash)) return { kind: 'bcrypt', digest: undefined }
  return { kind: 'unsupported', digest: undefined }
}

/**
 * Parses a user file: `user:hash` or `user:hash:comment` per line, both parts trimmed. Empty lines
 * and lines containing `#` anywhere are skipped (BFE's rule); any other shape is an error naming
 * the file and line. A later line for the same user replaces an earlier one.
 */
export function parseUserFile(file: string, text: string): UserFile {
  const users = new Map<string, UserEntry>()
  const warnings: string[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '').replace(/^[ \t]+|[ \t]+$/g, '')
    if (line === '' || line.includes('#')) continue
    const parts = line.split(':')
    if (parts.length !== 2 && parts.length !== 3)
      throw new BfeConfError(
        file,
        `line ${i + 1}`,
        `must be user:hash or user:hash:comment, got ${parts.length} fields`,
      )
    const user = (parts[0] ?? '').trim()
    const hash = (parts[1] ?? '').trim()
    const { kind, digest } = classifyHash(hash)
    if (kind === 'unsupported')
      warnings.push(
        `${file}: line ${i + 1} user "${user}" has a hash in no supported format ($apr1$, $1$, {SHA}, bcrypt): this user can never log in`,
      )
    users.set(user, { kind, hash, digest })
  }
  return { users, warnings }
}

/** Reads and parses a user file. */
export function loadUserFile(file: string): UserFile {
  return parseUserFile(file, readDataFile(file))
}

// apache-md5 is CommonJS (`module.exports = fn`) while its typings declare an ES default export.
const aprMd5 = aprMd5Module as unknown as (password: string, salt: string) => string

/** Constant-time equality of two strings of the same format. */
function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'latin1')
  const y = Buffer.from(b, 'latin1')
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * Checks `password` (the bytes the client sent) against a stored entry. MD5-crypt and `{SHA}` are
 * answered at once; bcrypt is computed off the event loop's critical path (bcryptjs' async form
 * yields between rounds), so a Promise comes back.
 */
export function verifyPassword(entry: UserEntry, password: Buffer): boolean | Promise<boolean> {
  switch (entry.kind) {
    case 'sha': {
      const d = createHash('sha1').update(password).digest()
      return entry.digest !== undefined && timingSafeEqual(d, entry.digest)
    }
    case 'apr1':
    case 'md5crypt':
      // apache-md5 hashes the string's code units as bytes: give it the password's raw bytes.
      return sameText(aprMd5(password.toString('latin1'), entry.hash), entry.hash)
    case 'bcrypt':
      return bcrypt.compare(password.toString('utf8'), entry.hash)
    default:
      return false
  }
}

/** verifyPassword computed synchronously (bcrypt included): for `bfe explain`, not for serving. */
export function verifyPasswordSync(entry: UserEntry, password: Buffer): boolean {
  if (entry.kind === 'bcrypt') return bcrypt.compareSync(password.toString('utf8'), entry.hash)
  return verifyPassword(entry, password) as boolean
}
