import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { TestPki } from '../../test/helpers/certs.js'
import { confError } from '../../test/helpers/conf-assert.js'
import { parseClusterConf } from './cluster-conf.js'

const C = 'cluster_conf.data'
const cc = (o: unknown, confRoot?: string) =>
  parseClusterConf(C, JSON.stringify(o), confRoot === undefined ? {} : { confRoot })
const one = (c: object) => cc({ Version: 'v', Config: { c } }).Config.get('c')
const bad = (c: object, ptr: string, re: RegExp) =>
  confError(() => cc({ Version: 'v', Config: { c } }), C, `/Config/c${ptr}`, re)

describe('cluster_conf.data', () => {
  it('applies every BFE default to an empty cluster', () => {
    assert.deepEqual(one({}), {
      name: 'c',
      BackendConf: {
        Protocol: 'http',
        TimeoutConnSrv: 2000,
        TimeoutResponseHeader: 60000,
        MaxIdleConnsPerHost: 2,
        MaxConnsPerHost: 0,
        RetryLevel: 0,
        SlowStartTime: 0,
        OutlierDetectionHttpCode: '',
        FCGIConf: { Root: '', EnvVars: {} },
      },
      CheckConf: {
        Schem: 'http',
        Uri: '/health_check',
        Host: '',
        HostType: 'HOST',
        StatusCode: 0,
        StatusCodeRange: '',
        FailNum: 5,
        SuccNum: 1,
        CheckTimeout: undefined,
        CheckInterval: 1000,
        ActiveCheck: false,
      },
      GslbBasic: {
        CrossRetry: 0,
        RetryMax: 2,
        BalanceMode: 'WRR',
        EPPAddr: [],
        HashConf: { HashStrategy: 1, HashHeader: '', SessionSticky: false },
      },
      ClusterBasic: {
        TimeoutReadClient: 30000,
        TimeoutWriteClient: 60000,
        TimeoutReadClientAgain: 60000,
        ReqWriteBufferSize: 512,
        ReqFlushInterval: 0,
        ResFlushInterval: -1,
        CancelOnClientClose: false,
        DisableHostHeader: false,
        DisableHealthCheck: false,
      },
      HTTPSConf: {
        RSHost: '',
        RSInsecureSkipVerify: false,
        RSCAList: [],
        BFECert: undefined,
        BFEKey: undefined,
      },
    })
  })

  it('reads the config.md example (keys in any case)', () => {
    const c = cc({
      Version: 'r12',
      Config: {
        web: {
          BackendConf: { TimeoutConnSrv: 1500, RetryLevel: 1, OutlierDetectionHttpCode: '502|5XX' },
          checkconf: {
            Schem: 'http',
            Uri: '/ping',
            Host: 'web.internal',
            StatusCode: 200,
            ActiveCheck: true,
          },
          GslbBasic: {
            CrossRetry: 1,
            RetryMax: 2,
            HashConf: { HashStrategy: 1 },
            BalanceMode: 'wlc',
          },
          ClusterBasic: { TimeoutReadClientAgain: 15000 },
        },
        canary: {},
      },
    })
    const web = c.Config.get('web')
    assert.equal(c.Version, 'r12')
    assert.equal(web?.BackendConf.TimeoutConnSrv, 1500)
    assert.equal(web?.BackendConf.OutlierDetectionHttpCode, '502|5xx')
    assert.equal(web?.CheckConf.Uri, '/ping')
    assert.equal(web?.CheckConf.ActiveCheck, true)
    assert.equal(web?.GslbBasic.BalanceMode, 'WLC')
    assert.equal(web?.ClusterBasic.TimeoutReadClientAgain, 15000)
    assert.equal(c.Config.get('canary')?.name, 'canary')
  })

  it('lower-cases Protocol and clamps a negative MaxConnsPerHost', () => {
    const c = one({ BackendConf: { Protocol: 'H2C', MaxConnsPerHost: -5 } })
    assert.equal(c?.BackendConf.Protocol, 'h2c')
    assert.equal(c?.BackendConf.MaxConnsPerHost, 0)
  })

  it("accepts BFE's protocols; fcgi loads with a warning (D19: never forwarded to)", () => {
    for (const p of ['http', 'HTTPS', 'h2c', 'ws', 'tcp'])
      assert.equal(one({ BackendConf: { Protocol: p } })?.BackendConf.Protocol, p.toLowerCase())
    const conf = cc({ Version: 'v', Config: { c: { BackendConf: { Protocol: 'FCGI' } } } })
    assert.equal(conf.Config.get('c')?.BackendConf.Protocol, 'fcgi')
    assert.ok(
      conf.notes.some((w) =>
        /\/Config\/c\/BackendConf\/Protocol is "fcgi": FastCGI backends are not supported/.test(w),
      ),
      conf.notes.join('\n'),
    )
    bad(
      { BackendConf: { Protocol: 'h2' } },
      '/BackendConf/Protocol',
      /^must be one of http, https, h2c, ws, tcp, got "h2"$/,
    )
  })

  it('validates every field', () => {
    confError(() => cc({ Config: {} }), C, '/Version', /is required/)
    confError(() => cc({ Version: 'v' }), C, '/Config', /is required/)
    confError(() => cc({ Version: 'v', Config: { c: [] } }), C, '/Config/c', /must be an object/)
    bad({ BackendConf: { Protocol: 'ftp' } }, '/BackendConf/Protocol', /must be one of/)
    bad(
      { BackendConf: { TimeoutConnSrv: 'x' } },
      '/BackendConf/TimeoutConnSrv',
      /must be an integer/,
    )
    bad(
      { BackendConf: { TimeoutConnSrv: -1 } },
      '/BackendConf/TimeoutConnSrv',
      /must be in \[0, 2147483647\] ms, got -1/,
    )
    bad({ BackendConf: { RetryLevel: 3 } }, '/BackendConf/RetryLevel', /must be one of 0, 1/)
    bad(
      { BackendConf: { OutlierDetectionHttpCode: '5xx|abc' } },
      '/BackendConf/OutlierDetectionHttpCode',
      /"abc"/,
    )
    bad(
      { BackendConf: { FCGIConf: { EnvVars: { a: 1 } } } },
      '/BackendConf/FCGIConf/EnvVars/a',
      /must be a string/,
    )
    bad({ CheckConf: { Schem: 'HTTP' } }, '/CheckConf/Schem', /must be http, https, tls or tcp/)
    bad({ CheckConf: { Uri: 'ping' } }, '/CheckConf/Uri', /must start with "\/"/)
    one({ CheckConf: { Schem: 'tcp', Uri: 'ping' } })
    bad({ CheckConf: { HostType: 'IP' } }, '/CheckConf/HostType', /HOST or Instance_IP/)
    bad({ CheckConf: { StatusCode: 32 } }, '/CheckConf/StatusCode', /must be 0/)
    bad({ CheckConf: { StatusCode: 600 } }, '/CheckConf/StatusCode', /must be 0/)
    bad({ CheckConf: { StatusCodeRange: '20|3xx' } }, '/CheckConf/StatusCodeRange', /3-character/)
    bad({ CheckConf: { StatusCodeRange: '2a0' } }, '/CheckConf/StatusCodeRange', /3-character/)
    assert.equal(
      one({ CheckConf: { StatusCodeRange: '200 | 3xx' } })?.CheckConf.StatusCodeRange,
      '200 | 3xx',
    )
    bad({ CheckConf: { SuccNum: 0 } }, '/CheckConf/SuccNum', /must be in \[1, 65535\], got 0/)
    bad(
      { CheckConf: { CheckInterval: 0 } },
      '/CheckConf/CheckInterval',
      /must be in \[1, 2147483647\] ms, got 0/,
    )
    bad(
      { CheckConf: { CheckTimeout: -1 } },
      '/CheckConf/CheckTimeout',
      /must be in \[0, 2147483647\] ms/,
    )
    bad({ CheckConf: { ActiveCheck: 'yes' } }, '/CheckConf/ActiveCheck', /must be a boolean/)
    bad({ GslbBasic: { BalanceMode: 'RR' } }, '/GslbBasic/BalanceMode', /WRR, WLC or EPP/)
    bad({ GslbBasic: { BalanceMode: 'epp' } }, '/GslbBasic/EPPAddr', /is required/)
    assert.deepEqual(
      one({ GslbBasic: { BalanceMode: 'epp', EPPAddr: ['a:1'] } })?.GslbBasic.EPPAddr,
      ['a:1'],
    )
    bad(
      { GslbBasic: { HashConf: { HashStrategy: 4 } } },
      '/GslbBasic/HashConf/HashStrategy',
      /one of 0, 1, 2, 3/,
    )
    bad(
      { GslbBasic: { HashConf: { HashStrategy: 0 } } },
      '/GslbBasic/HashConf/HashHeader',
      /is required/,
    )
    bad(
      { GslbBasic: { HashConf: { HashStrategy: 2, HashHeader: 'Cookie: ' } } },
      '/GslbBasic/HashConf/HashHeader',
      /names no cookie/,
    )
    bad(
      { ClusterBasic: { ResFlushInterval: -2 } },
      '/ClusterBasic/ResFlushInterval',
      /must be in \[-1, 2147483647\] ms/,
    )
    bad(
      { ClusterBasic: { CancelOnClientClose: 1 } },
      '/ClusterBasic/CancelOnClientClose',
      /must be a boolean/,
    )
  })

  it('reads HTTPSConf files only for https backends (D17 paths)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bfe-cc-'))
    const pki = new TestPki('bfe-cc-')
    const pair = pki.selfSigned('c', { cn: 't' })
    const certFile = path.join(dir, 'c.crt')
    const keyFile = pair.keyFile
    writeFileSync(certFile, pair.certPem)
    // an http backend never touches the files
    one({ HTTPSConf: { RSCAList: ['missing.pem'] } })
    confError(
      () =>
        cc(
          {
            Version: 'v',
            Config: {
              c: { BackendConf: { Protocol: 'https' }, HTTPSConf: { RSCAList: ['missing.pem'] } },
            },
          },
          dir,
        ),
      C,
      '/Config/c/HTTPSConf/RSCAList/0',
      /not found/,
    )
    // skip-verify: CA files are not read
    cc(
      {
        Version: 'v',
        Config: {
          c: {
            BackendConf: { Protocol: 'https' },
            HTTPSConf: { RSInsecureSkipVerify: true, RSCAList: ['missing.pem'] },
          },
        },
      },
      dir,
    )
    writeFileSync(path.join(dir, 'junk.pem'), 'junk')
    confError(
      () =>
        cc(
          {
            Version: 'v',
            Config: {
              c: { BackendConf: { Protocol: 'https' }, HTTPSConf: { RSCAList: ['junk.pem'] } },
            },
          },
          dir,
        ),
      C,
      '/Config/c/HTTPSConf/RSCAList/0',
      /no PEM certificate/,
    )
    // relative to the configuration root when not found from the working directory
    const r = cc(
      {
        Version: 'v',
        Config: {
          c: {
            BackendConf: { Protocol: 'https' },
            HTTPSConf: {
              RSHost: 'b.test',
              RSCAList: ['c.crt'],
              BFECertFile: 'c.crt',
              BFEKeyFile: keyFile,
            },
          },
        },
      },
      dir,
    )
    const h = r.Config.get('c')?.HTTPSConf
    assert.equal(h?.RSHost, 'b.test')
    assert.match(h?.RSCAList[0] ?? '', /BEGIN CERTIFICATE/)
    assert.match(h?.BFEKey ?? '', /PRIVATE KEY/)
    assert.ok(r.notes.some((n) => n.includes('confRoot')))
    // a CERTIFICATE block that does not parse
    writeFileSync(
      path.join(dir, 'broken.pem'),
      `${pair.certPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`,
    )
    confError(
      () =>
        cc(
          {
            Version: 'v',
            Config: {
              c: { BackendConf: { Protocol: 'https' }, HTTPSConf: { RSCAList: ['broken.pem'] } },
            },
          },
          dir,
        ),
      C,
      '/Config/c/HTTPSConf/RSCAList/0',
      /broken\.pem: certificate 2 cannot be parsed/,
    )
    // a key that is not the certificate's
    const other = pki.selfSigned('other', { cn: 'o' })
    confError(
      () =>
        cc({
          Version: 'v',
          Config: {
            c: {
              BackendConf: { Protocol: 'https' },
              HTTPSConf: { BFECertFile: certFile, BFEKeyFile: other.keyFile },
            },
          },
        }),
      C,
      '/Config/c/HTTPSConf/BFECertFile',
      /does not match BFEKeyFile/,
    )
    // a certificate without its key is read (it must exist) and not used, with a note
    const half = cc({
      Version: 'v',
      Config: {
        c: { BackendConf: { Protocol: 'https' }, HTTPSConf: { BFECertFile: certFile } },
      },
    })
    assert.equal(half.Config.get('c')?.HTTPSConf.BFECert, undefined)
    assert.ok(half.notes.some((n) => /BFECertFile is set without BFEKeyFile/.test(n)))
    confError(
      () =>
        cc({
          Version: 'v',
          Config: {
            c: { BackendConf: { Protocol: 'https' }, HTTPSConf: { BFEKeyFile: 'no-such.key' } },
          },
        }),
      C,
      '/Config/c/HTTPSConf/BFEKeyFile',
      /file no-such\.key not found/,
    )
    writeFileSync(path.join(dir, 'bad.key'), 'nope')
    confError(
      () =>
        cc({
          Version: 'v',
          Config: {
            c: {
              BackendConf: { Protocol: 'https' },
              HTTPSConf: { BFECertFile: certFile, BFEKeyFile: path.join(dir, 'bad.key') },
            },
          },
        }),
      C,
      '/Config/c/HTTPSConf/BFECertFile',
      /not a valid key pair/,
    )
    pki.cleanup()
  })
})
