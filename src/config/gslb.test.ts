import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { BfeConfError } from '../basic/errors.js'
import { loadGslbData, parseGslb, parseGslbData } from './gslb.js'

const F = 'gslb.data'
const TABLE = JSON.stringify({
  Version: 'ct1',
  Config: { web: { 'web.a': [{ Name: 'a', Addr: '10.0.0.1', Port: 80, Weight: 1 }] } },
})

function fails(fn: () => unknown, file: string, field: string, reason: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BfeConfError)
    assert.equal(e.file, file)
    assert.equal(e.field, field)
    assert.match(e.reason, reason)
    return true
  })
}

test('gslb.data: parses weights in file order', () => {
  const g = parseGslb(
    F,
    '{"Hostname": "", "Ts": "1", "Clusters": {"web": {"web.b": 30, "web.a": 70, "GSLB_BLACKHOLE": 0}}}',
  )
  assert.equal(g.Hostname, '')
  assert.equal(g.Ts, '1')
  assert.deepEqual(
    [...(g.Clusters.get('web') ?? [])],
    [
      ['web.b', 30],
      ['web.a', 70],
      ['GSLB_BLACKHOLE', 0],
    ],
  )
})

test('gslb.data: validation errors name the file and the pointer', () => {
  fails(() => parseGslb(F, '{"Ts": "", "Clusters": {}}'), F, '/Hostname', /required/)
  fails(() => parseGslb(F, '{"Hostname": "h", "Ts": null, "Clusters": {}}'), F, '/Ts', /required/)
  fails(() => parseGslb(F, '{"Hostname": "h", "Ts": ""}'), F, '/Clusters', /required/)
  fails(
    () => parseGslb(F, '{"Hostname": "h", "Ts": "", "Clusters": {"c": {"a": 0, "b": -1}}}'),
    F,
    '/Clusters/c',
    /weight > 0/,
  )
  fails(
    () => parseGslb(F, '{"Hostname": "h", "Ts": "", "Clusters": {"c": {"a": "x"}}}'),
    F,
    '/Clusters/c/a',
    /integer/,
  )
})

test('gslb.data: every cluster must be in cluster_table.data', () => {
  const files = { clusterTable: 'cluster_table.data', gslb: F }
  const ok = parseGslbData(files, {
    clusterTable: TABLE,
    gslb: '{"Hostname": "h", "Ts": "t", "Clusters": {"web": {"web.a": 1}}}',
  })
  assert.equal(ok.clusterTable.Version, 'ct1')
  fails(
    () =>
      parseGslbData(files, {
        clusterTable: TABLE,
        gslb: '{"Hostname": "h", "Ts": "t", "Clusters": {"web": {"web.a": 1}, "api": {"x": 1}}}',
      }),
    F,
    '/Clusters/api',
    /not in cluster_table/,
  )
  fails(
    () => parseGslbData(files, { clusterTable: '{"Version": "1"}', gslb: '{}' }),
    'cluster_table.data',
    '/Config',
    /required/,
  )
})

test('loadGslbData reads both files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bfe-gslb-'))
  const ct = join(dir, 'cluster_table.data')
  const g = join(dir, 'gslb.data')
  writeFileSync(ct, TABLE)
  writeFileSync(g, '{"Hostname": "h", "Ts": "t", "Clusters": {"web": {"web.a": 1}}}')
  const d = loadGslbData({ clusterTable: ct, gslb: g })
  assert.equal(d.gslb.Hostname, 'h')
  assert.equal(d.clusterTable.Config.get('web')?.get('web.a')?.length, 1)
})
