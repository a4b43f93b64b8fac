/*
 * The PROXY protocol (protocols.md §6), versions 1 and 2, as the first stage of a connection when
 * `Layer4LoadBalancer = PROXY`: before HandleAccept and before TLS. The header is optional per
 * connection; its source becomes the session's remote address and its destination the VIP.
 *
 * The parser is written here rather than taken from npm: the stage must tell "need more bytes"
 * from "malformed" from "not a PROXY header at all" on a partial buffer, and enforce
 * MaxProxyHeaderBytes before buffering; the npm parsers take a complete header and throw.
 */
import ipaddr from 'ipaddr.js'
import { ErrCode } from '../../basic/error-code.js'
import {
  newProxyProtocolStateCounters,
  type ProxyProtocolStateCounters,
} from '../../monitor/state-counters.js'
import type { Conn } from './conn.js'
import { Deadline } from './deadlines.js'

/** `PROXY` */
const SIG_V1 = Buffer.from('PROXY', 'latin1')
/** The 12-byte signature of version 2. */
const SIG_V2 = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
/** A version 1 line is at most 107 bytes, CRLF included. */
const MAX_V1_BYTES = 107
/** Fixed part of a version 2 header: signature, version/command, family, length. */
const V2_FIXED = 16

/** MaxProxyHeaderBytes = 0 means this. */
export const DEFAULT_MAX_PROXY_HEADER_BYTES = 2048

/** A parsed header. Addresses are in normalised text form (IPv4 dotted, IPv6 compressed). */
export interface ProxyHeader {
  readonly version: 1 | 2
  /** Bytes the header takes at the start of the connection. */
  readonly length: number
  /**
   * False when the header carries no usable address: v2 `LOCAL`, v1 `UNKNOWN`, v2 `UNSPEC` or
   * `AF_UNIX`. The connection then keeps its real addresses.
   */
  readonly hasAddresses: boolean
  readonly srcAddr: string
  readonly srcPort: number
  readonly dstAddr: string
  readonly dstPort: number
}

/** Why a header was refused: it could not be read completely, or it is malformed. */
export type ProxyFault = 'read' | 'invalid'

export type ProxyPeek =
  | { readonly kind: 'more' }
  /** No PROXY signature: a plain connection, served as is. */
  | { readonly kind: 'none' }
  | {
      readonly kind: 'bad'
      readonly version: 1 | 2
      readonly fault: ProxyFault
      readonly reason: string
    }
  | { readonly kind: 'ok'; readonly header: ProxyHeader }

const MORE: ProxyPeek = Object.freeze({ kind: 'more' })
const NONE: ProxyPeek = Object.freeze({ kind: 'none' })

function bad(version: 1 | 2, fault: ProxyFault, reason: string): ProxyPeek {
  return { kind: 'bad', version, fault, reason }
}

/** True when the first bytes of `buf` agree with `sig` (as far as both go). */
function prefixOf(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length)
  for (let i = 0; i < n; i++) if (buf[i] !== sig[i]) return false
  return true
}

/**
 * Looks at the first bytes of a connection. `maxBytes` bounds the whole header
 * (MaxProxyHeaderBytes); a version 1 line is also bounded by the protocol's 107 bytes.
 */
export function peekProxyHeader(buf: Buffer, maxBytes: number): ProxyPeek {
  if (buf.length === 0) return MORE
  const v1 = prefixOf(buf, SIG_V1)
  const v2 = prefixOf(buf, SIG_V2)
  if (!v1 && !v2) return NONE
  if (v1) return buf.length < SIG_V1.length ? MORE : parseV1(buf, maxBytes)
  return buf.length < SIG_V2.length ? MORE : parseV2(buf, maxBytes)
}

