import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { openssl, TestPki } from '../../test/helpers/certs.js'
import { confError } from '../../test/helpers/conf-assert.js'
import { BfeConfError } from '../basic/errors.js'
import { parseServerCertConf, type ServerCertConf } from './server-cert-conf.js'
import {
  checkTlsRuleCerts,
  loadClientCas,
  loadTlsRuleConf,
  matchHostname,
  parseNextProto,
  parseTlsRuleConf,
} from './tls-rule-conf.js'

const F = 'tls_rule_conf.data'

const rules = (config: unknown, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ Version: 'v', Config: config, ...extra })

// The cases of BFE's tls_rule_conf loader test, written as our own fixtures: a file with several
// rules that loads, malformed JSON, the Grade default, client CA files found or not, and IPv6 VIPs
// printed the way Go prints them.
describe('tls_rule_conf.data: the cases of BFE’s loader test', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bfe-tlsrule-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const write = (name: string, text: string): string => {
    const f = path.join(dir, name)
    writeFileSync(f, text)
    return f
  }
  const cert = '*.shop.test'

  it('a file with five rules loads with every field', () => {
    const f = write(
      'five.data',
      rules({
        pa: {
          CertName: cert,
          NextProtos: ['spdy/3.1', 'http/1.1'],
          VipConf: ['10.1.0.1', '10.1.0.2'],
          Grade: 'A',
        },
        pb: { CertName: cert, VipConf: ['10.1.0.3'], Grade: 'b' },
        pc: {
          CertName: cert,
          NextProtos: ['spdy/3.1;rate=50', 'http/1.1'],
          VipConf: ['10.1.0.4'],
          Grade: 'B',
        },
        pd: {
          CertName: cert,
          NextProtos: ['h2;rate=30', 'spdy/3.1;rate=50', 'http/1.1'],
          VipConf: ['10.1.0.5'],
          Grade: 'B',
        },
        pe: {
          CertName: '*.other.test',
          NextProtos: ['stream;level=2;pp=1'],
          VipConf: ['10.1.0.6'],
          Grade: 'B',
        },
      }),
    )
    const c = loadTlsRuleConf(f)
    assert.equal(c.Version, 'v')
    assert.deepEqual([...c.Config.keys()], ['pa', 'pb', 'pc', 'pd', 'pe'])
    const pick = (k: string) => {
      const r = c.Config.get(k)
      return [r?.CertName, r?.NextProtos, r?.VipConf, r?.Grade]
    }
    assert.deepEqual(pick('pa'), [cert, ['spdy/3.1', 'http/1.1'], ['10.1.0.1', '10.1.0.2'], 'A'])
    assert.deepEqual(pick('pb'), [cert, [], ['10.1.0.3'], 'B'])
    assert.deepEqual(pick('pd'), [
      cert,
      ['h2;rate=30', 'spdy/3.1;rate=50', 'http/1.1'],
      ['10.1.0.5'],
      'B',
    ])
    assert.deepEqual(c.Config.get('pe')?.protos, [
      { proto: 'stream', level: 2, mcs: 200, isw: 65535, rate: 100, pp: 1 },
    ])
    assert.deepEqual(c.DefaultNextProtos, ['http/1.1'])
    assert.equal(c.DefaultChacha20, false)
  })

  it('malformed JSON is rejected, naming the file', () => {
    const bad = [
      '{"Version": "v", "Config": {"pa": {"CertName": "x" "VipConf": []}}}',
      '{"Version": "v", "Config": {"pa": {"CertName": "x",}}}',
      '{"Version": "v", "Config": ',
    ]
    bad.forEach((text, i) => {
      const f = write(`bad${i}.data`, text)
      assert.throws(
        () => loadTlsRuleConf(f),
        (e: unknown) => e instanceof BfeConfError && /not valid JSON/.test(e.reason),
        text,
      )
    })
  })

  it('Grade defaults to C', () => {
    const c = loadTlsRuleConf(
      write('grade.data', rules({ pa: { CertName: cert }, pb: { CertName: cert, Grade: '' } })),
    )
    assert.equal(c.Config.get('pa')?.Grade, 'C')
    assert.equal(c.Config.get('pb')?.Grade, 'C')
  })

  it('client CA files: found, or a clear error naming the rule', () => {
    const pki = new TestPki('bfe-cas-')
    try {
      const caDir = path.join(dir, 'client_ca')
      mkdirSync(caDir, { recursive: true })
      writeFileSync(path.join(caDir, 'shop_ca.crt'), pki.ca.certPem)
      const withCa = (name: string) =>
        loadTlsRuleConf(
          write(
            `ca-${name}.data`,
            rules({ pa: { CertName: cert, ClientAuth: true, ClientCAName: name } }),
          ),
        )
      const c = withCa('shop_ca')
      assert.equal(c.Config.get('pa')?.ClientAuth, true)
      const cas = loadClientCas(F, c, caDir, dir)
      assert.deepEqual([...cas.keys()], ['shop_ca'])
      assert.match(cas.get('shop_ca')?.pem ?? '', /BEGIN CERTIFICATE/)
      assert.deepEqual(cas.get('shop_ca')?.crls, [])
      confError(
        () => loadClientCas(F, withCa('other_ca'), caDir, dir),
        F,
        '/Config/pa/ClientCAName',
        /other_ca\.crt cannot be read/,
      )
    } finally {
      pki.cleanup()
    }
  })

  it('IPv6 VIPs are normalised as Go prints them', () => {
    const c = loadTlsRuleConf(
      write(
        'v6.data',
        rules({
          pa: { CertName: cert, VipConf: ['FF02::1'] },
          pb: { CertName: cert, VipConf: ['FC00:1:A000:B00:0:527:127:AB'] },
          pc: { CertName: cert, VipConf: ['2001:0000:1111:000A:00B0:0000:9000:0200'] },
          pd: { CertName: cert, VipConf: ['0:0:0:0:0:0:0:1'] },
        }),
      ),
    )
    assert.deepEqual(c.Config.get('pa')?.VipConf, ['ff02::1'])
    assert.deepEqual(c.Config.get('pb')?.VipConf, ['fc00:1:a000:b00:0:527:127:ab'])
    assert.deepEqual(c.Config.get('pc')?.VipConf, ['2001:0:1111:a:b0:0:9000:200'])
    assert.deepEqual(c.Config.get('pd')?.VipConf, ['::1'])
  })

  it('BFE’s sample conf/tls_conf/tls_rule_conf.data shape loads (one object per label)', () => {
    const c = parseTlsRuleConf(
      F,
      rules(
        {
          example_product: {
            VipConf: ['10.199.4.14'],
            SniConf: ['example.org'],
            CertName: 'example.org',
            NextProtos: ['h2;rate=100;isw=65535;mcs=200;level=0', 'http/1.1'],
            Grade: 'C',
            ClientAuth: false,
            ClientCAName: 'example_ca',
          },
        },
        { DefaultNextProtos: ['http/1.1'] },
      ),
    )
    assert.deepEqual(c.Config.get('example_product')?.SniConf, ['example.org'])
    assert.equal(c.Config.get('example_product')?.protos[0]?.proto, 'h2')
  })
})

