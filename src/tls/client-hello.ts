// ClientHello peek: reads the first bytes of a connection on the TLS port, before node:tls sees them,
// so the connection layer can pick the certificate, the TLS rule and the ALPN list, spot plaintext
// HTTP sent to the TLS port, and record the JA3 fingerprint (protocols.md §1).
//
// Pure: no sockets, no timers. The caller appends every read to one buffer and calls again while the
// answer is `more`. Every length field is checked against the bytes actually present, so a lying
// length can only yield `more` (not enough bytes yet) or `bad`; nothing here throws on input.
import { createHash } from 'node:crypto'

export interface ClientHello {
  /** `legacy_version` of the hello (0x0303 for TLS 1.2 and 1.3 clients), or the SSLv2 hello's version. */
  legacyVersion: number
  /** server_name host_name, lower-cased, trailing dots stripped; '' if none. */
  sni: string
  /** ALPN protocol names in the client's order. */
  alpn: string[]
  /** supported_versions (TLS 1.3 clients), GREASE included, in order. */
  supportedVersions: number[]
  /** Cipher suites in order, GREASE included. For SSLv2 hellos, the specs that map to TLS suites. */
  cipherSuites: number[]
  /** Extension types in order, GREASE included. */
  extensions: number[]
  /** supported_groups (elliptic_curves) in order, GREASE included. */
  groups: number[]
  /** ec_point_formats in order. */
  pointFormats: number[]
  /** True for an SSLv2-format (high bit set) ClientHello. */
  sslv2: boolean
  /** JA3 string: `version,ciphers,extensions,groups,pointformats`, GREASE values left out. */
  ja3: string
  /** MD5 of `ja3`, lower-case hex. */
  ja3Hash: string
}

export type HelloPeek =
  | { kind: 'more' }
  | { kind: 'hello'; hello: ClientHello }
  | { kind: 'not-tls' }
  | { kind: 'bad'; reason: string }

const RECORD_HANDSHAKE = 0x16
const HANDSHAKE_CLIENT_HELLO = 1
const RECORD_HEADER = 5
const HANDSHAKE_HEADER = 4
/** Largest TLSPlaintext fragment (RFC 8446 §5.1, RFC 5246 §6.2.1). */
const MAX_FRAGMENT = 16384

const EXT_SERVER_NAME = 0
const EXT_SUPPORTED_GROUPS = 10
const EXT_EC_POINT_FORMATS = 11
const EXT_ALPN = 16
const EXT_SUPPORTED_VERSIONS = 43

const MORE: HelloPeek = { kind: 'more' }
const NOT_TLS: HelloPeek = { kind: 'not-tls' }

function bad(reason: string): HelloPeek {
  return { kind: 'bad', reason }
}

/**
 * Looks at the bytes received so far on a TLS port.
 * `maxBytes` caps how much of the stream the hello (records and headers included) may take; a hello
 * that needs more is `bad`.
 */
export function peekClientHello(buf: Buffer, maxBytes: number): HelloPeek {
  if (buf.length === 0) return MORE
  const first = buf[0] ?? 0
  if (first === RECORD_HANDSHAKE) return peekRecords(buf, maxBytes)
  if ((first & 0x80) !== 0) return peekSslv2(buf, maxBytes)
  return NOT_TLS
}

/** TLS records: gathers the handshake fragments until the ClientHello message is complete. */
function peekRecords(buf: Buffer, maxBytes: number): HelloPeek {
  // Fragments are copied only when the hello spans more than one record.
  let off = 0
  let single: Buffer | undefined
  let parts: Buffer[] | undefined
  let have = 0
  let need = -1 // total handshake bytes (header + body) once the header is known
  while (true) {
    if (off + RECORD_HEADER > buf.length) return moreOrOver(off + RECORD_HEADER, maxBytes)
    const type = buf[off] ?? 0
    const major = buf[off + 1] ?? 0
    const len = ((buf[off + 3] ?? 0) << 8) | (buf[off + 4] ?? 0)
    if (type !== RECORD_HANDSHAKE) return bad(`record type ${type} before the ClientHello ended`)
    if (major !== 3) return bad(`record version ${major}.${buf[off + 2] ?? 0} is not TLS`)
    if (len === 0) return bad('empty handshake record')
    if (len > MAX_FRAGMENT) return bad(`record length ${len} over ${MAX_FRAGMENT}`)
    const end = off + RECORD_HEADER + len
    if (end > maxBytes) return bad(`ClientHello larger than ${maxBytes} bytes`)
    if (end > buf.length) return MORE
    const frag = buf.subarray(off + RECORD_HEADER, end)
    if (single === undefined && parts === undefined) single = frag
    else {
      if (parts === undefined) parts = single === undefined ? [] : [single]
      parts.push(frag)
    }
    have += len
    off = end
    if (need < 0 && have >= HANDSHAKE_HEADER) {
      const head = parts === undefined ? single : Buffer.concat(parts, have)
      if (head === undefined) return bad('internal: no fragment')
      if (head[0] !== HANDSHAKE_CLIENT_HELLO)
        return bad(`handshake type ${head[0]} is not ClientHello`)
      const bodyLen = ((head[1] ?? 0) << 16) | ((head[2] ?? 0) << 8) | (head[3] ?? 0)
      need = HANDSHAKE_HEADER + bodyLen
      // Each further record costs a header too; the lower bound alone already rules out a liar.
      if (need + RECORD_HEADER > maxBytes) return bad(`ClientHello larger than ${maxBytes} bytes`)
    }
    if (need >= 0 && have >= need) {
      const msg = parts === undefined ? single : Buffer.concat(parts, have)
      if (msg === undefined) return bad('internal: no fragment')
      return parseHelloBody(msg.subarray(HANDSHAKE_HEADER, need))
    }
  }
}

