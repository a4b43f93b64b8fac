/** Session, protocol, client-IP and VIP primitives (condition.md §4.1, §4.2). */
import type { BfeRequest } from '../../basic/request.js'
import { compare16, ipToScratch, type ParsedIp, parseIpLiteral, plainIp } from '../../util/ip.js'
import { fold, makeHashMatcher, makeMatcher, parseBuckets, splitList } from './match.js'
import { type BuildArgs, type PrimitiveDef, sig } from './types.js'

/** Parses the two ends of an IP range, checking family and order. */
function parseRange(a: BuildArgs): { start: Uint8Array; end: Uint8Array } {
  const ends: ParsedIp[] = []
  for (let i = 0; i < 2; i++) {
    const text = a.str(i)
    const ip = parseIpLiteral(text)
    if (ip === undefined) a.fail(`${a.name}: invalid IP address "${text}"`, i)
    ends.push(ip)
  }
  const [s, e] = ends as [ParsedIp, ParsedIp]
  if (s.family !== e.family) a.fail(`${a.name}: start and end are not the same IP family`, 0)
  if (compare16(s.bytes, e.bytes) > 0) {
    a.fail(`${a.name}: start "${a.str(0)}" is greater than end "${a.str(1)}"`, 0)
  }
  return { start: s.bytes, end: e.bytes }
}

/** Range test on an address text; unknown/unparsable address → false. */
function rangeTest(start: Uint8Array, end: Uint8Array): (addr: string | undefined) => boolean {
  return (addr) => {
    if (addr === undefined || addr === '') return false
    const b = ipToScratch(addr)
    return b !== undefined && compare16(b, start) >= 0 && compare16(b, end) <= 0
  }
}

/** Protocol value of req_proto_match: the TLS session's protocol, else the HTTP version text. */
function protoOf(req: BfeRequest): string {
  return req.session.isSecure ? req.session.protocol : req.proto
}

export const sesPrimitives: Readonly<Record<string, PrimitiveDef>> = {
  req_cip_trusted: {
    params: [],
    build: () => ({ req: (req) => req.session.isTrustIp, ses: (ses) => ses.isTrustIp }),
  },
  req_proto_secure: {
    params: [],
    build: () => ({ req: (req) => req.session.isSecure, ses: (ses) => ses.isSecure }),
  },
  req_proto_match: {
    params: sig('proto:S'),
    build: (a) => {
      // Not split on '|': the whole string is compared.
      const want = fold(a.str(0))
      return { req: (req) => fold(protoOf(req)) === want }
    },
  },
  ses_tls_client_auth: {
    params: [],
    build: () => ({
      req: (req) => req.session.tlsState?.clientAuth === true,
      ses: (ses) => ses.tlsState?.clientAuth === true,
    }),
  },
  ses_tls_client_ca_in: {
    params: sig('ca_list:S'),
    build: (a) => {
      const set = new Set(splitList(a.str(0)))
      return {
        req: (req) => {
          const tls = req.session.tlsState
          return tls?.clientAuth === true && set.has(tls.clientCAName)
        },
      }
    },
  },
  ses_tls_sni_in: {
    params: sig('host_list:S'),
    build: (a) => {
      const m = makeMatcher(a.str(0), true, 'in')
      return {
        req: (req) => {
          const tls = req.session.tlsState
          return tls !== undefined && tls.sni !== '' && m(tls.sni)
        },
      }
    },
  },
  ses_sip_range: {
    params: sig('start_ip:S', 'end_ip:S'),
    build: (a) => {
      const { start, end } = parseRange(a)
      const t = rangeTest(start, end)
      return { req: (req) => t(req.session.remoteAddr) }
    },
  },
  ses_vip_range: {
    params: sig('start_ip:S', 'end_ip:S'),
    build: (a) => {
      const { start, end } = parseRange(a)
      const t = rangeTest(start, end)
      return { req: (req) => t(req.session.vip) }
    },
  },
  req_cip_range: {
    params: sig('start_ip:S', 'end_ip:S'),
    build: (a) => {
      const { start, end } = parseRange(a)
      const t = rangeTest(start, end)
      return { req: (req) => t(req.clientAddr) }
    },
  },
  req_vip_range: {
    params: sig('start_ip:S', 'end_ip:S'),
    build: (a) => {
      const { start, end } = parseRange(a)
      const t = rangeTest(start, end)
      return { req: (req) => t(req.session.vip) }
    },
  },
  req_vip_in: {
    params: sig('vip_list:S'),
    build: (a) => {
      const vips: Uint8Array[] = []
      for (const item of splitList(a.str(0))) {
        const ip = parseIpLiteral(item) ?? a.fail(`${a.name}: invalid IP address "${item}"`, 0)
        vips.push(ip.bytes)
      }
      return {
        req: (req) => {
          const vip = req.session.vip
          if (vip === undefined || vip === '') return false
          const b = ipToScratch(vip)
          if (b === undefined) return false
          for (let i = 0; i < vips.length; i++)
            if (compare16(b, vips[i] as Uint8Array) === 0) return true
          return false
        },
      }
    },
  },
  req_cip_hash_in: {
    params: sig('value_list:S'),
    build: (a) => {
      const m = makeHashMatcher(parseBuckets(a.str(0), a, 0), false)
      return {
        req: (req) => {
          const addr = req.clientAddr
          return addr !== undefined && addr !== '' && m(plainIp(addr))
        },
      }
    },
  },
}
