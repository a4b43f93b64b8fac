import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { HandlerResult } from '../../../src/module/callback-point.js'
import type { BfeModule } from '../../../src/module/types.js'
import { GeoContext } from '../../../src/modules/mod_geo/index.js'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { buildMmdb, cityRecord } from '../../helpers/mmdb.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

/** A user module that forwards mod_geo's context values as a header, for the upstream to see. */
function geoEcho(): BfeModule {
  return {
    name: 'mod_test_geo_echo',
    init(ctx) {
      ctx.callbacks.addRequestFilter(4, (req) => {
        const v = Object.values(GeoContext).map((k) => String(req.context.get(k) ?? '-'))
        req.headers.set('X-Geo', v.join('|'))
        return HandlerResult.GoOn
      })
    },
  }
}

function db(city: string): Buffer {
  return buildMmdb([
    {
      cidr: '127.0.0.0/8',
      data: cityRecord({
        country: 'DE',
        subdivision: 'BE',
        city,
        latitude: 52.52,
        longitude: 13.405,
      }),
    },
  ])
}

describe('mod_geo', () => {
  let up: Upstream
  let bfe: RunningBfe
  const lastGeo = (): string => String(up.seen.at(-1)?.headers['x-geo'])

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_geo', 'Modules = mod_test_geo_echo'],
        files: {
          'mod_geo/mod_geo.conf': '[basic]\nGeoDBPath = mod_geo/geo.db\n',
          'mod_geo/geo.db': db('Berlin'),
        },
      }),
      [geoEcho()],
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('stores the client location in the request context (HTTP/1.1)', async () => {
    const r = await get(`${bfe.url}/`)
    assert.equal(r.status, 200)
    assert.equal(lastGeo(), 'DE|BE|Berlin|52.52|13.405')
  })

  it('does the same for HTTP/2 requests', async () => {
    const r = await h2Request(bfe.tlsPort, '/')
    assert.equal(r.status, 200)
    assert.equal(lastGeo(), 'DE|BE|Berlin|52.52|13.405')
  })

  it('reloads the database, keeps the old one when the new file is broken, counts the failure', async () => {
    const file = join(bfe.confRoot, 'mod_geo', 'geo.db')
    writeFileSync(file, db('Potsdam'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_geo')
    assert.deepEqual(JSON.parse(ok.body), { error: null })
    await get(`${bfe.url}/`)
    assert.equal(lastGeo(), 'DE|BE|Potsdam|52.52|13.405')

    writeFileSync(file, 'garbage')
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_geo')
    assert.match(JSON.parse(bad.body).error, /geo\.db: is not a MaxMind database/)
    await get(`${bfe.url}/`)
    assert.equal(lastGeo(), 'DE|BE|Potsdam|52.52|13.405')
    const m = await monitorGet(bfe.server.monitorPort, '/monitor/mod_geo')
    assert.equal(JSON.parse(m.body).CounterData.ERR_RELOAD_GEO_DATABASE, 1)
  })

  it('an address outside the database gets empty values, as in BFE', async () => {
    const other = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_geo', 'Modules = mod_test_geo_echo'],
        files: {
          'mod_geo/mod_geo.conf': '[Basic]\n',
          'mod_geo/geo.db': buildMmdb([
            {
              cidr: '10.0.0.0/8',
              data: cityRecord({ country: 'US', latitude: 1.5, longitude: 2.5 }),
            },
          ]),
        },
      }),
      [geoEcho()],
    )
    try {
      await get(`${other.url}/`)
      assert.equal(lastGeo(), '|||0|0')
    } finally {
      await other.close()
    }
  })

  it('refuses to start without a readable database, naming the file', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_geo'],
          files: { 'mod_geo/mod_geo.conf': '[Basic]\nGeoDBPath = mod_geo/none.db\n' },
        }),
      ),
      /none\.db: cannot be read/,
    )
  })
})
