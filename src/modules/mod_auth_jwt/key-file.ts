import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { decodeProtectedHeader, jwtVerify } from 'jose'
import { BfeConfError } from '../../basic/errors.js'
import { readJsonFile } from '../../config/data-file.js'
import type { JsonNode } from '../../config/json-node.js'

/** One verification key of a key file and the JWS algorithms it can check. */
export interface JwtKey {
  readonly kid: string | undefined
  readonly key: KeyObject
  readonly algorithms: readonly string[]
}

const HMAC = ['HS256', 'HS384', 'HS512'] as const
const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const
const EC: Readonly<Record<string, string>> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
}

/**
 * Reads a key file: a JSON array of JWKs (RFC 7517). `oct` keys verify HMAC tokens; `RSA`, `EC`
 * and `OKP` (Ed25519) keys verify signatures with their public part (a private JWK is reduced to
 * its public key). Errors name the file and the JSON pointer of the bad key.
 */
export function loadKeyFile(file: string): JwtKey[] {
  const root = readJsonFile(file)
  const out: JwtKey[] = []
  for (const item of root.items(true)) {
    // Annotated so that `node.fail` (never) narrows types.
    const node: JsonNode = item
    const jwk = node.value
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
      node.fail('must be a JWK object')
    const o = jwk as { kty?: unknown; kid?: unknown; k?: unknown; crv?: unknown }
    const kty = o.kty
    const kid = typeof o.kid === 'string' ? o.kid : undefined
    try {
      if (kty === 'oct') {
        const k = o.k
        if (typeof k !== 'string' || !/^[A-Za-z0-9_-]*$/.test(k))
          node.fail('"k" must be a base64url string')
        const secret = Buffer.from(k, 'base64url')
        if (secret.length === 0) node.fail('"k" must not be empty')
        out.push({ kid, key: createSecretKey(secret), algorithms: HMAC })
      } else if (kty === 'RSA' || kty === 'EC' || kty === 'OKP') {
        const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
        let algorithms: readonly string[]
        if (kty === 'RSA') algorithms = RSA
        else if (kty === 'EC') {
          const alg = EC[String(o.crv)]
          if (alg === undefined) node.fail(`EC curve "${String(o.crv)}" is not supported`)
          algorithms = [alg]
        } else {
          if (o.crv !== 'Ed25519') node.fail(`OKP curve "${String(o.crv)}" is not supported`)
          algorithms = ['EdDSA', 'Ed25519']
        }
        out.push({ kid, key, algorithms })
      } else node.fail(`"kty" must be "oct", "RSA", "EC" or "OKP", got ${JSON.stringify(kty)}`)
    } catch (err) {
      if (err instanceof BfeConfError) throw err
      const msg = err instanceof Error ? err.message : String(err)
      throw new BfeConfError(file, node.pointer, `is not a usable JWK: ${msg}`, { cause: err })
    }
  }
  return out
}

/**
 * The token of an `Authorization` header: exactly two parts separated by a single space, the
 * first exactly `Bearer`. `undefined` when the header is absent, `null` when it is malformed.
 */
export function bearerToken(header: string | undefined): string | undefined | null {
  if (header === undefined || header === '') return undefined
  const sp = header.indexOf(' ')
  if (sp === -1 || header.indexOf(' ', sp + 1) !== -1) return null
  if (header.slice(0, sp) !== 'Bearer') return null
  return header.slice(sp + 1)
}

/**
 * True when `token` verifies with any key of `keys` (the `kid` is not consulted) under the
 * algorithm its header names, and its time claims hold: `exp` not passed, `nbf` and `iat` not in
 * the future (absent claims are fine). `none` is never accepted.
 */
export async function verifyToken(
  token: string,
  keys: readonly JwtKey[],
  now = Date.now(),
): Promise<boolean> {
  let alg: string | undefined
  try {
    alg = decodeProtectedHeader(token).alg
  } catch {
    return false
  }
  if (alg === undefined || alg === 'none') return false
  const nowSec = Math.floor(now / 1000)
  for (const k of keys) {
    if (!k.algorithms.includes(alg)) continue
    try {
      const { payload } = await jwtVerify(token, k.key, {
        algorithms: [alg],
        currentDate: new Date(now),
      })
      if (typeof payload.iat === 'number' && payload.iat > nowSec) continue
      return true
    } catch {}
  }
  return false
}
