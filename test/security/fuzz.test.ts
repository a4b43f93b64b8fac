/**
 * Property-based fuzzing (issue 13) with fast-check over what reads untrusted or hand-written
 * input: the condition language, the INI parser, the JSON data-file loaders and the HTTP/1 request
 * head. The property everywhere: no exception escapes as anything but a clear error (a BfeError
 * subclass — BfeConfError, ConditionError, UserRegexError — with a message), and the server
 * answers malformed heads with a status or a close, never crashes, and serves the next request.
 *
 * Runs are bounded (a few hundred per property) so the whole file stays within ~20 s. A failure
 * prints fast-check's seed and shrunk counterexample; `FUZZ_SEED=<n>` replays a seed and
 * `FUZZ_RUNS=<n>` sets the run count of every property, for a longer local session.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { BfeError } from '../../src/basic/errors.js'
import { compileCondition } from '../../src/condition/index.js'
import { PRIMITIVES } from '../../src/condition/primitives/index.js'
import { parseBfeConf } from '../../src/config/bfe-conf.js'
import { parseClusterConf } from '../../src/config/cluster-conf.js'
import { parseClusterTable } from '../../src/config/cluster-table.js'
import { parseGslb } from '../../src/config/gslb.js'
import { parseHostRule } from '../../src/config/host-rule.js'
import { ini, parseIni } from '../../src/config/ini.js'
import { parseNameConf } from '../../src/config/name-conf.js'
import { parseRouteRule } from '../../src/config/route-rule.js'
import { parseServerCertConf } from '../../src/config/server-cert-conf.js'
import { parseTlsRuleConf } from '../../src/config/tls-rule-conf.js'
import { parseVipRule } from '../../src/config/vip-rule.js'
import { compileRouteRule } from '../../src/route/route-rule.js'
import { makeRequest } from '../helpers/condition-cases.js'
import { simpleConf } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const seedEnv = Number(process.env['FUZZ_SEED'])
const runsEnv = Number(process.env['FUZZ_RUNS'])
function params(numRuns: number): fc.Parameters<unknown> {
  return {
    numRuns: Number.isInteger(runsEnv) && runsEnv > 0 ? runsEnv : numRuns,
    ...(Number.isInteger(seedEnv) ? { seed: seedEnv } : {}),
  }
}

/** Runs `fn`; anything thrown must be a BfeError with a non-empty message. */
function onlyClearErrors(fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    if (err instanceof BfeError && err.message.length > 0) return
    throw new Error(`escaped as ${describeError(err)}`, { cause: err })
  }
}

function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.constructor.name}: ${err.message}\n${err.stack ?? ''}`
  return `a thrown ${typeof err}: ${String(err)}`
}

// ---------------------------------------------------------------- the condition language

const PRIM_NAMES = [...PRIMITIVES.keys()].sort()

/** A well-formed string literal: JSON-style quoted, or raw in backquotes. */
const goodString = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc.string({ maxLength: 12 }).map((s) => `\`${s.replaceAll('`', '')}\``),
  fc
    .constantFrom(
      'a|b',
      '/api/|/v2/',
      'GET|POST',
      '10.0.0.1',
      '::1',
      '0.0.0.0',
      '(?i)^www\\.',
      '(a|a)*$',
      '(?P<id>\\d+)',
      '[',
      'X-A',
      'uid',
      '20240101000000H',
      '',
    )
    .map((s) => `\`${s}\``),
)
/** Possibly broken literals and values of the wrong kind. */
const badArg = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => `"${s}"`), // unescaped content
  fc.string({ maxLength: 8 }).map((s) => `\`${s}`), // unterminated raw string
  fc.constantFrom('1', '-1', '0x10', '1e9', 'null', 'x', '', 'TRUE', 'False'),
)
const bool = fc.constantFrom('true', 'false')