describe('tls_rule_conf.data: NextProtos specs', () => {
  it('parses names and parameters (; or &, URL-encoded values)', () => {
    assert.deepEqual(parseNextProto('h2'), {
      proto: 'h2',
      level: 0,
      mcs: 200,
      isw: 65535,
      rate: 100,
      pp: 0,
    })
    assert.deepEqual(parseNextProto('h2;level=1;mcs=10&isw=262144'), {
      proto: 'h2',
      level: 1,
      mcs: 10,
      isw: 262144,
      rate: 100,
      pp: 0,
    })
    assert.equal((parseNextProto('h2;rate=%35%30') as { rate: number }).rate, 50)
    assert.equal((parseNextProto('stream;pp=2;level=2') as { pp: number }).pp, 2)
    assert.equal((parseNextProto('h2;') as { rate: number }).rate, 100)
  })

  it('rejects out-of-range and malformed parameters', () => {
    const bad: [string, RegExp][] = [
      ['h3', /not supported/],
      ['', /not supported/],
      ['h2;level=3', /level must be in \[0, 2\]/],
      ['h2;level=-1', /level/],
      ['h2;mcs=0', /mcs must be in \[1, 1000\], got 0/],
      ['h2;isw=65534', /isw must be in/],
      ['h2;isw=262145', /isw must be in/],
      ['h2;rate=101', /rate must be in \[0, 100\]/],
      ['h2;rate=-1', /rate must be in/],
      ['h2;level=1;rate=50', /rate must be 100 if level > 0/],
      ['http/1.1;rate=50', /rate for http\/1.1/],
      ['stream;pp=3', /pp must be in/],
      ['h2;pp=1', /only available for stream/],
      ['h2;foo=1', /unknown param "foo"/],
      ['h2;level=x', /invalid level/],
      ['h2;level', /invalid level/],
      ['h2;level=1;level=1', /repeated/],
      ['h2;level=%zz', /invalid proto params/],
    ]
    for (const [spec, re] of bad) {
      const r = parseNextProto(spec)
      assert.equal(typeof r, 'string', spec)
      assert.match(String(r), re, spec)
    }
  })

  it('list rules: duplicates, http/1.1 presence, a mandatory protocol alone', () => {
    const one = (np: unknown) =>
      parseTlsRuleConf(F, rules({ p: { CertName: 'c', NextProtos: np } }))
    assert.equal(one(['h2;level=2']).Config.get('p')?.protos[0]?.level, 2)
    confError(
      () => one(['h2', 'http/1.1', 'h2;rate=5']),
      F,
      '/Config/p/NextProtos/2',
      /duplicate protocol "h2"/,
    )
    confError(() => one(['h2', 'spdy/3.1']), F, '/Config/p/NextProtos', /must contain "http\/1.1"/)
    confError(
      () => one(['h2;level=2', 'http/1.1']),
      F,
      '/Config/p/NextProtos',
      /only one protocol when one is mandatory/,
    )
    confError(() => one(['h2;rate=200', 'http/1.1']), F, '/Config/p/NextProtos/0', /rate/)
    confError(
      () => parseTlsRuleConf(F, rules({}, { DefaultNextProtos: ['h2'] })),
      F,
      '/DefaultNextProtos',
      /http\/1.1/,
    )
    const d = parseTlsRuleConf(F, rules({}, { DefaultNextProtos: ['h2;rate=10', 'http/1.1'] }))
    assert.deepEqual(d.DefaultNextProtos, ['h2;rate=10', 'http/1.1'])
    assert.equal(d.defaultProtos[0]?.rate, 10)
    const e = parseTlsRuleConf(F, rules({}, { DefaultNextProtos: [] }))
    assert.deepEqual(e.DefaultNextProtos, ['http/1.1'])
    assert.equal(e.defaultProtos[0]?.proto, 'http/1.1')
  })
})

