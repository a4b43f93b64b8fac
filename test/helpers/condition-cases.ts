/**
 * Conformance cases of the condition language: expression, request/session fixture, expected result.
 * Run by src/condition/condition.test.ts against both the compiled and the interpreted form.
 */

import { HeaderList } from '../../src/basic/header-list.js'
import { BfeRequest } from '../../src/basic/request.js'
import { BfeResponse } from '../../src/basic/response.js'
import { Session, type TlsState } from '../../src/basic/session.js'

export interface Fixture {
  method?: string
  uri?: string
  proto?: string
  /** Flat [name, value, ...]; default: Host www.example.com. */
  headers?: string[]
  remoteAddr?: string
  /** Overrides the request's client address; null = unknown. */
  clientAddr?: string | null
  vip?: string
  secure?: boolean
  protocol?: string
  trusted?: boolean
  tls?: Partial<TlsState>
  hostTag?: string
  tags?: Record<string, string[]>
  context?: Record<string, unknown>
  response?: { code: number; headers?: string[] }
}

export interface EvalCase {
  readonly expr: string
  readonly want: boolean
  readonly fx?: Fixture
  /** Evaluate with `testSession` (no HTTP request). */
  readonly session?: boolean
}

export interface ErrorCase {
  readonly expr: string
  readonly line: number
  readonly column: number
  /** Substring of the error message. */
  readonly message: string
}

export function makeSession(fx: Fixture = {}): Session {
  const ses = new Session({
    remoteAddr: fx.remoteAddr ?? '10.0.0.1',
    remotePort: 40000,
    vip: fx.vip,
    isSecure: fx.secure ?? false,
    ...(fx.protocol === undefined ? {} : { protocol: fx.protocol }),
  })
  ses.isTrustIp = fx.trusted ?? false
  if (fx.tls !== undefined) {
    ses.tlsState = {
      sni: '',
      version: 'TLSv1.3',
      cipher: 'TLS_AES_128_GCM_SHA256',
      resumed: false,
      ja3: '',
      ja3Hash: '',
      clientCert: undefined,
      clientAuth: false,
      clientCAName: '',
      alpn: '',
      ...fx.tls,
    }
  }
  return ses
}

export function makeRequest(fx: Fixture = {}): BfeRequest {
  const req = new BfeRequest(makeSession(fx), {
    method: fx.method ?? 'GET',
    rawUri: fx.uri ?? '/',
    proto: fx.proto ?? 'HTTP/1.1',
    headers: fx.headers ?? ['Host', 'www.example.com'],
  })
  if (fx.clientAddr !== undefined) req.clientAddr = fx.clientAddr ?? undefined
  req.hostTag = fx.hostTag ?? ''
  for (const [k, v] of Object.entries(fx.tags ?? {})) req.tags.set(k, v)
  for (const [k, v] of Object.entries(fx.context ?? {})) req.context.set(k, v)
  if (fx.response !== undefined) {
    req.httpResponse = new BfeResponse(fx.response.code, new HeaderList(fx.response.headers ?? []))
  }
  return req
}

const H = (...kv: string[]): string[] => ['Host', 'www.example.com', ...kv]
const shop: Fixture = { method: 'GET', uri: '/api/items?id=7', headers: ['Host', 'shop.test'] }
const json: Fixture = {
  method: 'POST',
  uri: '/api/items',
  headers: H('Content-Type', 'Application/JSON'),
}
const cookie = (c: string): Fixture => ({ headers: H('Cookie', c) })
const debugAt = (t: string, extra: Fixture = {}): Fixture => ({
  ...extra,
  headers: H('X-Bfe-Debug-Time', t),
})