/** A call of a real primitive with arguments of the declared kinds (sometimes not). */
const goodCall = fc.constantFrom(...PRIM_NAMES).chain((name) => {
  const params = PRIMITIVES.get(name)?.params ?? []
  const args = params.map((p) => (p.type === 'B' ? bool : goodString))
  return fc.tuple(fc.tuple(...args), fc.nat({ max: 19 }), badArg).map(([list, roll, bad]) => {
    const a: string[] = [...list]
    if (roll === 0)
      a.push(bad) // one argument too many
    else if (roll === 1 && a.length > 0)
      a.pop() // one too few
    else if (roll === 2 && a.length > 0) a[0] = bad // a bad first argument
    return `${name}(${a.join(', ')})`
  })
})
const oddCall = fc
  .tuple(
    fc.oneof(
      fc.constantFrom('req_body_json_in', 'nope', 'default_t ', ''),
      fc.string({ maxLength: 8 }),
    ),
    fc.array(fc.oneof(goodString, badArg), { maxLength: 3 }),
  )
  .map(([name, args]) => `${name}(${args.join(', ')})`)

const { expr } = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 6, arbitrary: goodCall },
    { weight: 1, arbitrary: oddCall },
    {
      weight: 4,
      arbitrary: fc
        .tuple(tie('expr'), fc.constantFrom('&&', '||', '&&', '||', '&', '|', ''), tie('expr'))
        .map(([a, op, b]) => `${a} ${op} ${b}`),
    },
    { weight: 2, arbitrary: tie('expr').map((e) => `!${e}`) },
    { weight: 2, arbitrary: tie('expr').map((e) => `(${e})`) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(tie('expr'), fc.constantFrom('\n', '\t', '  ', '\r\n', ')', '(', '"', '`', '\\'))
        .map(([e, junk]) => `${e}${junk}`),
    },
  ),
}))

/** A request for evaluating compiled conditions: host, path, query, cookie, headers. */
const REQ = makeRequest({
  uri: '/api/items/42?id=42&lang=en',
  headers: [
    'Host',
    'www.shop.test',
    'User-Agent',
    'curl/8',
    'Cookie',
    'sid=abc; uid=u-77',
    'X-A',
    'aaaa',
  ],
  remoteAddr: '10.0.0.1',
})

describe('fuzz: condition language', () => {
  it('random strings compile or fail with a clear error', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => {
        onlyClearErrors(() => compileCondition(s))
      }),
      params(400),
    )
  })

  it('well-formed-ish expressions compile (and evaluate) or fail with a clear error', () => {
    fc.assert(
      fc.property(expr, (s) => {
        onlyClearErrors(() => {
          const { condition } = compileCondition(s)
          // Evaluating a compiled condition must not throw either.
          assert.equal(typeof condition.test(REQ), 'boolean')
        })
      }),
      params(500),
    )
  })

  it('route_rule.data with random Cond strings: only BfeConfError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(expr, fc.string()), { minLength: 1, maxLength: 3 }),
        (conds) => {
          onlyClearErrors(() =>
            compileRouteRule(
              'route_rule.data',
              parseRouteRule(
                'route_rule.data',
                JSON.stringify({
                  Version: 'v',
                  ProductRule: { p: conds.map((Cond) => ({ Cond, ClusterName: 'c' })) },
                }),
              ),
            ),
          )
        },
      ),
      params(200),
    )
  })
})

// ---------------------------------------------------------------- INI

const iniLine = fc.oneof(
  fc.constantFrom(
    '[Server]',
    '[server]',
    '[ Server ]',
    '[HttpsBasic]',
    '[Section "sub"]',
    '[Section "a\\"b"]',
    '[',
    ']',
    '[]',
    '[Server',
    'HttpPort = 8080',
    'HttpPort=',
    'HttpPort = -1',
    'HttpPort = 99999999999999999999',
    'HttpPort = 0x50',
    'MaxCpus = 1',
    'Modules = mod_header',
    'Modules =',
    'TlsHandshakeTimeout = 30',
    'KeepAliveEnabled = true',
    'KeepAliveEnabled = maybe',
    'Layer4LoadBalancer = "proxy"',
    'CipherSuites = TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
    '; comment',
    '# comment',
    'key = "unterminated',
    'key = "a\\',
    'key = \\',
    '=',
    ' = x',
    'no equals',
    '',
    '\t',
  ),
  fc
    .tuple(
      fc.string({ maxLength: 10 }),
      fc.constantFrom('=', ' = ', ':', ''),
      fc.string({ maxLength: 20 }),
    )
    .map(([k, eq, v]) => `${k}${eq}${v}`),
  fc.string({ unit: 'binary', maxLength: 30 }),
)
const iniText = fc
  .tuple(fc.array(iniLine, { maxLength: 12 }), fc.constantFrom('\n', '\r\n', '\r'))
  .map(([lines, eol]) => lines.join(eol))

