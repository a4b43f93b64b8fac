import type { BfeRequest } from '../basic/request.js'
import { type HashConf, HashStrategy } from '../config/cluster-conf-types.js'
import { ipToBytes16 } from '../util/ip.js'

/** The parts of a request the hash key reads (a BfeRequest fits; tests pass plain objects). */
export type HashSource = Pick<BfeRequest, 'headers' | 'cookies' | 'rawUri' | 'clientAddr'>

/** A random number in [0, 1), like Math.random. */
export type RandomSource = () => number

const encoder = new TextEncoder()

/**
 * The bytes hashed for GSLB and sticky picks (balancing.md §2). An empty key becomes 8 random
 * bytes, so the choice is random per request.
 */
export function hashKey(req: HashSource, conf: HashConf, random: RandomSource): Uint8Array {
  let key: Uint8Array | undefined
  switch (conf.HashStrategy) {
    case HashStrategy.ClientIdOnly:
      key = clientIdKey(req, conf.HashHeader)
      break
    case HashStrategy.ClientIdPreferred:
      key = clientIdKey(req, conf.HashHeader) ?? clientIpKey(req.clientAddr)
      break
    case HashStrategy.RequestURI:
      key = req.rawUri === '' ? undefined : encoder.encode(req.rawUri)
      break
    default:
      key = clientIpKey(req.clientAddr)
  }
  return key !== undefined && key.length > 0 ? key : randomKey(random)
}

/** Header value, else the cookie named by a `Cookie:<name>` HashHeader. */
function clientIdKey(req: HashSource, header: string): Uint8Array | undefined {
  if (header === '') return undefined
  const v = req.headers.get(header)
  if (v !== undefined && v !== '') return encoder.encode(v)
  if (header.length > 7 && header.slice(0, 7).toLowerCase() === 'cookie:') {
    const c = req.cookies().get(header.slice(7))
    if (c !== undefined && c !== '') return encoder.encode(c)
  }
  return undefined
}

/** Client IP in its 16-byte form (IPv4 as `::ffff:a.b.c.d`); undefined when unknown. */
export function clientIpKey(addr: string | undefined): Uint8Array | undefined {
  return ipToBytes16(addr)
}

function randomKey(random: RandomSource): Uint8Array {
  const out = new Uint8Array(8)
  for (let i = 0; i < 8; i++) out[i] = Math.floor(random() * 256) & 0xff
  return out
}
