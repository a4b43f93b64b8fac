import assert from 'node:assert/strict'
import path from 'node:path'
import { describe, it } from 'node:test'
import { BfeConfError } from '../basic/errors.js'
import { DEFAULT_CIPHER_SUITES, loadBfeConf, parseBfeConf } from './bfe-conf.js'

const root = '/etc/bfe'
const conf = (text: string) => parseBfeConf(text, root)

function fails(text: string, re: RegExp): void {
  assert.throws(
    () => conf(text),
    (err: unknown) => {
      assert.ok(err instanceof BfeConfError)
      assert.match(err.message, /^bfe\.conf: /)
      assert.match(err.message, re)
      return true
    },
  )
}

describe('bfe.conf', () => {
  it('applies BFE defaults to an empty file', () => {
    const c = conf('')
    const s = c.Server
    assert.equal(s.HttpPort, 8080)
    assert.equal(s.HttpsPort, 8443)
    assert.equal(s.MonitorPort, 8421)
    assert.equal(s.MonitorEnabled, true)
    assert.equal(s.MaxCpus, 0)
    assert.equal(s.AcceptNum, 1)
    assert.equal(s.Layer4LoadBalancer, 'NONE')
    assert.equal(s.TlsHandshakeTimeout, 30)
    assert.equal(s.ClientReadTimeout, 60)
    assert.equal(s.ClientWriteTimeout, 60)
    assert.equal(s.GracefulShutdownTimeout, 10)
    assert.equal(s.MaxHeaderBytes, 1048576)
    assert.equal(s.MaxHeaderUriBytes, 8192)
    assert.equal(s.MaxProxyHeaderBytes, 2048)
    assert.equal(s.KeepAliveEnabled, true)
    assert.equal(s.AccessibleBodySize, 2097152)
    assert.equal(s.TotalBodyBufferSize, 0)
    assert.equal(s.MonitorInterval, 20)
    assert.equal(s.CompatErrorStatus, false)
    assert.deepEqual(s.Modules, [])
    assert.equal(s.HostRuleConf, path.join(root, 'server_data_conf/host_rule.data'))
    assert.equal(s.VipRuleConf, path.join(root, 'server_data_conf/vip_rule.data'))
    assert.equal(s.RouteRuleConf, path.join(root, 'server_data_conf/route_rule.data'))
    assert.equal(s.ClusterConf, path.join(root, 'server_data_conf/cluster_conf.data'))
    assert.equal(s.ClusterTableConf, path.join(root, 'cluster_conf/cluster_table.data'))
    assert.equal(s.GslbConf, path.join(root, 'cluster_conf/gslb.data'))
    assert.equal(s.NameConf, path.join(root, 'server_data_conf/name_conf.data'))
    const h = c.HttpsBasic
    assert.equal(h.ServerCertConf, path.join(root, 'tls_conf/server_cert_conf.data'))
    assert.equal(h.TlsRuleConf, path.join(root, 'tls_conf/tls_rule_conf.data'))
    assert.deepEqual(h.CipherSuites, DEFAULT_CIPHER_SUITES)
    assert.deepEqual(h.CurvePreferences, ['CurveP256'])
    assert.equal(h.EnableSslv2ClientHello, true)
    assert.equal(h.ClientCABaseDir, path.join(root, 'tls_conf/client_ca'))
    assert.equal(h.ClientCRLBaseDir, path.join(root, 'tls_conf/client_crl'))
    assert.equal(h.MinTlsVersion, '')
    assert.equal(h.MaxTlsVersion, '')
    assert.equal(c.SessionCache.SessionCacheDisabled, true)
    assert.equal(c.SessionCache.KeyPrefix, 'bfe')
    assert.equal(c.SessionCache.ConnectTimeout, 50)
    assert.equal(c.SessionCache.MaxIdle, 20)
    assert.equal(c.SessionCache.SessionExpire, 3600)
    assert.equal(c.SessionTicket.SessionTicketsDisabled, true)
    assert.equal(
      c.SessionTicket.SessionTicketKeyFile,
      path.join(root, 'tls_conf/session_ticket_key.data'),
    )
    assert.equal(c.confRoot, root)
  })

  it('reads the config.md example', () => {
    const c = conf(`[Server]
HttpPort = 18080
HttpsPort = 18443
MonitorPort = 18421
Layer4LoadBalancer = NONE
ClientReadTimeout = 30
GracefulShutdownTimeout = 15
NameConf =
Modules = mod_trust_clientip
Modules = mod_logid
Modules = mod_header
Modules = mod_logid
Modules =   

[HttpsBasic]
CipherSuites = TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256|TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
CipherSuites = TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
MinTlsVersion = VersionTLS10

[SessionTicket]
SessionTicketsDisabled = false
`)
    assert.equal(c.Server.HttpPort, 18080)
    assert.equal(c.Server.NameConf, '')
    // a blank `Modules =` line clears the list (gcfg)
    assert.deepEqual(c.Server.Modules, [])
    assert.equal(c.HttpsBasic.CipherSuites.length, 2)
    assert.equal(c.HttpsBasic.MinTlsVersion, 'VersionTLS10')
    assert.equal(c.SessionTicket.SessionTicketsDisabled, false)
  })

  it('keeps Modules in order without blanks or duplicates', () => {
    const c = conf('[Server]\nModules = mod_b\nModules = mod_a\nModules = mod_b\n')
    assert.deepEqual(c.Server.Modules, ['mod_b', 'mod_a'])
  })

  it('reads our CompatErrorStatus key', () => {
    assert.equal(conf('[Server]\nCompatErrorStatus = true\n').Server.CompatErrorStatus, true)
  })

  it('substitutes defaults for empty paths and keeps absolute ones', () => {
    const c = conf(
      '[Server]\nHostRuleConf =\nVipRuleConf = /abs/vip.data\nRouteRuleConf = x/r.data\n',
    )
    assert.equal(c.Server.HostRuleConf, path.join(root, 'server_data_conf/host_rule.data'))
    assert.equal(c.Server.VipRuleConf, '/abs/vip.data')
    assert.equal(c.Server.RouteRuleConf, path.join(root, 'x/r.data'))
  })

  it('normalises AcceptNum, MaxProxyHeaderBytes, AccessibleBodySize and MonitorInterval', () => {
    const c = conf(
      '[Server]\nAcceptNum = 0\nMaxProxyHeaderBytes = 0\nAccessibleBodySize = -1\nMonitorInterval = 0\n',
    )
    assert.equal(c.Server.AcceptNum, 1)
    assert.equal(c.Server.MaxProxyHeaderBytes, 2048)
    assert.equal(c.Server.AccessibleBodySize, 2097152)
    assert.equal(c.Server.MonitorInterval, 20)
    const d = conf('[Server]\nMonitorInterval = 120\n')
    assert.equal(d.Server.MonitorInterval, 60)
    assert.equal(d.warnings.length, 1)
    assert.equal(conf('[Server]\nMonitorInterval = 30\n').Server.MonitorInterval, 30)
  })

  it('validates [Server]', () => {
    fails('[Server]\nHttpPort = 0\n', /line 2 \[Server\] HttpPort must be in \[1, 65535\]/)
    fails('[Server]\nHttpsPort = 65536\n', /HttpsPort must be in/)
    fails('[Server]\nMonitorPort = 0\n', /MonitorPort must be in/)
    assert.equal(conf('[Server]\nMonitorPort = 0\nMonitorEnabled = false\n').Server.MonitorPort, 0)
    fails('[Server]\nMaxCpus = -1\n', /MaxCpus must be in \[0, 256\], got -1/)
    fails('[Server]\nAcceptNum = -1\n', /AcceptNum must be in \[0, 1024\], got -1/)
    fails('[Server]\nLayer4LoadBalancer = F5\n', /Layer4LoadBalancer must be PROXY or NONE/)
    fails('[Server]\nTlsHandshakeTimeout = 0\n', /TlsHandshakeTimeout must be in \[1, 1200\]/)
    fails('[Server]\nTlsHandshakeTimeout = 1201\n', /TlsHandshakeTimeout/)
    fails(
      '[Server]\nClientReadTimeout = 0\n',
      /ClientReadTimeout must be in \[1, 2147483\] s, got 0/,
    )
    fails(
      '[Server]\nClientWriteTimeout = -1\n',
      /ClientWriteTimeout must be in \[1, 2147483\] s, got -1/,
    )
    fails(
      '[Server]\nGracefulShutdownTimeout = 301\n',
      /GracefulShutdownTimeout must be in \[1, 300\]/,
    )
    fails(
      '[Server]\nMaxHeaderBytes = 0\n',
      /MaxHeaderBytes must be in \[1, 16777216\] bytes, got 0/,
    )
    fails(
      '[Server]\nMaxHeaderUriBytes = 0\n',
      /MaxHeaderUriBytes must be in \[1, 16777216\] bytes, got 0/,
    )
    fails(
      '[Server]\nMaxProxyHeaderBytes = -1\n',
      /MaxProxyHeaderBytes must be in \[0, 65551\] bytes, got -1/,
    )
    fails(
      '[Server]\nAccessibleBodySize = 8388609\n',
      /AccessibleBodySize must be in \[-2147483648, 8388608\] bytes, got 8388609/,
    )
    fails(
      '[Server]\nTotalBodyBufferSize = -1\n',
      /TotalBodyBufferSize must be in \[0, 1099511627776\] bytes, got -1/,
    )
    fails('[Server]\nMonitorInterval = 25\n', /MonitorInterval must divide 60/)
    fails('[Server]\nMonitorInterval = 10\n', /MonitorInterval must be >= 20/)
    fails('[Server]\nPlugins = x.so\n', /Plugins are not supported/)
    fails('[Server]\nUnknownKey = 1\n', /line 2 \[Server\] UnknownKey is an unknown key/)
    fails('[Servers]\n', /unknown section \[Servers\]/)
  })

  it('validates [HttpsBasic]', () => {
    fails(
      '[HttpsBasic]\nCipherSuites = TLS_FOO\n',
      /line 2 \[HttpsBasic\] CipherSuites has an unknown cipher suite "TLS_FOO"/,
    )
    fails(
      '[HttpsBasic]\nCipherSuites = TLS_RSA_WITH_AES_128_CBC_SHA|NOPE\n',
      /unknown cipher suite "NOPE"/,
    )
    fails('[HttpsBasic]\nCurvePreferences = X25519\n', /CurvePreferences has an unknown curve/)
    fails('[HttpsBasic]\nMaxTlsVersion = TLS12\n', /MaxTlsVersion must be one of/)
    fails(
      '[HttpsBasic]\nMinTlsVersion = VersionTLS12\nMaxTlsVersion = VersionTLS10\n',
      /MaxTlsVersion must not be below MinTlsVersion/,
    )
    const c = conf('[HttpsBasic]\nCurvePreferences = CurveP384\nCurvePreferences = CurveP256\n')
    assert.deepEqual(c.HttpsBasic.CurvePreferences, ['CurveP384', 'CurveP256'])
  })

  it('validates [SessionCache] only when enabled', () => {
    assert.equal(conf('[SessionCache]\nReadTimeout = 0\n').SessionCache.ReadTimeout, 0)
    fails('[SessionCache]\nSessionCacheDisabled = false\n', /Servers is required/)
    const on = '[SessionCache]\nSessionCacheDisabled = false\nServers = 127.0.0.1:6379\n'
    fails(on, /\[SessionCache\] ReadTimeout must be > 0/)
    fails(`${on}ReadTimeout = 10\nWriteTimeout = 0\n`, /WriteTimeout must be > 0/)
    fails(`${on}ReadTimeout = 10\nMaxIdle = 0\n`, /MaxIdle must be > 0/)
    fails(`${on}ReadTimeout = 10\nSessionExpire = 0\n`, /SessionExpire must be > 0/)
    assert.equal(conf(`${on}ReadTimeout = 10\n`).SessionCache.Servers, '127.0.0.1:6379')
  })

  it('loads from a configuration root and reports a missing file', () => {
    const dir = path.resolve('test/fixtures/conf/basic')
    const c = loadBfeConf(dir)
    assert.equal(c.Server.HttpPort, 18080)
    assert.equal(c.Server.NameConf, '')
    assert.equal(c.path, path.join(dir, 'bfe.conf'))
    assert.throws(() => loadBfeConf('/nonexistent-dir'), /bfe\.conf: cannot be read/)
  })
})