const FUZZ_SCHEMA = {
  Server: {
    HttpPort: ini.int(8080),
    Name: ini.string(''),
    On: ini.bool(false),
    Modules: ini.strings([]),
  },
  Other: { Value: ini.string('') },
} as const

describe('fuzz: INI parser', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'bfe-fuzz-ini-'))
  after(() => rmSync(root, { recursive: true, force: true }))

  it('random text against a schema: parses or fails with BfeConfError', () => {
    fc.assert(
      fc.property(fc.oneof(iniText, fc.string({ unit: 'binary', maxLength: 200 })), (text) => {
        onlyClearErrors(() => parseIni('x.conf', text, FUZZ_SCHEMA))
      }),
      params(400),
    )
  })

  it('bfe.conf from random lines: loads or fails with BfeConfError', () => {
    fc.assert(
      fc.property(iniText, (text) => {
        onlyClearErrors(() => parseBfeConf(text, root))
      }),
      params(300),
    )
  })
})

// ---------------------------------------------------------------- JSON data files

/** A valid sample of each data file, and its parser from text. */
const JSON_LOADERS: readonly [string, unknown, (text: string, dir: string) => unknown][] = [
  [
    'host_rule.data',
    {
      Version: 'v',
      DefaultProduct: 'p',
      Hosts: { t: ['a.test', '*.b.test'] },
      HostTags: { p: ['t'] },
    },
    (t) => parseHostRule('host_rule.data', t),
  ],
  [
    'vip_rule.data',
    { Version: 'v', Vips: { p: ['10.0.0.1', '::1'] } },
    (t) => parseVipRule('vip_rule.data', t),
  ],
  [
    'route_rule.data',
    {
      Version: 'v',
      BasicRule: { p: [{ Hostname: ['a.test'], Path: ['/x/*'], ClusterName: 'c1' }] },
      ProductRule: { p: [{ Cond: 'req_path_regmatch(`^/v\\d+`)', ClusterName: 'c' }] },
    },
    (t) => compileRouteRule('route_rule.data', parseRouteRule('route_rule.data', t)),
  ],
  [
    'cluster_conf.data',
    {
      Version: 'v',
      Config: {
        c: {
          BackendConf: { Protocol: 'http', TimeoutConnSrv: 2000, MaxIdleConnsPerHost: 2 },
          CheckConf: { Schem: 'http', Uri: '/health', FailNum: 5, CheckInterval: 1000 },
          GslbBasic: { CrossRetry: 1, RetryMaxBackend: 2, BalanceMode: 'WRR' },
          ClusterBasic: { TimeoutReadClient: 30000, ReqWriteBufferSize: 512 },
        },
      },
    },
    (t, dir) => parseClusterConf('cluster_conf.data', t, { confRoot: dir }),
  ],
  [
    'cluster_table.data',
    {
      Version: 'v',
      Config: { c: { 'c.a': [{ Name: 'b', Addr: '127.0.0.1', Port: 80, Weight: 1 }] } },
    },
    (t) => parseClusterTable('cluster_table.data', t),
  ],
  [
    'gslb.data',
    { Hostname: 'h', Ts: '0', Clusters: { c: { 'c.a': 100, GSLB_BLACKHOLE: 0 } } },
    (t) => parseGslb('gslb.data', t),
  ],
  [
    'tls_rule_conf.data',
    {
      Version: 'v',
      DefaultNextProtos: ['h2', 'http/1.1'],
      Config: {
        p: {
          CertName: 'x',
          NextProtos: ['h2;rate=30', 'http/1.1'],
          VipConf: ['10.0.0.1'],
          SniConf: ['a.test'],
          Grade: 'A',
        },
      },
    },
    (t) => parseTlsRuleConf('tls_rule_conf.data', t),
  ],
  [
    'server_cert_conf.data',
    {
      Version: 'v',
      Config: {
        Default: 'd',
        CertConf: { d: { ServerCertFile: 'none.crt', ServerKeyFile: 'none.key' } },
      },
    },
    (t, dir) => parseServerCertConf('server_cert_conf.data', t, dir),
  ],
  [
    'name_conf.data',
    { Version: 'v', Config: { n: [{ Host: '127.0.0.1', Port: 80, Weight: 1 }] } },
    (t) => parseNameConf('name_conf.data', t),
  ],
]

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/** Every path (list of keys / indexes) inside a JSON value, the root included. */
function pathsOf(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix]
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) out.push(...pathsOf(x, [...prefix, i]))
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...prefix, k]))
  }
  return out
}