describe('tls_rule_conf.data: rule checks', () => {
  const parse = (config: unknown) => parseTlsRuleConf(F, rules(config))

  it('Version, Config and CertName are required; Config entries are objects', () => {
    confError(() => parseTlsRuleConf(F, '{"Config":{}}'), F, '/Version', /required/)
    confError(() => parseTlsRuleConf(F, '{"Version":"v"}'), F, '/Config', /required/)
    confError(() => parse({ p: null }), F, '/Config/p', /rule object/)
    confError(() => parse({ p: [{ CertName: 'c' }] }), F, '/Config/p', /must be an object/)
    confError(() => parse({ p: {} }), F, '/Config/p/CertName', /required/)
  })

  it('Grade upper-cased, default C, unknown rejected', () => {
    const c = parse({ a: { CertName: 'c', Grade: 'a+' }, b: { CertName: 'c', Grade: 'b' } })
    assert.equal(c.Config.get('a')?.Grade, 'A+')
    assert.equal(c.Config.get('b')?.Grade, 'B')
    confError(() => parse({ p: { CertName: 'c', Grade: 'D' } }), F, '/Config/p/Grade', /"D"/)
  })

  it('ClientAuth needs ClientCAName; Chacha20 and DynamicRecord are read', () => {
    confError(
      () => parse({ p: { CertName: 'c', ClientAuth: true } }),
      F,
      '/Config/p/ClientCAName',
      /required when ClientAuth/,
    )
    const c = parse({ p: { CertName: 'c', Chacha20: true, DynamicRecord: true } })
    assert.equal(c.Config.get('p')?.Chacha20, true)
    assert.equal(c.Config.get('p')?.DynamicRecord, true)
    assert.equal(c.Config.get('p')?.ClientAuth, false)
  })

  it('VIPs parse and normalise; a VIP or SNI name belongs to one rule', () => {
    const c = parse({ p: { CertName: 'c', VipConf: ['::FFFF:10.0.0.1', '2001:DB8::1'] } })
    assert.deepEqual(c.Config.get('p')?.VipConf, ['10.0.0.1', '2001:db8::1'])
    confError(
      () => parse({ p: { CertName: 'c', VipConf: ['10.0.0'] } }),
      F,
      '/Config/p/VipConf/0',
      /valid IP/,
    )
    confError(
      () =>
        parse({
          p: { CertName: 'c', VipConf: ['10.0.0.1'] },
          q: { CertName: 'c', VipConf: ['::ffff:10.0.0.1'] },
        }),
      F,
      '/Config/q/VipConf/0',
      /already listed in rule "p"/,
    )
    confError(
      () => parse({ p: { CertName: 'c', SniConf: ['a.test', 'a.test'] } }),
      F,
      '/Config/p/SniConf/1',
      /already listed in rule "p"/,
    )
  })
})