/** `needed` bytes are required before anything more can be said. */
function moreOrOver(needed: number, maxBytes: number): HelloPeek {
  return needed > maxBytes ? bad(`ClientHello larger than ${maxBytes} bytes`) : MORE
}

/** A small cursor over one buffer; every read checks the bounds and flips `ok` instead of throwing. */
class Reader {
  ok = true
  pos: number
  readonly end: number
  readonly b: Buffer
  constructor(b: Buffer, start = 0, end = b.length) {
    this.b = b
    this.pos = start
    this.end = end
  }
  left(): number {
    return this.end - this.pos
  }
  u8(): number {
    if (this.pos + 1 > this.end) return this.fail()
    return this.b[this.pos++] ?? 0
  }
  u16(): number {
    if (this.pos + 2 > this.end) return this.fail()
    const v = ((this.b[this.pos] ?? 0) << 8) | (this.b[this.pos + 1] ?? 0)
    this.pos += 2
    return v
  }
  /** A sub-reader over the next n bytes (the cursor moves past them). */
  sub(n: number): Reader {
    if (n < 0 || this.pos + n > this.end) {
      this.fail()
      return new Reader(this.b, this.end, this.end)
    }
    const r = new Reader(this.b, this.pos, this.pos + n)
    this.pos += n
    return r
  }
  skip(n: number): void {
    if (this.pos + n > this.end) this.fail()
    else this.pos += n
  }
  private fail(): number {
    this.ok = false
    this.pos = this.end
    return 0
  }
}

function u16List(r: Reader, out: number[]): boolean {
  if (r.left() % 2 !== 0) return false
  while (r.left() > 0) out.push(r.u16())
  return r.ok
}

/** The ClientHello body (after the 4-byte handshake header). */
function parseHelloBody(body: Buffer): HelloPeek {
  const r = new Reader(body)
  const legacyVersion = r.u16()
  r.skip(32) // random
  const sidLen = r.u8()
  if (!r.ok) return bad('truncated ClientHello')
  if (sidLen > 32) return bad(`session id length ${sidLen} over 32`)
  r.skip(sidLen)
  const csLen = r.u16()
  if (!r.ok) return bad('truncated ClientHello')
  if (csLen === 0 || csLen % 2 !== 0) return bad(`cipher suites length ${csLen} is invalid`)
  const cipherSuites: number[] = []
  const cs = r.sub(csLen)
  if (!r.ok || !u16List(cs, cipherSuites)) return bad('cipher suites run past the message')
  const compLen = r.u8()
  if (!r.ok) return bad('truncated ClientHello')
  if (compLen === 0) return bad('no compression methods')
  r.skip(compLen)
  if (!r.ok) return bad('compression methods run past the message')

  const hello = newHello(legacyVersion, cipherSuites, false)
  if (r.left() > 0) {
    const extLen = r.u16()
    if (!r.ok) return bad('truncated extensions length')
    if (extLen !== r.left()) return bad(`extensions length ${extLen} does not match the message`)
    const seen = new Set<number>()
    while (r.left() > 0) {
      const type = r.u16()
      const len = r.u16()
      const data = r.sub(len)
      if (!r.ok) return bad('extension runs past the message')
      if (seen.has(type)) return bad(`duplicate extension ${type}`)
      seen.add(type)
      hello.extensions.push(type)
      const err = parseExtension(type, data, hello)
      if (err !== undefined) return bad(err)
    }
  }
  return finish(hello)
}