// Bucket numbers (murmur3 Sum64 % 10000) of a few values, checked in murmur3.test.ts terms.
// "hello" → 2306, "HELLO" → 797, "10.0.0.1" → 4505, "" → 0
export const evalCases: readonly EvalCase[] = [
  // §6 examples
  {
    expr: 'req_host_in("shop.test|www.shop.test") && req_path_prefix_in("/api/", false)',
    fx: shop,
    want: true,
  },
  {
    expr: 'req_host_in("shop.test|www.shop.test") && req_path_prefix_in("/api/", false)',
    want: false,
  },
  {
    expr: '!req_method_in("GET|HEAD") && req_header_value_in("Content-Type", "application/json", true)',
    fx: json,
    want: true,
  },
  {
    expr: '!req_method_in("GET|HEAD") && req_header_value_in("Content-Type", "application/json", true)',
    fx: { ...json, method: 'get' },
    want: false,
  },
  {
    expr: '!req_method_in("GET|HEAD") && req_header_value_in("Content-Type", "application/json", false)',
    fx: json,
    want: false,
  },
  {
    expr: '(req_cookie_value_hash_in("uid", "0-499", false) || req_query_key_in("canary")) && default_t()',
    fx: { uri: '/?canary' },
    want: true,
  },
  {
    expr: '(req_cookie_value_hash_in("uid", "0-499", false) || req_query_key_in("canary")) && default_t()',
    fx: cookie('uid='),
    want: true,
  },
  {
    expr: '(req_cookie_value_hash_in("uid", "0-499", false) || req_query_key_in("canary")) && default_t()',
    fx: cookie('uid=hello'),
    want: false,
  },
  {
    expr: '(req_cookie_value_hash_in("uid", "0-499", false) || req_query_key_in("canary")) && default_t()',
    want: false,
  },
  { expr: 'req_path_regmatch(`^/v[0-9]+/items$`)', fx: { uri: '/v12/items' }, want: true },
  { expr: 'req_path_regmatch(`^/v[0-9]+/items$`)', fx: { uri: '/v12/items/' }, want: false },
  { expr: 'req_path_regmatch(`^/v[0-9]+/items$`)', fx: { uri: '/vx/items' }, want: false },
  {
    expr: 'bfe_periodic_time_range("090000H", "180000H", "")',
    fx: debugAt('20240101020000Z'),
    want: true,
  },
  {
    expr: 'bfe_periodic_time_range("090000H", "180000H", "")',
    fx: debugAt('20240101100000Z'),
    want: true,
  },
  {
    expr: 'bfe_periodic_time_range("090000H", "180000H", "")',
    fx: debugAt('20240101100001Z'),
    want: false,
  },
  {
    expr: 'bfe_periodic_time_range("090000H", "180000H", "")',
    fx: debugAt('20240101005959Z'),
    want: false,
  },

  // §2.1 precedence: || binds tighter than &&, ! tightest, left-assoc
  { expr: 'default_t() && !default_t() || default_t()', want: true }, // a && (b || c)
  { expr: '!default_t() && default_t() || default_t()', want: false }, // (!a) && (b || c)
  { expr: 'default_t() || default_t() && !default_t()', want: false }, // (a || b) && c
  { expr: '(default_t() || default_t()) && !default_t()', want: false },
  { expr: 'default_t() || (default_t() && !default_t())', want: true }, // C precedence, explicit
  { expr: '!default_t() && default_t()', want: false }, // (!a) && b
  { expr: '!default_t() || default_t()', want: true }, // (!a) || b
  { expr: '!(default_t() || default_t())', want: false },
  { expr: 'default_t() && default_t() && default_t()', want: true },
  { expr: 'default_t() && default_t() && !default_t()', want: false },
  { expr: '!default_t() || !default_t() || default_t()', want: true },
  { expr: '!!default_t()', want: true },
  { expr: '! ! ! default_t()', want: false },
  { expr: '((((default_t()))))', want: true },
  { expr: 'req_method_in("POST") || req_method_in("GET") && req_path_in("/", false)', want: true },
  {
    expr: 'req_method_in("GET") && req_path_in("/x", false) || req_path_in("/", false)',
    want: true,
  }, // C-style would give true too
  {
    expr: 'req_method_in("POST") && req_path_in("/x", false) || req_path_in("/", false)',
    want: false,
  }, // C: true; BFE: false
  { expr: 'req_path_in("/", false) || req_method_in("GET") && req_method_in("POST")', want: false }, // C: true; BFE: false

  // lexical details
  { expr: 'default_t() // trailing comment', want: true },
  { expr: '// leading comment\ndefault_t()', want: true },
  { expr: 'default_t\t(\n)', want: true },
  { expr: ' \r\n default_t() \r\n', want: true },
  { expr: 'req_path_regmatch("a\\.b")', fx: { uri: '/a.b' }, want: true },
  { expr: 'req_path_regmatch("a\\.b")', fx: { uri: '/axb' }, want: false },
  { expr: 'req_path_in("/a\\tb", false)', fx: { uri: '/a%5Ctb' }, want: true }, // raw text: a\tb
  { expr: 'req_path_regmatch(`/v\\d+/`)', fx: { uri: '/v12/' }, want: true },
  { expr: 'req_path_regmatch(`^/a\r\nb$`)', fx: { uri: '/a%0Ab' }, want: true }, // CR removed
  { expr: 'req_path_in("/\\u00e9", false)', fx: { uri: '/%5Cu00e9' }, want: true },

  // default_t / session / protocol
  { expr: 'default_t()', want: true },
  { expr: 'req_cip_trusted()', fx: { trusted: true }, want: true },
  { expr: 'req_cip_trusted()', want: false },
  { expr: 'req_proto_secure()', fx: { secure: true }, want: true },
  { expr: 'req_proto_secure()', want: false },
  { expr: 'req_proto_match("HTTP/1.1")', want: true },
  { expr: 'req_proto_match("http/1.1")', want: true },
  { expr: 'req_proto_match("http")', want: false },
  { expr: 'req_proto_match("HTTP/1.0")', fx: { proto: 'HTTP/1.0' }, want: true },
  { expr: 'req_proto_match("https")', fx: { secure: true }, want: true },
  { expr: 'req_proto_match("HTTPS")', fx: { secure: true }, want: true },
  {
    expr: 'req_proto_match("h2")',
    fx: { secure: true, protocol: 'h2', proto: 'HTTP/2.0' },
    want: true,
  },
  { expr: 'req_proto_match("https|h2")', fx: { secure: true, protocol: 'h2' }, want: false },
  { expr: 'req_proto_match("https|h2")', fx: { secure: true }, want: false },
  { expr: 'ses_tls_client_auth()', fx: { secure: true, tls: { clientAuth: true } }, want: true },
  { expr: 'ses_tls_client_auth()', fx: { secure: true, tls: {} }, want: false },
  { expr: 'ses_tls_client_auth()', want: false },
  {
    expr: 'ses_tls_client_ca_in("ca1|ca2")',
    fx: { secure: true, tls: { clientAuth: true, clientCAName: 'ca2' } },
    want: true,
  },
  {
    expr: 'ses_tls_client_ca_in("ca1|ca2")',
    fx: { secure: true, tls: { clientAuth: true, clientCAName: 'CA2' } },
    want: false,
  },
  {
    expr: 'ses_tls_client_ca_in("ca1|ca2")',
    fx: { secure: true, tls: { clientAuth: false, clientCAName: 'ca2' } },
    want: false,
  },
  { expr: 'ses_tls_client_ca_in("ca1")', want: false },
  {
    expr: 'ses_tls_sni_in("a.com|b.com")',
    fx: { secure: true, tls: { sni: 'B.com' } },
    want: true,
  },
  {
    expr: 'ses_tls_sni_in("a.com|b.com")',
    fx: { secure: true, tls: { sni: 'c.com' } },
    want: false,
  },
  { expr: 'ses_tls_sni_in("a.com|")', fx: { secure: true, tls: { sni: '' } }, want: false },
  { expr: 'ses_tls_sni_in("a.com")', want: false },
  { expr: 'ses_sip_range("10.0.0.0", "10.0.0.255")', want: true },
  { expr: 'ses_sip_range("10.0.0.2", "10.0.0.255")', want: false },
  { expr: 'ses_sip_range("10.0.0.1", "10.0.0.1")', want: true },
  {
    expr: 'ses_sip_range("10.0.0.0", "10.0.0.255")',
    fx: { remoteAddr: '::ffff:10.0.0.9' },
    want: true,
  },
  {
    expr: 'ses_sip_range("2001:db8::", "2001:db8::ffff")',
    fx: { remoteAddr: '2001:db8::1' },
    want: true,
  },
  {
    expr: 'ses_sip_range("2001:db8::", "2001:db8::ffff")',
    fx: { remoteAddr: '2001:db8::1:0' },
    want: false,
  },
  { expr: 'ses_sip_range("::", "::ffff")', fx: { remoteAddr: '10.0.0.1' }, want: false },
  { expr: 'ses_sip_range("10.0.0.0", "10.0.0.255")', fx: { remoteAddr: '' }, want: false },
  { expr: 'ses_vip_range("192.168.1.1", "192.168.1.10")', fx: { vip: '192.168.1.5' }, want: true },
  {
    expr: 'ses_vip_range("192.168.1.1", "192.168.1.10")',
    fx: { vip: '192.168.1.11' },
    want: false,
  },
  { expr: 'ses_vip_range("192.168.1.1", "192.168.1.10")', want: false },

  // client IP and VIP
  { expr: 'req_cip_range("10.0.0.0", "10.255.255.255")', want: true },
  { expr: 'req_cip_range("10.0.0.2", "10.255.255.255")', want: false },
  {
    expr: 'req_cip_range("10.0.0.0", "10.255.255.255")',
    fx: { clientAddr: '10.9.8.7' },
    want: true,
  },
  {
    expr: 'req_cip_range("10.0.0.0", "10.255.255.255")',
    fx: { clientAddr: '11.0.0.0' },
    want: false,
  },
  { expr: 'req_cip_range("10.0.0.0", "10.255.255.255")', fx: { clientAddr: null }, want: false },
  {
    expr: 'req_cip_range("10.0.0.0", "10.255.255.255")',
    fx: { clientAddr: 'garbage' },
    want: false,
  },
  { expr: 'req_cip_range("::1", "::1")', fx: { clientAddr: '::1' }, want: true },
  { expr: 'req_cip_range("fe80::", "fe80::ffff")', fx: { clientAddr: 'fe80::1%eth0' }, want: true },
  { expr: 'req_cip_range("0.0.0.0", "255.255.255.255")', fx: { clientAddr: '1.2.3' }, want: false },
  {
    expr: 'req_cip_range("0.0.0.0", "255.255.255.255")',
    fx: { clientAddr: '1.2.3.256' },
    want: false,
  },
  { expr: 'req_cip_hash_in("4505")', want: true },
  { expr: 'req_cip_hash_in("0-4504|4506-9999")', want: false },
  { expr: 'req_cip_hash_in("4505")', fx: { remoteAddr: '::ffff:10.0.0.1' }, want: true },
  { expr: 'req_cip_hash_in("0-9999")', fx: { clientAddr: null }, want: false },
  { expr: 'req_vip_in("1.1.1.1|2.2.2.2")', fx: { vip: '2.2.2.2' }, want: true },
  { expr: 'req_vip_in("1.1.1.1|2.2.2.2")', fx: { vip: '::ffff:2.2.2.2' }, want: true },
  { expr: 'req_vip_in("1.1.1.1|2001:db8::1")', fx: { vip: '2001:0db8::0001' }, want: true },
  { expr: 'req_vip_in("1.1.1.1|2.2.2.2")', fx: { vip: '3.3.3.3' }, want: false },
  { expr: 'req_vip_in("1.1.1.1")', want: false },
  { expr: 'req_vip_range("1.1.1.0", "1.1.1.255")', fx: { vip: '1.1.1.200' }, want: true },
  { expr: 'req_vip_range("1.1.1.0", "1.1.1.255")', fx: { vip: '1.1.2.0' }, want: false },
  { expr: 'req_vip_range("1.1.1.0", "1.1.1.255")', want: false },

  // host, method, port, url
  { expr: 'req_host_in("www.example.com")', want: true },
  { expr: 'req_host_in("WWW.EXAMPLE.COM")', want: true },
  {
    expr: 'req_host_in("example.com|www.example.com")',
    fx: { headers: ['Host', 'Www.Example.Com:8080'] },
    want: true,
  },
  { expr: 'req_host_in("example.com")', want: false },
  { expr: 'req_host_in("")', fx: { headers: [] }, want: true },
  { expr: 'req_host_in("a.com")', fx: { headers: [] }, want: false },
  { expr: 'req_host_suffix_in(".example.com")', want: true },
  { expr: 'req_host_suffix_in(".EXAMPLE.com|.org")', want: true },
  { expr: 'req_host_suffix_in(".org")', want: false },
  {
    expr: 'req_host_suffix_in(".example.com")',
    fx: { headers: ['Host', 'a.example.com:81'] },
    want: true,
  },
  { expr: 'req_host_regmatch(`^www\\.`)', want: true },
  { expr: 'req_host_regmatch(`^WWW\\.`)', want: false },
  { expr: 'req_host_regmatch(`(?i)^WWW\\.`)', want: true },
  { expr: 'req_host_regmatch(`example`)', want: true },
  { expr: 'req_host_tag_in("tagA|tagB")', fx: { hostTag: 'TAGB' }, want: true },
  { expr: 'req_host_tag_in("tagA")', want: false },
  { expr: 'req_host_tag_in("")', want: true },
  { expr: 'req_method_in("GET|POST")', want: true },
  { expr: 'req_method_in("get")', want: true },
  { expr: 'req_method_in("POST|PUT")', want: false },
  { expr: 'req_method_in("GET ")', want: false },
  { expr: 'req_method_in("PUT | GET")', want: false },
  { expr: 'req_port_in("80")', want: true },
  { expr: 'req_port_in("80")', fx: { secure: true }, want: true },
  { expr: 'req_port_in("8080|8443")', fx: { headers: ['Host', 'a.com:8443'] }, want: true },
  { expr: 'req_port_in("80")', fx: { headers: ['Host', 'a.com:8443'] }, want: false },
  { expr: 'req_port_in("80")', fx: { headers: ['Host', ':8443'] }, want: true },
  { expr: 'req_port_in("443")', fx: { secure: true }, want: false },
  { expr: 'req_url_regmatch(`^/a/b\\?x=1$`)', fx: { uri: '/a/b?x=1' }, want: true },
  { expr: 'req_url_regmatch(`%20`)', fx: { uri: '/a%20b' }, want: true },
  { expr: 'req_url_regmatch(`^http://h/`)', fx: { uri: 'http://h/x' }, want: true },
  { expr: 'req_url_regmatch(`y=2`)', fx: { uri: '/a/b?x=1' }, want: false },

  // path
  { expr: 'req_path_in("/a|/b", false)', fx: { uri: '/b?q=1' }, want: true },
  { expr: 'req_path_in("/A", false)', fx: { uri: '/a' }, want: false },
  { expr: 'req_path_in("/A", true)', fx: { uri: '/a' }, want: true },
  { expr: 'req_path_in("/a b", false)', fx: { uri: '/a%20b' }, want: true },
  { expr: 'req_path_in("/a", false)', fx: { uri: 'http://h.com/a?x' }, want: true },
  { expr: 'req_path_prefix_in("/api/|/static/", false)', fx: { uri: '/static/x.js' }, want: true },
  { expr: 'req_path_prefix_in("/API/", false)', fx: { uri: '/api/x' }, want: false },
  { expr: 'req_path_prefix_in("/API/", true)', fx: { uri: '/api/x' }, want: true },
  { expr: 'req_path_prefix_in("", false)', want: true },
  { expr: 'req_path_suffix_in(".jpg|.png", false)', fx: { uri: '/i/a.png' }, want: true },
  { expr: 'req_path_suffix_in(".JPG", false)', fx: { uri: '/i/a.jpg' }, want: false },
  { expr: 'req_path_suffix_in(".JPG", true)', fx: { uri: '/i/a.jpg' }, want: true },
  { expr: 'req_path_contain("admin", false)', fx: { uri: '/x/admin/y' }, want: true },
  { expr: 'req_path_contain("ADMIN", true)', fx: { uri: '/x/admin/y' }, want: true },
  { expr: 'req_path_contain("ADMIN", false)', fx: { uri: '/x/admin/y' }, want: false },
  { expr: 'req_path_element_prefix_in("/api", false)', fx: { uri: '/api' }, want: true },
  { expr: 'req_path_element_prefix_in("/api", false)', fx: { uri: '/api/' }, want: true },
  { expr: 'req_path_element_prefix_in("/api", false)', fx: { uri: '/api/x' }, want: true },
  { expr: 'req_path_element_prefix_in("/api", false)', fx: { uri: '/apix' }, want: false },
  { expr: 'req_path_element_prefix_in("/api/", false)', fx: { uri: '/api' }, want: true },
  { expr: 'req_path_element_prefix_in("/API", true)', fx: { uri: '/api/v1' }, want: true },
  { expr: 'req_path_element_prefix_in("/API", false)', fx: { uri: '/api/v1' }, want: false },
  { expr: 'req_path_element_prefix_in("/a|/b/c", false)', fx: { uri: '/b/c' }, want: true },
  { expr: 'req_path_regmatch(`^/user/(?P<id>\\d+)$`)', fx: { uri: '/user/42' }, want: true },
  { expr: 'req_path_regmatch(`\\Aab\\z`)', fx: { uri: 'ab' }, want: true },
  { expr: 'req_path_regmatch(`b`)', fx: { uri: '/abc' }, want: true },
  // RE2 syntax the former translation to JS RegExp refused (D22).
  { expr: 'req_path_regmatch(`^/a(?i)b$`)', fx: { uri: '/aB' }, want: true },
  { expr: 'req_path_regmatch(`^/(?i:a)b$`)', fx: { uri: '/AB' }, want: false },
  { expr: 'req_path_regmatch(`^/(a+)+$`)', fx: { uri: '/aaaa' }, want: true },
  { expr: 'req_path_regmatch(`[[:^alpha:]]`)', fx: { uri: 'abc' }, want: false },

  // query
  { expr: 'req_query_exist()', fx: { uri: '/?a=1' }, want: true },
  { expr: 'req_query_exist()', fx: { uri: '/?' }, want: false },
  { expr: 'req_query_exist()', fx: { uri: '/?a' }, want: true },
  { expr: 'req_query_exist()', want: false },
  { expr: 'req_query_key_in("a|b")', fx: { uri: '/?b=' }, want: true },
  { expr: 'req_query_key_in("A")', fx: { uri: '/?a=1' }, want: false },
  { expr: 'req_query_key_in("a")', fx: { uri: '/?a;b=1' }, want: false },
  { expr: 'req_query_key_in("a b")', fx: { uri: '/?a+b=1' }, want: true },
  { expr: 'req_query_key_prefix_in("utm_")', fx: { uri: '/?x=1&utm_source=g' }, want: true },
  { expr: 'req_query_key_prefix_in("UTM_")', fx: { uri: '/?utm_source=g' }, want: false },
  { expr: 'req_query_value_in("id", "7|8", false)', fx: shop, want: true },
  { expr: 'req_query_value_in("id", "1", false)', fx: { uri: '/?id=1&id=2' }, want: true },
  { expr: 'req_query_value_in("id", "2", false)', fx: { uri: '/?id=1&id=2' }, want: false },
  { expr: 'req_query_value_in("id", "", false)', want: true },
  { expr: 'req_query_value_in("q", "ABC", true)', fx: { uri: '/?q=abc' }, want: true },
  { expr: 'req_query_value_in("q", "ABC", false)', fx: { uri: '/?q=abc' }, want: false },
  { expr: 'req_query_value_in("q", "a b", false)', fx: { uri: '/?q=a%20b' }, want: true },
  { expr: 'req_query_value_in("q", "a b", false)', fx: { uri: '/?q=a+b' }, want: true },
  { expr: 'req_query_value_in("q", "x", false)', fx: { uri: '/?q=%zz&q=x' }, want: true },
  { expr: 'req_query_value_prefix_in("q", "ab", false)', fx: { uri: '/?q=abc' }, want: true },
  { expr: 'req_query_value_prefix_in("q", "AB", true)', fx: { uri: '/?q=abc' }, want: true },
  { expr: 'req_query_value_suffix_in("q", "bc", false)', fx: { uri: '/?q=abc' }, want: true },
  { expr: 'req_query_value_suffix_in("q", "x", false)', fx: { uri: '/?q=abc' }, want: false },
  { expr: 'req_query_value_contain("q", "b", false)', fx: { uri: '/?q=abc' }, want: true },
  { expr: 'req_query_value_contain("q", "B", true)', fx: { uri: '/?q=abc' }, want: true },
  { expr: 'req_query_value_regmatch("q", `^a.c$`)', fx: { uri: '/?q=abc' }, want: true },
  { expr: 'req_query_value_regmatch("q", `^$`)', want: true },
  { expr: 'req_query_value_hash_in("u", "2306", false)', fx: { uri: '/?u=hello' }, want: true },
  { expr: 'req_query_value_hash_in("u", "2306", true)', fx: { uri: '/?u=HELLO' }, want: true },
  { expr: 'req_query_value_hash_in("u", "797", false)', fx: { uri: '/?u=HELLO' }, want: true },
  { expr: 'req_query_value_hash_in("u", "2306", false)', fx: { uri: '/?u=HELLO' }, want: false },
  { expr: 'req_query_value_hash_in("u", "0", false)', want: true },

  // cookies
  { expr: 'req_cookie_key_in("sid|uid")', fx: cookie('uid=1'), want: true },
  { expr: 'req_cookie_key_in("UID")', fx: cookie('uid=1'), want: false },
  { expr: 'req_cookie_key_in("uid")', want: false },
  { expr: 'req_cookie_value_in("uid", "1|2", false)', fx: cookie('a=b; uid=2'), want: true },
  {
    expr: 'req_cookie_value_in("uid", "1", false)',
    fx: { headers: H('Cookie', 'uid=1', 'Cookie', 'uid=2') },
    want: true,
  },
  {
    expr: 'req_cookie_value_in("uid", "2", false)',
    fx: { headers: H('Cookie', 'uid=1; uid=2') },
    want: false,
  },
  { expr: 'req_cookie_value_in("uid", "", false)', want: false },
  { expr: 'req_cookie_value_in("uid", "", false)', fx: cookie('uid='), want: true },
  { expr: 'req_cookie_value_in("t", "ABC", true)', fx: cookie('t=abc'), want: true },
  { expr: 'req_cookie_value_prefix_in("t", "ab", false)', fx: cookie('t=abc'), want: true },
  { expr: 'req_cookie_value_prefix_in("t", "x", false)', fx: cookie('t=abc'), want: false },
  { expr: 'req_cookie_value_prefix_in("t", "", false)', want: false },
  { expr: 'req_cookie_value_suffix_in("t", "BC", true)', fx: cookie('t=abc'), want: true },
  { expr: 'req_cookie_value_contain("t", "b", false)', fx: cookie('t=abc'), want: true },
  { expr: 'req_cookie_value_contain("t", "", false)', want: false },
  { expr: 'req_cookie_value_hash_in("uid", "2306", false)', fx: cookie('uid=hello'), want: true },
  { expr: 'req_cookie_value_hash_in("uid", "2306", true)', fx: cookie('uid=HeLLo'), want: true },
  { expr: 'req_cookie_value_hash_in("uid", "0-9999", false)', want: false },
  {
    expr: 'req_cookie_value_hash_in("uid", " 2300 - 2310 ", false)',
    fx: cookie('uid=hello'),
    want: true,
  },

  // headers
  { expr: 'req_header_key_in("X-A|X-B")', fx: { headers: H('x-b', '1') }, want: true },
  { expr: 'req_header_key_in("X-B")', fx: { headers: H('X-B', '') }, want: false },
  { expr: 'req_header_key_in("X-B")', want: false },
  { expr: 'req_header_key_in("host")', want: true },
  { expr: 'req_header_value_in("X-A", "1|2", false)', fx: { headers: H('x-a', '2') }, want: true },
  {
    expr: 'req_header_value_in("x-a", "2", false)',
    fx: { headers: H('X-A', '1', 'X-A', '2') },
    want: false,
  },
  { expr: 'req_header_value_in("X-A", "", false)', want: true },
  { expr: 'req_header_value_in("X-A", "v", true)', fx: { headers: H('X-A', 'V') }, want: true },
  { expr: 'req_header_value_in("X-A", "v", false)', fx: { headers: H('X-A', 'V') }, want: false },
  {
    expr: 'req_header_value_prefix_in("Accept", "text/", false)',
    fx: { headers: H('Accept', 'text/html') },
    want: true,
  },
  {
    expr: 'req_header_value_prefix_in("Accept", "TEXT/", true)',
    fx: { headers: H('Accept', 'text/html') },
    want: true,
  },
  {
    expr: 'req_header_value_suffix_in("Accept", "/html", false)',
    fx: { headers: H('Accept', 'text/html') },
    want: true,
  },
  {
    expr: 'req_header_value_suffix_in("Accept", "/xml", false)',
    fx: { headers: H('Accept', 'text/html') },
    want: false,
  },
  {
    expr: 'req_header_value_contain("Accept", "t/h", false)',
    fx: { headers: H('Accept', 'text/html') },
    want: true,
  },
  { expr: 'req_header_value_contain("Accept", "", false)', want: true },
  {
    expr: 'req_header_value_regmatch("Referer", `^https://(www\\.)?a\\.com/`)',
    fx: { headers: H('Referer', 'https://a.com/x') },
    want: true,
  },
  { expr: 'req_header_value_regmatch("Referer", `^https://`)', want: false },
  {
    expr: 'req_header_value_hash_in("X-U", "2306", false)',
    fx: { headers: H('x-u', 'hello') },
    want: true,
  },
  { expr: 'req_header_value_hash_in("X-U", "0", false)', want: true },
  { expr: 'req_header_value_hash_in("X-U", "1-9999", false)', want: false },
  {
    expr: 'req_ua_regmatch(`Mozilla/5\\.0`)',
    fx: { headers: H('User-Agent', 'Mozilla/5.0 (X11)') },
    want: true,
  },
  { expr: 'req_ua_regmatch(`(?i)curl`)', fx: { headers: H('user-agent', 'CURL/8') }, want: true },
  { expr: 'req_ua_regmatch(`curl`)', want: false },
  { expr: 'req_ua_regmatch(`^$`)', want: true },

  // tags and context
  {
    expr: 'req_tag_match("risk", "high")',
    fx: { tags: { risk: ['low', 'high:mod_x'] } },
    want: true,
  },
  { expr: 'req_tag_match("risk", "high")', fx: { tags: { risk: ['high'] } }, want: true },
  { expr: 'req_tag_match("risk", "high")', fx: { tags: { risk: ['higher'] } }, want: false },
  { expr: 'req_tag_match("risk", "HIGH")', fx: { tags: { risk: ['high'] } }, want: false },
  { expr: 'req_tag_match("risk", "high")', want: false },
  { expr: 'req_tag_match("risk", "a:b")', fx: { tags: { risk: ['a:b'] } }, want: false },
  { expr: 'req_context_value_in("k", "v1|v2", false)', fx: { context: { k: 'v2' } }, want: true },
  { expr: 'req_context_value_in("k", "V2", true)', fx: { context: { k: 'v2' } }, want: true },
  { expr: 'req_context_value_in("k", "V2", false)', fx: { context: { k: 'v2' } }, want: false },
  { expr: 'req_context_value_in("k", "1", false)', fx: { context: { k: 1 } }, want: false },
  { expr: 'req_context_value_in("k", "", false)', want: false },
  { expr: 'req_context_value_in("", "", false)', fx: { context: { '': '' } }, want: false },

  // response
  { expr: 'res_code_in("200|404")', fx: { response: { code: 404 } }, want: true },
  { expr: 'res_code_in("200")', fx: { response: { code: 500 } }, want: false },
  { expr: 'res_code_in("0200")', fx: { response: { code: 200 } }, want: false },
  { expr: 'res_code_in("200")', want: false },
  {
    expr: 'res_header_key_in("Set-Cookie")',
    fx: { response: { code: 200, headers: ['set-cookie', 'a=1'] } },
    want: true,
  },
  {
    expr: 'res_header_key_in("Set-Cookie")',
    fx: { response: { code: 200, headers: ['Set-Cookie', ''] } },
    want: false,
  },
  { expr: 'res_header_key_in("Set-Cookie")', want: false },
  {
    expr: 'res_header_value_in("Content-Type", "TEXT/HTML", true)',
    fx: { response: { code: 200, headers: ['Content-Type', 'text/html'] } },
    want: true,
  },
  {
    expr: 'res_header_value_in("Content-Type", "TEXT/HTML", false)',
    fx: { response: { code: 200, headers: ['Content-Type', 'text/html'] } },
    want: false,
  },
  { expr: 'res_header_value_in("X", "", false)', fx: { response: { code: 200 } }, want: true },
  { expr: 'res_header_value_in("X", "", false)', want: false },

  // time (debug header)
  {
    expr: 'bfe_time_range("20240101000000Z", "20240102000000Z")',
    fx: debugAt('20240101120000Z'),
    want: true,
  },
  {
    expr: 'bfe_time_range("20240101000000Z", "20240102000000Z")',
    fx: debugAt('20240102000000Z'),
    want: true,
  },
  {
    expr: 'bfe_time_range("20240101000000Z", "20240102000000Z")',
    fx: debugAt('20240102000001Z'),
    want: false,
  },
  {
    expr: 'bfe_time_range("20240101080000H", "20240101090000H")',
    fx: debugAt('20240101003000Z'),
    want: true,
  },
  {
    expr: 'bfe_time_range("20240101080000h", "20240101090000h")',
    fx: debugAt('20240101083000H'),
    want: true,
  },
  {
    expr: 'bfe_time_range("20240101000000Z", "20240102000000Z")',
    fx: debugAt('2024010112000Z'),
    want: false,
  },
  { expr: 'bfe_time_range("20000101000000Z", "20991231235959Z")', want: true },
  { expr: 'bfe_time_range("20000101000000Z", "20001231235959Z")', want: false },
  { expr: 'bfe_periodic_time_range("000000Z", "235959Z", "")', want: true },
  {
    expr: 'bfe_periodic_time_range("230000N", "235959N", "")',
    fx: debugAt('20240102003000Z'),
    want: true,
  }, // 00:30 UTC is 23:30 at UTC-1
  {
    expr: 'bfe_periodic_time_range("000000Z", "010000Z", "")',
    fx: debugAt('20240102083000H'),
    want: true,
  }, // 08:30 UTC+8 is 00:30 UTC
  { expr: 'bfe_periodic_time_range("090000H", "180000H", "")', fx: debugAt('bad'), want: false },
  { expr: '!bfe_periodic_time_range("090000H", "180000H", "")', fx: debugAt('bad'), want: true },

  // session-only evaluation (no HTTP request): only four primitives can be true
  { expr: 'default_t()', session: true, want: true },
  { expr: 'req_cip_trusted()', session: true, fx: { trusted: true }, want: true },
  { expr: 'req_cip_trusted()', session: true, want: false },
  { expr: 'req_proto_secure()', session: true, fx: { secure: true }, want: true },
  {
    expr: 'ses_tls_client_auth()',
    session: true,
    fx: { secure: true, tls: { clientAuth: true } },
    want: true,
  },
  { expr: 'ses_tls_client_auth()', session: true, fx: { secure: true, tls: {} }, want: false },
  {
    expr: 'ses_tls_sni_in("a.com")',
    session: true,
    fx: { secure: true, tls: { sni: 'a.com' } },
    want: false,
  },
  { expr: 'ses_sip_range("10.0.0.0", "10.0.0.255")', session: true, want: false },
  { expr: 'req_host_in("www.example.com")', session: true, want: false },
  { expr: '!req_host_in("www.example.com")', session: true, want: true },
  { expr: 'req_header_value_in("X", "", false)', session: true, want: false },
  { expr: 'req_proto_match("https")', session: true, fx: { secure: true }, want: false },
  {
    expr: 'req_cip_trusted() && ses_tls_client_auth()',
    session: true,
    fx: { trusted: true, secure: true, tls: { clientAuth: true } },
    want: true,
  },
  { expr: 'req_cip_trusted() || req_method_in("GET")', session: true, want: false },
  { expr: 'bfe_periodic_time_range("000000Z", "235959Z", "")', session: true, want: false },
]

