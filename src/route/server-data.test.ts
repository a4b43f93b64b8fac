import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { confError } from '../../test/helpers/conf-assert.js'
import { BfeRequest } from '../basic/request.js'
import { Session } from '../basic/session.js'
import { loadBfeConf } from '../config/bfe-conf.js'
import { loadNameConf } from '../config/name-conf.js'
import { serverDataPaths } from '../config/server-data.js'
import { loadServerDataConf } from './server-data.js'

const fixture = path.resolve('test/fixtures/conf/basic')

function req(host: string, uri: string, vip?: string): BfeRequest {
  const ses = new Session({ remoteAddr: '127.0.0.1', remotePort: 1, vip })
  return new BfeRequest(ses, {
    method: 'GET',
    rawUri: uri,
    proto: 'HTTP/1.1',
    headers: ['Host', host],
  })
}

/** Writes the four files into a temp dir and returns their paths. */
function tree(files: { host?: object; vip?: object; route?: object; cluster?: object }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bfe-sd-'))
  const paths = {
    hostRule: path.join(dir, 'host_rule.data'),
    vipRule: path.join(dir, 'vip_rule.data'),
    routeRule: path.join(dir, 'route_rule.data'),
    clusterConf: path.join(dir, 'cluster_conf.data'),
  }
  const host = files.host ?? { Version: 'h', Hosts: { t: ['a.test'] }, HostTags: { p: ['t'] } }
  const vip = files.vip ?? { Version: 'v' }
  const route = files.route ?? {
    Version: 'r',
    BasicRule: { p: [{ Path: ['/*'], ClusterName: 'c' }] },
  }
  const cluster = files.cluster ?? { Version: 'c', Config: { c: {} } }
  writeFileSync(paths.hostRule, JSON.stringify(host))
  writeFileSync(paths.vipRule, JSON.stringify(vip))
  writeFileSync(paths.routeRule, JSON.stringify(route))
  writeFileSync(paths.clusterConf, JSON.stringify(cluster))
  return paths
}

describe('server_data_conf', () => {
  it('loads the fixture tree into one frozen snapshot', () => {
    const conf = loadBfeConf(fixture)
    const sd = loadServerDataConf(serverDataPaths(conf), { confRoot: conf.confRoot })
    assert.ok(Object.isFrozen(sd))
    assert.deepEqual(sd.versions, {
      hostRule: 'basic-1',
      vipRule: 'basic-1',
      routeRule: 'basic-1',
      clusterConf: 'basic-1',
    })
    assert.deepEqual([...sd.clusterConfs.keys()].sort(), [
      'api_cluster',
      'img_cluster',
      'web_cluster',
    ])
    assert.equal(sd.clusterConfs.get('web_cluster')?.BackendConf.TimeoutConnSrv, 1000)
    assert.deepEqual(sd.warnings, [])

    const route = (host: string, uri: string, vip?: string) => {
      const r = req(host, uri, vip)
      const hr = sd.hostTable.lookup(r.hostname, r.session.vip)
      if (hr === undefined) return undefined
      const c = sd.routeTable.lookup(hr.product, r)
      return `${hr.product}/${typeof c === 'string' ? c : c.msg}`
    }
    assert.equal(route('shop.test', '/img/a.png'), 'shop/img_cluster')
    assert.equal(route('shop.test', '/'), 'shop/web_cluster')
    assert.equal(route('m.shop.test', '/static/x.css'), 'shop/img_cluster')
    assert.equal(route('a.b.shop.test', '/'), 'shop/web_cluster')
    assert.equal(route('api.test:8080', '/v1/users'), 'api/api_cluster')
    assert.equal(route('api.test', '/v2'), 'api/no route rule found for product')
    // VIP gives the product; api's only basic rule is for host api.test, so no cluster
    assert.equal(route('unknown.test', '/v1/x', '10.0.0.80'), 'api/no route rule found for product')
    assert.equal(route('unknown.test', '/'), 'shop/web_cluster') // DefaultProduct
  })

  it('uses the same base names in another directory for ?path=', () => {
    const conf = loadBfeConf(fixture)
    const p = serverDataPaths(conf, '/tmp/x')
    assert.equal(p.hostRule, '/tmp/x/host_rule.data')
    assert.equal(p.clusterConf, '/tmp/x/cluster_conf.data')
  })

  it('checks that route-rule products exist in HostTags', () => {
    const p = tree({
      route: { Version: 'r', BasicRule: { q: [{ Path: ['/*'], ClusterName: 'c' }] } },
    })
    confError(
      () => loadServerDataConf(p),
      p.routeRule,
      '/BasicRule/q',
      /product "q" is not a product/,
    )
    const p2 = tree({ route: { Version: 'r', ProductRule: { q: [] } } })
    confError(() => loadServerDataConf(p2), p2.routeRule, '/ProductRule/q', /product "q"/)
  })

  it('checks that clusters exist in cluster_conf.data (ADVANCED_MODE exempt)', () => {
    const p = tree({
      route: {
        Version: 'r',
        BasicRule: {
          p: [
            { Path: ['/a'], ClusterName: 'ADVANCED_MODE' },
            { Path: ['/b'], ClusterName: 'nope' },
          ],
        },
      },
    })
    confError(
      () => loadServerDataConf(p),
      p.routeRule,
      '/BasicRule/p/1/ClusterName',
      /cluster "nope" is not in/,
    )
    const p2 = tree({
      route: { Version: 'r', ProductRule: { p: [{ Cond: 'default_t()', ClusterName: 'gone' }] } },
    })
    confError(
      () => loadServerDataConf(p2),
      p2.routeRule,
      '/ProductRule/p/0/ClusterName',
      /cluster "gone"/,
    )
  })

  it('fails as a whole when any file is bad or missing', () => {
    const p = tree({ vip: { Version: '' } })
    confError(() => loadServerDataConf(p), p.vipRule, '/Version', /must not be empty/)
    const p2 = tree({})
    confError(
      () => loadServerDataConf({ ...p2, clusterConf: `${p2.clusterConf}.missing` }),
      `${p2.clusterConf}.missing`,
      '',
      /cannot be read/,
    )
    assert.ok(loadServerDataConf(p2).routeTable)
  })

  it('loads name_conf.data', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bfe-nc-'))
    const f = path.join(dir, 'name_conf.data')
    writeFileSync(
      f,
      JSON.stringify({ Version: 'n', Config: { redis: [{ Host: 'h', Port: 1, Weight: 1 }] } }),
    )
    assert.equal(loadNameConf(f).Config.get('redis')?.length, 1)
  })
})