function parseV1(buf: Buffer, maxBytes: number): ProxyPeek {
  const limit = Math.min(maxBytes, MAX_V1_BYTES)
  const lf = buf.indexOf(0x0a)
  if (lf === -1 || lf >= limit) {
    if (buf.length < limit) return MORE
    if (limit < MAX_V1_BYTES) return bad(1, 'read', `header longer than ${limit} bytes`)
    return bad(1, 'invalid', `no CRLF within ${MAX_V1_BYTES} bytes`)
  }
  if (lf === 0 || buf[lf - 1] !== 0x0d) return bad(1, 'invalid', 'line does not end with CRLF')
  const line = buf.toString('latin1', 0, lf - 1)
  const t = line.split(' ')
  if (t[0] !== 'PROXY') return bad(1, 'invalid', 'no space after PROXY')
  const length = lf + 1
  const proto = t[1]
  if (proto === 'UNKNOWN') {
    // Whatever follows UNKNOWN is to be ignored: the connection keeps its real addresses.
    return { kind: 'ok', header: noAddresses(1, length) }
  }
  if (proto !== 'TCP4' && proto !== 'TCP6')
    return bad(1, 'invalid', `unsupported protocol "${proto ?? ''}"`)
  if (t.length !== 6) return bad(1, 'invalid', `expected 6 fields, got ${t.length}`)
  const src = v1Address(proto, t[2] as string)
  const dst = v1Address(proto, t[3] as string)
  if (src === undefined || dst === undefined) return bad(1, 'invalid', `bad ${proto} address`)
  const srcPort = v1Port(t[4] as string)
  const dstPort = v1Port(t[5] as string)
  if (srcPort < 0 || dstPort < 0) return bad(1, 'invalid', 'bad port number')
  return {
    kind: 'ok',
    header: {
      version: 1,
      length,
      hasAddresses: true,
      srcAddr: src,
      srcPort,
      dstAddr: dst,
      dstPort,
    },
  }
}

function v1Address(proto: 'TCP4' | 'TCP6', s: string): string | undefined {
  if (proto === 'TCP4') {
    return ipaddr.IPv4.isValidFourPartDecimal(s) ? ipaddr.IPv4.parse(s).toString() : undefined
  }
  if (s.includes('%') || !s.includes(':') || !ipaddr.IPv6.isValid(s)) return undefined
  return ipaddr.process(s).toString()
}

/** A decimal port 0–65535, -1 when invalid. */
function v1Port(s: string): number {
  if (!/^\d{1,5}$/.test(s)) return -1
  const n = Number(s)
  return n <= 65535 ? n : -1
}

function noAddresses(version: 1 | 2, length: number): ProxyHeader {
  return { version, length, hasAddresses: false, srcAddr: '', srcPort: 0, dstAddr: '', dstPort: 0 }
}

/** Address families of version 2 (high nibble of byte 13). */
const AF_UNSPEC = 0x0
const AF_INET = 0x1
const AF_INET6 = 0x2
const AF_UNIX = 0x3

