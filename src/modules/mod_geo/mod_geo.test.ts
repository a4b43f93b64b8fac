import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { buildMmdb, cityRecord } from '../../../test/helpers/mmdb.js'
import { coordText, openGeoDb } from './index.js'

describe('mod_geo database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bfe-geo-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('reads City records for IPv4 and IPv6 networks', () => {
    const file = join(dir, 'geo.db')
    writeFileSync(
      file,
      buildMmdb([
        {
          cidr: '10.1.0.0/16',
          data: cityRecord({
            country: 'DE',
            subdivision: 'BE',
            city: 'Berlin',
            latitude: 52.5,
            longitude: 13.25,
          }),
        },
        {
          cidr: '10.1.2.0/24',
          data: cityRecord({ country: 'FR', latitude: 48.75, longitude: 2.5 }),
        },
        {
          cidr: '2001:db8::/32',
          data: cityRecord({ country: 'JP', latitude: 35.5, longitude: 139.75 }),
        },
      ]),
    )
    const db = openGeoDb(file)
    assert.equal(db.get('10.1.9.9')?.city?.names.en, 'Berlin')
    assert.equal(db.get('10.1.9.9')?.subdivisions?.[0]?.iso_code, 'BE')
    assert.equal(db.get('10.1.2.3')?.country?.iso_code, 'FR')
    assert.equal(db.get('2001:db8::1')?.location?.longitude, 139.75)
    assert.equal(db.get('10.2.0.1'), null)
  })

  it('refuses a file that is not a MaxMind database, naming it', () => {
    const file = join(dir, 'bad.db')
    writeFileSync(file, 'not a database')
    assert.throws(() => openGeoDb(file), /bad\.db: is not a MaxMind database/)
    assert.throws(() => openGeoDb(join(dir, 'missing.db')), /missing\.db: cannot be read/)
  })

  it('prints coordinates in plain decimals', () => {
    assert.equal(coordText(52.52), '52.52')
    assert.equal(coordText(-0.1275), '-0.1275')
    assert.equal(coordText(1e-7), '0.0000001')
    assert.equal(coordText(undefined), '0')
  })
})