type Mutation = { at: number; op: 'replace' | 'delete' | 'add'; key: string; value: unknown }

/** Applies mutations to a deep copy of `sample`: each picks a path by index modulo the count. */
function mutate(sample: unknown, muts: readonly Mutation[]): unknown {
  let doc = structuredClone(sample) as Json
  for (const m of muts) {
    const paths = pathsOf(doc)
    const p = paths[m.at % paths.length] ?? []
    // fast-check reuses generated values across runs and shrinking: never insert one as is.
    const value = structuredClone(m.value)
    if (p.length === 0) {
      if (m.op === 'replace') doc = value as Json
      continue
    }
    let parent: unknown = doc
    for (const k of p.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[k]
    const last = p[p.length - 1] as string | number
    const target = parent as Record<string | number, unknown>
    if (m.op === 'replace') target[last] = value
    else if (m.op === 'delete') {
      if (Array.isArray(target)) target.splice(Number(last), 1)
      else delete target[last]
    } else {
      const obj = target[last]
      if (Array.isArray(obj)) obj.push(value)
      else if (obj !== null && typeof obj === 'object') {
        // defineProperty: an own "__proto__" key, as JSON.parse makes one, not a prototype.
        Object.defineProperty(obj, m.key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        })
      } else target[last] = value
    }
  }
  return doc
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('replace', 'delete', 'add'),
  key: fc.oneof(fc.constantFrom('Version', 'Config', '__proto__', 'constructor', ''), fc.string()),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(
      -1,
      0,
      1e300,
      -0,
      2 ** 53,
      1.5,
      '',
      '-1',
      '99999999999999999999',
      [],
      {},
      null,
      true,
    ),
  ),
})

/** The sample's text with characters inserted, deleted or replaced. */
const textMutations = fc.array(
  fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.string({ unit: 'binary', maxLength: 3 })),
  { minLength: 1, maxLength: 4 },
)
function mutateText(text: string, muts: readonly [number, number, string][]): string {
  let t = text
  for (const [at, del, ins] of muts) {
    const i = at % (t.length + 1)
    t = t.slice(0, i) + ins + t.slice(i + del)
  }
  return t
}

describe('fuzz: JSON data-file loaders', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bfe-fuzz-json-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  for (const [name, sample, load] of JSON_LOADERS) {
    it(`${name}: random JSON values fail with BfeConfError`, () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
          onlyClearErrors(() => load(JSON.stringify(v) ?? 'null', dir))
        }),
        params(150),
      )
    })
    it(`${name}: mutated valid samples load or fail with BfeConfError`, () => {
      // The sample itself must load (or fail only on its missing certificate files).
      onlyClearErrors(() => load(JSON.stringify(sample), dir))
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (muts) => {
          onlyClearErrors(() => load(JSON.stringify(mutate(sample, muts)), dir))
        }),
        params(300),
      )
    })
    it(`${name}: mutated text fails with BfeConfError`, () => {
      const text = JSON.stringify(sample, null, 1)
      fc.assert(
        fc.property(textMutations, (muts) => {
          onlyClearErrors(() => load(mutateText(text, muts), dir))
        }),
        params(150),
      )
    })
  }
})

// ---------------------------------------------------------------- HTTP/1 request head

/**
 * Sends `bytes` and collects the answer until the server closes, or `idleMs` pass without the
 * server closing (a head still incomplete, or a keep-alive answer): then the socket is dropped.
 * The client does not half-close: bfe-ts, like Node's http server, drops a half-closed client.
 */
function exchange(port: number, bytes: Uint8Array, idleMs = 250): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const s = connect(port, '127.0.0.1')
    s.on('error', () => {})
    let t = setTimeout(() => s.destroy(), idleMs)
    s.on('data', (c: Buffer) => {
      chunks.push(c)
      clearTimeout(t)
      t = setTimeout(() => s.destroy(), idleMs)
    })
    s.on('close', () => {
      clearTimeout(t)
      resolve(Buffer.concat(chunks).toString('latin1'))
    })
    s.write(bytes)
  })
}