/** Returns an error text, or undefined when the extension is fine (or not one we read). */
function parseExtension(type: number, r: Reader, hello: ClientHello): string | undefined {
  switch (type) {
    case EXT_SERVER_NAME: {
      // An empty server_name is what servers send back; from a client it is malformed but harmless.
      if (r.left() === 0) return undefined
      const list = r.sub(r.u16())
      if (!r.ok || r.left() !== 0) return 'server_name list length does not match'
      while (list.left() > 0) {
        const nameType = list.u8()
        const name = list.sub(list.u16())
        if (!list.ok) return 'server_name entry runs past the extension'
        if (nameType !== 0 || hello.sni !== '') continue
        const sni = hostName(name)
        if (sni === undefined) return 'server_name host_name is not a valid name'
        hello.sni = sni
      }
      return undefined
    }
    case EXT_ALPN: {
      const list = r.sub(r.u16())
      if (!r.ok || r.left() !== 0) return 'ALPN list length does not match'
      while (list.left() > 0) {
        const n = list.u8()
        const p = list.sub(n)
        if (!list.ok || n === 0) return 'ALPN protocol name is empty or runs past the extension'
        hello.alpn.push(p.b.toString('latin1', p.pos, p.end))
      }
      return undefined
    }
    case EXT_SUPPORTED_GROUPS: {
      const list = r.sub(r.u16())
      if (!r.ok || r.left() !== 0 || !u16List(list, hello.groups))
        return 'supported_groups malformed'
      return undefined
    }
    case EXT_EC_POINT_FORMATS: {
      const list = r.sub(r.u8())
      if (!r.ok || r.left() !== 0) return 'ec_point_formats malformed'
      while (list.left() > 0) hello.pointFormats.push(list.u8())
      return undefined
    }
    case EXT_SUPPORTED_VERSIONS: {
      const list = r.sub(r.u8())
      if (!r.ok || r.left() !== 0 || !u16List(list, hello.supportedVersions))
        return 'supported_versions malformed'
      return undefined
    }
    default:
      return undefined
  }
}

/** Printable ASCII without spaces, lower-cased, trailing dots removed; undefined when invalid. */
function hostName(r: Reader): string | undefined {
  let end = r.end
  while (end > r.pos && r.b[end - 1] === 0x2e) end--
  if (end === r.pos) return undefined
  for (let i = r.pos; i < end; i++) {
    const c = r.b[i] ?? 0
    if (c <= 0x20 || c >= 0x7f) return undefined
  }
  return r.b.toString('latin1', r.pos, end).toLowerCase()
}

/**
 * SSLv2-format CLIENT-HELLO (RFC 5246 Appendix E.2): 2-byte length with the high bit set, then
 * msg_type 1, version, cipher_spec_length, session_id_length, challenge_length and the three fields.
 * It carries no extensions, so no SNI and no ALPN.
 */
function peekSslv2(buf: Buffer, maxBytes: number): HelloPeek {
  if (buf.length < 2) return MORE
  const msgLen = (((buf[0] ?? 0) & 0x7f) << 8) | (buf[1] ?? 0)
  if (buf.length >= 3 && buf[2] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS
  if (msgLen < 9) return bad(`SSLv2 hello length ${msgLen} too short`)
  const total = 2 + msgLen
  if (total > maxBytes) return bad(`ClientHello larger than ${maxBytes} bytes`)
  if (buf.length < total) return MORE
  const r = new Reader(buf, 3, total)
  const legacyVersion = r.u16()
  const specLen = r.u16()
  const sidLen = r.u16()
  const chLen = r.u16()
  if (!r.ok) return bad('truncated SSLv2 hello')
  if (legacyVersion < 0x0300)
    return bad(`SSLv2 hello version ${legacyVersion} is not SSLv3 or later`)
  if (specLen === 0 || specLen % 3 !== 0) return bad(`SSLv2 cipher spec length ${specLen} invalid`)
  if (sidLen !== 0 && sidLen !== 16) return bad(`SSLv2 session id length ${sidLen} invalid`)
  if (chLen < 16 || chLen > 32) return bad(`SSLv2 challenge length ${chLen} invalid`)
  if (r.left() !== specLen + sidLen + chLen) return bad('SSLv2 hello lengths do not add up')
  const cipherSuites: number[] = []
  for (let i = 0; i < specLen; i += 3) {
    const kind = r.u8()
    const suite = r.u16()
    // Specs with a zero first byte are TLS cipher suites; the rest are SSLv2-only kinds.
    if (kind === 0) cipherSuites.push(suite)
  }
  return finish(newHello(legacyVersion, cipherSuites, true))
}

/** RFC 8701 GREASE values: 0x0a0a, 0x1a1a, … 0xfafa (both bytes equal, low nibble 0xa). */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff)
}

function joinNoGrease(values: readonly number[]): string {
  let s = ''
  for (const v of values) {
    if (isGrease(v)) continue
    s = s === '' ? String(v) : `${s}-${v}`
  }
  return s
}

/** JA3 (github.com/salesforce/ja3): SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats. */
export function ja3String(
  h: Pick<ClientHello, 'legacyVersion' | 'cipherSuites' | 'extensions' | 'groups' | 'pointFormats'>,
): string {
  return `${h.legacyVersion},${joinNoGrease(h.cipherSuites)},${joinNoGrease(h.extensions)},${joinNoGrease(h.groups)},${h.pointFormats.join('-')}`
}

function finish(hello: ClientHello): HelloPeek {
  hello.ja3 = ja3String(hello)
  hello.ja3Hash = createHash('md5').update(hello.ja3).digest('hex')
  return { kind: 'hello', hello }
}

/** A ClientHello with its version and suites, before the extensions are read. */
function newHello(legacyVersion: number, cipherSuites: number[], sslv2: boolean): ClientHello {
  return {
    legacyVersion,
    sni: '',
    alpn: [],
    supportedVersions: [],
    cipherSuites,
    extensions: [],
    groups: [],
    pointFormats: [],
    sslv2,
    ja3: '',
    ja3Hash: '',
  }
}
