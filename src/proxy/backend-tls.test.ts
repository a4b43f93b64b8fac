import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defaultClusterConf } from '../config/cluster-conf.js'
import type { ClusterConf } from '../config/cluster-conf-types.js'
import { backendTlsOptions } from './backend-tls.js'
import { backendOrigin, httpsServername, poolOptions } from './transport.js'

function conf(protocol: string, https: Partial<ClusterConf['HTTPSConf']> = {}): ClusterConf {
  const cc = defaultClusterConf('c')
  cc.BackendConf.Protocol = protocol
  Object.assign(cc.HTTPSConf, https)
  return cc
}

test('backendTlsOptions: RSHost is the SNI and verified name; CA list, client pair, skip-verify', () => {
  const h = conf('https', {
    RSHost: 'b.test',
    RSCAList: ['CA'],
    BFECert: 'CERT',
    BFEKey: 'KEY',
  }).HTTPSConf
  assert.deepEqual(backendTlsOptions(h), {
    rejectUnauthorized: true,
    servername: 'b.test',
    ca: ['CA'],
    cert: 'CERT',
    key: 'KEY',
  })
  // no RSHost, system roots, no client certificate: Node verifies the address dialled
  assert.deepEqual(backendTlsOptions(conf('https').HTTPSConf), { rejectUnauthorized: true })
  assert.equal(
    backendTlsOptions(conf('https', { RSInsecureSkipVerify: true }).HTTPSConf).rejectUnauthorized,
    false,
  )
  // a cert without its key is never sent
  assert.equal(backendTlsOptions(conf('https', { BFECert: 'CERT' }).HTTPSConf).cert, undefined)
})

test('backendTlsOptions: an IP address as the name is verified but not sent in SNI', () => {
  const o = backendTlsOptions(conf('https', { RSHost: '10.0.0.1' }).HTTPSConf)
  assert.equal(o.servername, undefined)
  assert.equal(typeof o.checkServerIdentity, 'function')
  // the health check's own name wins over RSHost
  assert.equal(
    backendTlsOptions(conf('https', { RSHost: 'b.test' }).HTTPSConf, 'hc.test').servername,
    'hc.test',
  )
})

test('poolOptions and origin per Protocol', () => {
  assert.equal(backendOrigin('10.0.0.1', 443, conf('https')), 'https://10.0.0.1:443')
  assert.equal(backendOrigin('::1', 80, conf('h2c')), 'http://[::1]:80')
  assert.equal(backendOrigin('10.0.0.1', 80, conf('http')), 'http://10.0.0.1:80')

  const http = poolOptions(conf('http'))
  assert.equal(http.pipelining, 1)
  assert.equal(http.allowH2, undefined)
  // a connector of ours (TimeoutConnSrv, and 100 Continue answers dropped: interim.ts)
  assert.equal(typeof http.connect, 'function')

  const h2c = poolOptions(conf('h2c'))
  assert.equal(h2c.allowH2, true)
  assert.ok((h2c.pipelining ?? 0) > 1, 'h2c multiplexes streams')
  assert.equal((h2c.connect as { useH2c?: boolean }).useH2c, true)

  // https: a connector of ours (it fixes the SNI name whatever the request's Host is)
  assert.equal(typeof poolOptions(conf('https')).connect, 'function')
})

test('httpsServername: one value per pool, RSHost else the backend address', () => {
  assert.equal(httpsServername(conf('https', { RSHost: 'b.test' }), '10.0.0.1'), 'b.test')
  assert.equal(httpsServername(conf('https'), '10.0.0.1'), '10.0.0.1')
})