/** Requests that close after their answer, so most runs end as soon as the server answers. */
const VALID_HEADS: readonly string[] = [
  'GET / HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n',
  'GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: p.test\r\nUser-Agent: fuzz\r\nAccept: */*\r\nCookie: a=b; c=d\r\nConnection: close\r\n\r\n',
  'POST /up HTTP/1.1\r\nHost: p.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
  'POST /up HTTP/1.1\r\nHost: p.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET http://p.test/abs HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n',
  'GET / HTTP/1.0\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: p.test\r\nExpect: 100-continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: p.test\r\n\r\nGET /second HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n',
]

/** Bytes worth inserting into a head: delimiters, controls, high bytes. */
const SPICE = fc.constantFrom(
  '\r',
  '\n',
  '\r\n',
  ' ',
  '\t',
  ':',
  '\0',
  '\x7f',
  '\xff',
  '%',
  '?',
  '#',
  '/',
  '..',
  ',',
  ';',
  'chunked',
  'Content-Length: 3\r\n',
  'Transfer-Encoding: chunked\r\n',
  'Host: other.test\r\n',
  'X'.repeat(100),
  '0'.repeat(20),
)

type HeadMutation = [number, 'insert' | 'delete' | 'replace' | 'duplicate', string, number]
const headMutation: fc.Arbitrary<HeadMutation> = fc.tuple(
  fc.nat(),
  fc.constantFrom('insert', 'delete', 'replace', 'duplicate'),
  fc.oneof(SPICE, fc.string({ unit: 'binary-ascii', maxLength: 4 })),
  fc.nat({ max: 12 }),
)
function mutateHead(head: string, muts: readonly HeadMutation[]): Buffer {
  let h = head
  for (const [at, op, s, n] of muts) {
    const i = at % (h.length + 1)
    if (op === 'insert') h = h.slice(0, i) + s + h.slice(i)
    else if (op === 'delete') h = h.slice(0, i) + h.slice(i + n + 1)
    else if (op === 'replace') h = h.slice(0, i) + s + h.slice(i + s.length)
    else h = h.slice(0, i) + h.slice(i, i + n + 1) + h.slice(i)
  }
  return Buffer.from(h, 'latin1')
}

/** An answer is nothing (a close) or starts with a status line; every status in it is 1xx–5xx. */
function checkAnswer(answer: string): void {
  if (answer === '') return
  assert.match(answer, /^HTTP\/1\.[01] [1-5]\d\d /, JSON.stringify(answer.slice(0, 80)))
  // A 500 would be an internal error caught in the server: not an answer to a bad request.
  for (const m of answer.matchAll(/HTTP\/1\.[01] (\d{3}) /g)) assert.notEqual(m[1], '500', answer)
}

describe('fuzz: HTTP/1 request head over a raw socket', () => {
  let up: Upstream
  let bfe: RunningBfe
  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(simpleConf([up.port]))
  })
  after(async () => {
    await bfe?.close()
    await up?.close()
  })

  async function stillServes(): Promise<void> {
    const answer = await exchange(
      bfe.port,
      Buffer.from('GET /health HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n'),
      5000,
    )
    assert.match(answer, /^HTTP\/1\.1 200 /, JSON.stringify(answer.slice(0, 80)))
  }

  it('random bytes: a status or a close, and the next request is served', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.boolean(), async (bytes, end) => {
        // Half the runs end the bytes with an empty line, so that most heads are complete.
        const sent = end ? Buffer.concat([bytes, Buffer.from('\r\n\r\n')]) : bytes
        checkAnswer(await exchange(bfe.port, sent))
        await stillServes()
      }),
      params(150),
    )
  })

  it('mutated valid heads: a status or a close, and the next request is served', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...VALID_HEADS),
        fc.array(headMutation, { minLength: 1, maxLength: 4 }),
        async (head, muts) => {
          checkAnswer(await exchange(bfe.port, mutateHead(head, muts)))
          await stillServes()
        },
      ),
      params(300),
    )
  })
})