function parseV2(buf: Buffer, maxBytes: number): ProxyPeek {
  if (buf.length < V2_FIXED) return MORE
  const verCmd = buf[12] as number
  if (verCmd >> 4 !== 2) return bad(2, 'invalid', `unsupported version ${verCmd >> 4}`)
  const cmd = verCmd & 0x0f
  if (cmd > 1) return bad(2, 'invalid', `unsupported command ${cmd}`)
  const famProto = buf[13] as number
  const family = famProto >> 4
  const transport = famProto & 0x0f
  const len = buf.readUInt16BE(14)
  const total = V2_FIXED + len
  if (total > maxBytes) return bad(2, 'read', `header of ${total} bytes exceeds ${maxBytes}`)
  if (family > AF_UNIX || transport > 2)
    return bad(2, 'invalid', `unsupported address family 0x${famProto.toString(16)}`)
  const need = family === AF_INET ? 12 : family === AF_INET6 ? 36 : family === AF_UNIX ? 216 : 0
  if (cmd === 1 && len < need) return bad(2, 'invalid', `length ${len} too short for its family`)
  if (buf.length < total) return MORE
  // LOCAL (health checks of the balancer itself), UNSPEC and AF_UNIX carry no IP address;
  // the bytes after the addresses are TLVs, which nothing here needs: skipped with the header.
  if (cmd === 0 || family === AF_UNSPEC || family === AF_UNIX || transport === 0) {
    return { kind: 'ok', header: noAddresses(2, total) }
  }
  let srcAddr: string
  let dstAddr: string
  let p: number
  if (family === AF_INET) {
    srcAddr = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`
    dstAddr = `${buf[20]}.${buf[21]}.${buf[22]}.${buf[23]}`
    p = 24
  } else {
    srcAddr = ipv6Text(buf, 16)
    dstAddr = ipv6Text(buf, 32)
    p = 48
  }
  return {
    kind: 'ok',
    header: {
      version: 2,
      length: total,
      hasAddresses: true,
      srcAddr,
      srcPort: buf.readUInt16BE(p),
      dstAddr,
      dstPort: buf.readUInt16BE(p + 2),
    },
  }
}

/** Text of the 16-byte address at `off` (IPv4-mapped addresses become IPv4, as everywhere). */
function ipv6Text(buf: Buffer, off: number): string {
  const bytes = Array.from(buf.subarray(off, off + 16))
  const v6 = new ipaddr.IPv6(bytes)
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toString()
}

/** One address and port of a header to write (text as in Session.remoteAddr). */
export interface ProxyEndpoint {
  readonly addr: string
  readonly port: number
}

/**
 * A PROXY header to send to a backend (the stream engine's `pp=1|2`): `PROXY` command, TCP over
 * IPv4 when both addresses are IPv4, else TCP over IPv6 (an IPv4 address then written
 * IPv4-mapped). Undefined when an address does not parse.
 */
export function encodeProxyHeader(
  version: 1 | 2,
  src: ProxyEndpoint,
  dst: ProxyEndpoint,
): Buffer | undefined {
  let s: ipaddr.IPv4 | ipaddr.IPv6
  let d: ipaddr.IPv4 | ipaddr.IPv6
  try {
    s = ipaddr.process(src.addr)
    d = ipaddr.process(dst.addr)
  } catch {
    return undefined
  }
  if (s.kind() !== d.kind()) {
    if (s.kind() === 'ipv4') s = (s as ipaddr.IPv4).toIPv4MappedAddress()
    if (d.kind() === 'ipv4') d = (d as ipaddr.IPv4).toIPv4MappedAddress()
  }
  const v4 = s.kind() === 'ipv4'
  if (version === 1) {
    return Buffer.from(
      `PROXY ${v4 ? 'TCP4' : 'TCP6'} ${v1Text(s)} ${v1Text(d)} ${src.port} ${dst.port}\r\n`,
      'latin1',
    )
  }
  const addrLen = v4 ? 12 : 36
  const out = Buffer.alloc(V2_FIXED + addrLen)
  SIG_V2.copy(out, 0)
  out[12] = 0x21 // version 2, PROXY
  out[13] = v4 ? 0x11 : 0x21 // TCP over IPv4 / IPv6
  out.writeUInt16BE(addrLen, 14)
  const sb = s.toByteArray()
  const db = d.toByteArray()
  out.set(sb, 16)
  out.set(db, 16 + sb.length)
  const p = 16 + sb.length * 2
  out.writeUInt16BE(src.port, p)
  out.writeUInt16BE(dst.port, p + 2)
  return out
}

/** An address as a version 1 header writes it (IPv4-mapped IPv6 as `::ffff:a.b.c.d`). */
function v1Text(ip: ipaddr.IPv4 | ipaddr.IPv6): string {
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress())
    return `::ffff:${(ip as ipaddr.IPv6).toIPv4Address().toString()}`
  return ip.toString()
}

export interface ProxyProtocolSettings {
  /** ClientReadTimeout in ms. */
  readonly timeoutMs: number
  /** MaxProxyHeaderBytes (0 = 2048). */
  readonly maxBytes: number
}

/**
 * The PROXY header stage of both listeners. Reads from the accepted socket until the header is
 * complete (or known to be absent), gives back the bytes after it, and records the header's
 * addresses on the session. A malformed, oversized, truncated or late header closes the
 * connection: nothing after it reaches TLS or a parser.
 */
export class ProxyProtocolStage {
  readonly counters: ProxyProtocolStateCounters
  readonly timeoutMs: number
  readonly maxBytes: number

  /** `counters`: the server's proxy_protocol_state group (a fresh one when not given). */
  constructor(settings: ProxyProtocolSettings, counters = newProxyProtocolStateCounters()) {
    this.counters = counters
    this.timeoutMs = settings.timeoutMs
    this.maxBytes = settings.maxBytes > 0 ? settings.maxBytes : DEFAULT_MAX_PROXY_HEADER_BYTES
  }

  /** Reads the header of `conn`; `done` runs when the connection may go on (never if closed). */
  read(conn: Conn, done: () => void): void {
    const raw = conn.raw
    const counters = this.counters
    let buf: Buffer | undefined
    let matched = false
    conn.due[Deadline.ProxyHeader] = Date.now() + this.timeoutMs
    const stop = (): void => {
      raw.off('data', onData)
      raw.off('end', onEnd)
      conn.due[Deadline.ProxyHeader] = 0
    }
    const onEnd = (): void => {
      stop()
      this.fail(conn, 'read', 'connection closed before the PROXY header ended')
    }
    const onData = (chunk: Buffer): void => {
      buf = buf === undefined ? chunk : Buffer.concat([buf, chunk])
      const r = peekProxyHeader(buf, this.maxBytes)
      if (r.kind === 'more') {
        if (!matched && buf.length >= 5) matched = this.countSignature(buf)
        return
      }
      stop()
      if (r.kind === 'none') {
        counters.PROXY_ERR_NO_PROXY_PROTOCOL++
        this.resume(conn, buf, done)
        return
      }
      if (!matched) this.countSignature(buf)
      if (r.kind === 'bad') {
        this.fail(conn, r.fault, `bad PROXY v${r.version} header: ${r.reason}`)
        return
      }
      const h = r.header
      if (h.version === 1) counters.PROXY_NORMAL_V1_HEADER++
      else counters.PROXY_NORMAL_V2_HEADER++
      if (h.hasAddresses) {
        const ses = conn.session
        ses.balancerAddr = ses.remoteAddr
        ses.remoteAddr = h.srcAddr
        ses.remotePort = h.srcPort
        ses.vip = h.dstAddr
        ses.vipPort = h.dstPort
      }
      this.resume(conn, buf.subarray(h.length), done)
    }
    raw.on('data', onData)
    raw.on('end', onEnd)
  }

  /** ClientReadTimeout passed before the header was complete. */
  expired(conn: Conn): void {
    this.counters.PROXY_ERR_READ_HEADER++
    conn.fail(ErrCode.ClientTimeout, 'PROXY header not received in time')
    conn.destroy()
  }

  /** Counts the matched signature once it is known; true when it was. */
  private countSignature(buf: Buffer): boolean {
    if (buf.length >= SIG_V1.length && prefixOf(buf, SIG_V1)) {
      this.counters.PROXY_MATCHED_V1_SIGNATURE++
      return true
    }
    if (buf.length >= SIG_V2.length && prefixOf(buf, SIG_V2)) {
      this.counters.PROXY_MATCHED_V2_SIGNATURE++
      return true
    }
    return false
  }

  private fail(conn: Conn, fault: ProxyFault, msg: string): void {
    if (fault === 'read') this.counters.PROXY_ERR_READ_HEADER++
    else this.counters.PROXY_ERR_INVALID_HEADER++
    conn.fail(ErrCode.ClientBadRequest, msg)
    conn.destroy()
  }

  /** Gives the bytes after the header back to the socket and lets the next stage read. */
  private resume(conn: Conn, rest: Buffer, done: () => void): void {
    const raw = conn.raw
    raw.pause()
    if (rest.length > 0) raw.unshift(rest)
    raw.resume()
    done()
  }
}
