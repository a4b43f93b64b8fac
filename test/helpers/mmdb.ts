import { isIPv4 } from 'node:net'

/**
 * A small MaxMind DB (mmdb, format 2.0) writer for tests: an IPv6 search tree (IPv4 networks sit
 * at `::a.b.c.d`, as in MaxMind's City databases) with 32-bit records and the data of each network
 * written inline. No npm package writes this format, so tests build their databases here.
 * Values: strings, booleans, arrays, objects (maps), integers (uint32) and other numbers (double).
 */
export type MmdbValue = string | number | boolean | MmdbValue[] | { [k: string]: MmdbValue }

export interface MmdbNetwork {
  /** `1.2.3.0/24` or `2001:db8::/32`. */
  cidr: string
  data: MmdbValue
}

interface Node {
  kids: [Node | number | undefined, Node | number | undefined]
}

function ipv6Bits(ip: string): number[] {
  const bytes: number[] = []
  if (isIPv4(ip)) {
    for (let i = 0; i < 12; i++) bytes.push(0)
    for (const p of ip.split('.')) bytes.push(Number(p))
  } else {
    const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined]
    const h = head === '' || head === undefined ? [] : head.split(':')
    const t = tail === undefined || tail === '' ? [] : tail.split(':')
    const groups = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t]
    for (const g of groups) {
      const v = Number.parseInt(g, 16)
      bytes.push(v >> 8, v & 0xff)
    }
  }
  const bits: number[] = []
  for (const b of bytes) for (let i = 7; i >= 0; i--) bits.push((b >> i) & 1)
  return bits
}

function ctrl(type: number, size: number): Buffer {
  const ext = type > 7
  const head: number[] = []
  let sizeBits: number
  const extra: number[] = []
  if (size < 29) sizeBits = size
  else if (size < 285) {
    sizeBits = 29
    extra.push(size - 29)
  } else if (size < 65821) {
    sizeBits = 30
    const v = size - 285
    extra.push(v >> 8, v & 0xff)
  } else {
    sizeBits = 31
    const v = size - 65821
    extra.push((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
  }
  head.push(((ext ? 0 : type) << 5) | sizeBits)
  if (ext) head.push(type - 7)
  return Buffer.from([...head, ...extra])
}

function encode(v: MmdbValue): Buffer {
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8')
    return Buffer.concat([ctrl(2, b.length), b])
  }
  if (typeof v === 'boolean') return ctrl(14, v ? 1 : 0)
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) {
      const bytes: number[] = []
      for (let x = v; x > 0; x = Math.floor(x / 256)) bytes.unshift(x % 256)
      return Buffer.concat([ctrl(6, bytes.length), Buffer.from(bytes)])
    }
    const b = Buffer.alloc(8)
    b.writeDoubleBE(v)
    return Buffer.concat([ctrl(3, 8), b])
  }
  if (Array.isArray(v)) return Buffer.concat([ctrl(11, v.length), ...v.map(encode)])
  const keys = Object.keys(v)
  const parts: Buffer[] = [ctrl(7, keys.length)]
  for (const k of keys) parts.push(encode(k), encode(v[k] as MmdbValue))
  return Buffer.concat(parts)
}

/** Builds an mmdb file: the given networks, with `databaseType` in the metadata. */
export function buildMmdb(networks: MmdbNetwork[], databaseType = 'GeoIP2-City'): Buffer {
  const root: Node = { kids: [undefined, undefined] }
  const data: Buffer[] = []
  let dataSize = 0
  for (const n of networks) {
    const [ip, len] = n.cidr.split('/') as [string, string]
    const bits = ipv6Bits(ip)
    const prefix = Number(len) + (isIPv4(ip) ? 96 : 0)
    const enc = encode(n.data)
    const offset = dataSize
    data.push(enc)
    dataSize += enc.length
    let node = root
    for (let i = 0; i < prefix - 1; i++) {
      const bit = bits[i] as 0 | 1
      let next = node.kids[bit]
      if (typeof next !== 'object') {
        next = { kids: [next, next] }
        node.kids[bit] = next
      }
      node = next
    }
    node.kids[bits[prefix - 1] as 0 | 1] = offset
  }
  // number the nodes breadth-first
  const order: Node[] = []
  const index = new Map<Node, number>()
  const queue: Node[] = [root]
  while (queue.length > 0) {
    const n = queue.shift() as Node
    index.set(n, order.length)
    order.push(n)
    for (const k of n.kids) if (typeof k === 'object') queue.push(k)
  }
  const nodeCount = order.length
  const tree = Buffer.alloc(nodeCount * 8)
  order.forEach((n, i) => {
    n.kids.forEach((k, side) => {
      let rec: number
      if (k === undefined) rec = nodeCount
      else if (typeof k === 'number') rec = nodeCount + 16 + k
      else rec = index.get(k) as number
      tree.writeUInt32BE(rec, i * 8 + side * 4)
    })
  })
  const meta = encode({
    node_count: nodeCount,
    record_size: 32,
    ip_version: 6,
    database_type: databaseType,
    languages: ['en'],
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: 1700000000,
    description: { en: 'bfe-ts test database' },
  })
  return Buffer.concat([
    tree,
    Buffer.alloc(16),
    ...data,
    Buffer.from('ABCDEF4D61784D696E642E636F6D', 'hex'),
    meta,
  ])
}

/** A City record as MaxMind's City databases shape it. */
export function cityRecord(o: {
  country: string
  subdivision?: string
  city?: string
  latitude: number
  longitude: number
}): MmdbValue {
  const rec: { [k: string]: MmdbValue } = {
    country: { iso_code: o.country, names: { en: o.country } },
    location: { latitude: o.latitude, longitude: o.longitude },
  }
  if (o.subdivision !== undefined) rec['subdivisions'] = [{ iso_code: o.subdivision }]
  if (o.city !== undefined) rec['city'] = { names: { en: o.city } }
  return rec
}