describe('tls_rule_conf.data against certificates and client CAs', () => {
  let pki: TestPki
  let certs: ServerCertConf
  before(() => {
    pki = new TestPki('bfe-trc-')
    const a = pki.server('a', { cn: 'a.test', dns: ['a.test', '*.a.test'] })
    const b = pki.server('b', { dns: ['b.test'] })
    certs = parseServerCertConf(
      'server_cert_conf.data',
      JSON.stringify({
        Version: 'v',
        Config: {
          Default: 'b',
          CertConf: {
            a: { ServerCertFile: a.certFile, ServerKeyFile: a.keyFile },
            b: { ServerCertFile: b.certFile, ServerKeyFile: b.keyFile },
          },
        },
      }),
      pki.dir,
    )
  })
  after(() => pki.cleanup())

  it('CertName must exist (BFE_DEFAULT_CERT = the default); SniConf names covered', () => {
    const ok = parseTlsRuleConf(
      F,
      rules({
        p: { CertName: 'a', SniConf: ['a.test', 'x.a.test', 'X.A.test'] },
        d: { CertName: 'BFE_DEFAULT_CERT', SniConf: ['b.test'] },
      }),
    )
    checkTlsRuleCerts(F, ok, certs)
    const bad = (config: unknown) => () =>
      checkTlsRuleCerts(F, parseTlsRuleConf(F, rules(config)), certs)
    confError(bad({ p: { CertName: 'zz' } }), F, '/Config/p/CertName', /"zz" does not exist/)
    confError(
      bad({ p: { CertName: 'a', SniConf: ['a.test', 'y.x.a.test'] } }),
      F,
      '/Config/p/SniConf/1',
      /"y.x.a.test" is not covered by certificate "a"/,
    )
    confError(
      bad({ p: { CertName: 'a', SniConf: ['b.test'] } }),
      F,
      '/Config/p/SniConf/0',
      /not covered/,
    )
  })

  it('matchHostname: * is exactly one label', () => {
    assert.equal(matchHostname('*.a.test', 'x.a.test'), true)
    assert.equal(matchHostname('*.a.test', 'a.test'), false)
    assert.equal(matchHostname('*.a.test', 'y.x.a.test'), false)
    assert.equal(matchHostname('a.*.test', 'a.b.test'), true)
    assert.equal(matchHostname('a.test', 'a.test'), true)
    assert.equal(matchHostname('', ''), false)
  })

  it('loads client CAs and their CRLs (PEM and DER, other suffixes ignored)', () => {
    const caDir = path.join(pki.dir, 'client_ca')
    const crlDir = path.join(pki.dir, 'client_crl')
    mkdirSync(path.join(crlDir, 'ca1'), { recursive: true })
    mkdirSync(path.join(crlDir, 'ca1', 'sub.crl'))
    mkdirSync(caDir)
    writeFileSync(path.join(caDir, 'ca1.crt'), pki.ca.certPem)
    writeFileSync(path.join(caDir, 'ca2.crt'), pki.ca.certPem)
    const { crl } = pki.revokedClient('rev')
    writeFileSync(path.join(crlDir, 'ca1', 'a.crl'), crl.pem)
    writeFileSync(path.join(crlDir, 'ca1', 'b.crl'), pki.crl('der').pem)
    pki.write(
      'client_crl/ca1/c.crl',
      Buffer.from(crl.pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'),
    )
    writeFileSync(path.join(crlDir, 'ca1', 'ignored.pem'), 'junk')
    const conf = parseTlsRuleConf(
      F,
      rules({
        p: { CertName: 'a', ClientAuth: true, ClientCAName: 'ca1' },
        q: { CertName: 'a', ClientAuth: true, ClientCAName: 'ca2' },
        r: { CertName: 'a', ClientAuth: false, ClientCAName: 'missing' },
      }),
    )
    const cas = loadClientCas(F, conf, caDir, crlDir)
    assert.deepEqual([...cas.keys()], ['ca1', 'ca2'])
    const ca1 = cas.get('ca1')
    assert.deepEqual(
      ca1?.crlFiles.map((f) => path.basename(f)),
      ['a.crl', 'b.crl', 'c.crl'],
    )
    assert.equal(ca1?.crls[0], crl.pem.replace(/\r/g, ''))
    assert.match(ca1?.crls[2] ?? '', /^-----BEGIN X509 CRL-----\n/)
    assert.equal(ca1?.crls[2], ca1?.crls[0])
    assert.deepEqual(cas.get('ca2')?.crls, [])

    confError(
      () => loadClientCas(F, conf, caDir, path.join(pki.dir, 'nope'), 'bfe.conf'),
      'bfe.conf',
      '[HttpsBasic] ClientCRLBaseDir',
      /does not exist/,
    )
    writeFileSync(path.join(crlDir, 'ca1', 'z.crl'), 'junk')
    confError(
      () => loadClientCas(F, conf, caDir, crlDir),
      F,
      '/Config/p/ClientCAName',
      /z\.crl cannot be parsed/,
    )
  })

  it('a CRL without AuthorityKeyIdentifier is rejected, as in BFE', () => {
    const caDir = path.join(pki.dir, 'ca_noaki')
    const crlDir = path.join(pki.dir, 'crl_noaki')
    mkdirSync(path.join(crlDir, 'x'), { recursive: true })
    mkdirSync(caDir)
    writeFileSync(path.join(caDir, 'x.crt'), pki.ca.certPem)
    // `openssl ca` under a config without crl_extensions writes a CRL with no extensions
    const cnf = pki.write(
      'noaki.cnf',
      `[ca]\ndefault_ca = c\n[c]\ndatabase = ${path.join(pki.dir, 'index.txt')}\ndefault_md = sha256\n`,
    )
    const out = path.join(crlDir, 'x', 'noaki.crl')
    openssl([
      'ca',
      '-batch',
      '-config',
      cnf,
      '-gencrl',
      '-keyfile',
      pki.ca.keyFile,
      '-cert',
      pki.ca.certFile,
      '-crldays',
      '1',
      '-out',
      out,
    ])
    const conf = parseTlsRuleConf(
      F,
      rules({ p: { CertName: 'a', ClientAuth: true, ClientCAName: 'x' } }),
    )
    confError(
      () => loadClientCas(F, conf, caDir, crlDir),
      F,
      '/Config/p/ClientCAName',
      /AuthorityKeyIdentifier/,
    )
  })
})