export const errorCases: readonly ErrorCase[] = [
  // syntax
  { expr: '', line: 1, column: 1, message: 'unexpected end of condition' },
  { expr: 'default_t(', line: 1, column: 11, message: 'unexpected end of condition' },
  { expr: 'default_t())', line: 1, column: 12, message: 'unexpected ")"' },
  { expr: 'default_t() &&', line: 1, column: 15, message: 'unexpected end of condition' },
  { expr: 'default_t() & default_t()', line: 1, column: 13, message: 'unexpected character "&"' },
  { expr: 'default_t() | default_t()', line: 1, column: 13, message: 'unexpected character "|"' },
  { expr: 'default_t();', line: 1, column: 12, message: 'unexpected character ";"' },
  {
    expr: 'default_t() default_t()',
    line: 1,
    column: 13,
    message: 'unexpected identifier "default_t"',
  },
  { expr: '(default_t()', line: 1, column: 13, message: 'expected ")"' },
  { expr: 'default_t() &&\n  || default_t()', line: 2, column: 3, message: 'unexpected "||"' },
  { expr: 'req_path_in("/a",, false)', line: 1, column: 18, message: 'unexpected ","' },
  { expr: 'req_path_in("/a" false)', line: 1, column: 18, message: 'expected "," or ")"' },
  { expr: 'req_path_in("/a", false', line: 1, column: 24, message: 'unexpected end of condition' },
  { expr: '"abc"', line: 1, column: 1, message: 'unexpected string' },
  { expr: 'true', line: 1, column: 1, message: 'unexpected bool' },
  { expr: 'req_path_in("/a\\d", false)', line: 1, column: 16, message: 'unknown escape sequence' },
  {
    expr: 'req_path_in("/a\\400", false)',
    line: 1,
    column: 16,
    message: 'octal escape value > 255',
  },
  {
    expr: 'req_path_in("/a\\xZ1", false)',
    line: 1,
    column: 16,
    message: 'unknown escape sequence',
  },
  {
    expr: 'req_path_in("/a\\ud800", false)',
    line: 1,
    column: 16,
    message: 'invalid Unicode code point',
  },
  {
    expr: 'req_path_in("/a\n", false)',
    line: 1,
    column: 13,
    message: 'string literal not terminated',
  },
  {
    expr: 'req_path_in(`/a, false)',
    line: 1,
    column: 13,
    message: 'raw string literal not terminated',
  },
  {
    expr: 'req_path_in("/a", 1.5)',
    line: 1,
    column: 19,
    message: 'floating-point literals are not supported',
  },
  {
    expr: 'req_path_in("/a", 2i)',
    line: 1,
    column: 19,
    message: 'imaginary literals are not supported',
  },
  { expr: 'default_t() / 2', line: 1, column: 13, message: 'unexpected character "/"' },
  { expr: 'default()', line: 1, column: 1, message: '"default" is a reserved keyword' },
  { expr: 'default_t() && func()', line: 1, column: 16, message: '"func" is a reserved keyword' },
  { expr: 'default_t() @', line: 1, column: 13, message: 'unexpected character "@"' },
  { expr: '// only a comment', line: 1, column: 18, message: 'unexpected end of condition' },
  { expr: '!', line: 1, column: 2, message: 'unexpected end of condition' },
  { expr: '()', line: 1, column: 2, message: 'unexpected ")"' },
  { expr: 'default_t(,)', line: 1, column: 11, message: 'unexpected ","' },
  // semantic
  { expr: 'foo()', line: 1, column: 1, message: 'unknown primitive "foo"' },
  {
    expr: 'default_t() &&\n   req_hots_in("a")',
    line: 2,
    column: 4,
    message: 'unknown primitive "req_hots_in"',
  },
  {
    expr: 'req_body_json_in("a.b", "x", false)',
    line: 1,
    column: 1,
    message: 'unsupported primitive "req_body_json_in"',
  },
  {
    expr: 'req_body_json_prefix_in("a", "x", false)',
    line: 1,
    column: 1,
    message: 'unsupported primitive "req_body_json_prefix_in"',
  },
  { expr: 'default_t', line: 1, column: 1, message: 'found unresolved variable "default_t"' },
  {
    expr: 'default_t() || is_test',
    line: 1,
    column: 16,
    message: 'found unresolved variable "is_test"',
  },
  { expr: 'default_t("x")', line: 1, column: 1, message: 'default_t takes 0 arguments, got 1' },
  {
    expr: 'req_path_in("/a")',
    line: 1,
    column: 1,
    message:
      'req_path_in takes 2 arguments, got 1; signature: req_path_in(path_list string, case_insensitive bool)',
  },
  { expr: 'req_host_in()', line: 1, column: 1, message: 'req_host_in takes 1 argument, got 0' },
  {
    expr: 'req_path_in("/a", "false")',
    line: 1,
    column: 19,
    message: 'argument 2 (case_insensitive) must be a bool, got string "false"',
  },
  {
    expr: 'req_host_in(true)',
    line: 1,
    column: 13,
    message: 'argument 1 (host_list) must be a string, got bool true',
  },
  { expr: 'req_host_in(42)', line: 1, column: 13, message: 'must be a string, got integer 42' },
  { expr: 'req_host_in("a.com:80")', line: 1, column: 13, message: 'must not contain ":"' },
  {
    expr: 'req_cip_range("10.0.0.1", "10.0.0.x")',
    line: 1,
    column: 27,
    message: 'invalid IP address "10.0.0.x"',
  },
  {
    expr: 'req_cip_range("10.0.0.9", "10.0.0.1")',
    line: 1,
    column: 15,
    message: 'is greater than end',
  },
  {
    expr: 'req_cip_range("10.0.0.1", "::1")',
    line: 1,
    column: 15,
    message: 'not the same IP family',
  },
  {
    expr: 'req_cip_range("010.0.0.1", "10.0.0.2")',
    line: 1,
    column: 15,
    message: 'invalid IP address',
  },
  { expr: 'req_vip_in("1.1.1.1|nope")', line: 1, column: 12, message: 'invalid IP address "nope"' },
  { expr: 'ses_vip_range("1.1.1.1", "1.1.1.0")', line: 1, column: 15, message: 'greater than end' },
  { expr: 'req_cip_hash_in("0-10000")', line: 1, column: 17, message: 'bad hash bucket "0-10000"' },
  { expr: 'req_cip_hash_in("5-3")', line: 1, column: 17, message: 'start > end' },
  { expr: 'req_cip_hash_in("")', line: 1, column: 17, message: 'bad hash bucket ""' },
  {
    expr: 'req_cookie_value_hash_in("u", "a", false)',
    line: 1,
    column: 31,
    message: 'bad hash bucket "a"',
  },
  {
    expr: 'req_header_value_hash_in("u", "1|2-", false)',
    line: 1,
    column: 31,
    message: 'bad hash bucket "2-"',
  },
  {
    expr: 'bfe_time_range("2024010100000Z", "20240102000000Z")',
    line: 1,
    column: 16,
    message: 'invalid time "2024010100000Z"',
  },
  {
    expr: 'bfe_time_range("20240101000000J", "20240102000000Z")',
    line: 1,
    column: 16,
    message: 'invalid time',
  },
  {
    expr: 'bfe_time_range("20240230000000Z", "20240302000000Z")',
    line: 1,
    column: 16,
    message: 'invalid time',
  },
  {
    expr: 'bfe_time_range("20240103000000Z", "20240102000000Z")',
    line: 1,
    column: 16,
    message: 'start time is after end time',
  },
  {
    expr: 'bfe_periodic_time_range("090000H", "250000H", "")',
    line: 1,
    column: 36,
    message: 'invalid time "250000H"',
  },
  {
    expr: 'bfe_periodic_time_range("090000H", "180000Z", "")',
    line: 1,
    column: 25,
    message: 'different time zones',
  },
  {
    expr: 'bfe_periodic_time_range("180000H", "090000H", "")',
    line: 1,
    column: 25,
    message: 'start time is after end time',
  },
  {
    expr: 'bfe_periodic_time_range("090000H", "180000H", "daily")',
    line: 1,
    column: 47,
    message: 'period must be ""',
  },
  { expr: 'req_path_regmatch(`(?<!a)b`)', line: 1, column: 19, message: 'lookbehind' },
  { expr: 'req_path_regmatch(`(a)\\1`)', line: 1, column: 19, message: 'backreference' },
  { expr: 'req_path_regmatch(`a(?=b)`)', line: 1, column: 19, message: 'lookahead' },
  { expr: 'req_path_regmatch(`[a`)', line: 1, column: 19, message: 'missing closing ]' },
  {
    expr: 'req_header_value_regmatch("X", `a*+`)',
    line: 1,
    column: 32,
    message: 'possessive quantifiers are not RE2 syntax',
  },
  { expr: 'req_ua_regmatch(`(`)', line: 1, column: 17, message: 'missing closing ): `(`' },
]

/** Expressions whose compile warnings are checked: undefined = no warning expected. */
export const warningCases: readonly { expr: string; grouped: string | undefined }[] = [
  { expr: 'a() && b() || c()', grouped: 'a() && (b() || c())' },
  { expr: 'a() || b() && c()', grouped: '(a() || b()) && c()' },
  { expr: 'a() && b() && c() || d()', grouped: 'a() && b() && (c() || d())' },
  { expr: '!a() || b() && c()', grouped: '(!a() || b()) && c()' },
  { expr: 'a() && (b() || c())', grouped: undefined },
  { expr: '(a() || b()) && c()', grouped: undefined },
  { expr: 'a() && b() && c()', grouped: undefined },
  { expr: 'a() || b() || c()', grouped: undefined },
  { expr: '!a() && b()', grouped: undefined },
]
