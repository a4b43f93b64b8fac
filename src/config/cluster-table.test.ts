import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { BfeConfError } from '../basic/errors.js'
import { loadClusterTable, parseClusterTable } from './cluster-table.js'

const F = 'cluster_table.data'

function fails(text: string, field: string, reason: RegExp): void {
  assert.throws(
    () => parseClusterTable(F, text),
    (e: unknown) => {
      assert.ok(e instanceof BfeConfError)
      assert.equal(e.file, F)
      assert.equal(e.field, field)
      assert.match(e.reason, reason)
      assert.ok(e.message.startsWith(`${F}: ${field}`))
      return true
    },
  )
}

test('cluster_table.data: parses clusters, sub-clusters and backends in order', () => {
  const t = parseClusterTable(
    F,
    JSON.stringify({
      Version: 'v1',
      Config: {
        web: {
          'web.a': [
            { Name: 'a1', Addr: '10.0.0.1', Port: 80, Weight: 1 },
            { name: 'a2', addr: '10.0.0.2', port: 81, weight: 0 },
          ],
        },
      },
    }),
  )
  assert.equal(t.Version, 'v1')
  const subs = t.Config.get('web')
  assert.ok(subs !== undefined)
  assert.deepEqual(subs.get('web.a'), [
    { Name: 'a1', Addr: '10.0.0.1', Port: 80, Weight: 1 },
    { Name: 'a2', Addr: '10.0.0.2', Port: 81, Weight: 0 },
  ])
})

test('cluster_table.data: validation errors name the file and the pointer', () => {
  fails('{"Config": {}}', '/Version', /required/)
  fails('{"Version": "1"}', '/Config', /required/)
  fails('{"Version": null, "Config": {}}', '/Version', /required/)
  const b = (o: object) => JSON.stringify({ Version: '1', Config: { c: { s: [o] } } })
  fails(b({ Addr: '1.1.1.1', Port: 1, Weight: 1 }), '/Config/c/s/0/Name', /required/)
  fails(b({ Name: 'n', Addr: null, Port: 1, Weight: 1 }), '/Config/c/s/0/Addr', /required/)
  fails(b({ Name: 'n', Addr: '1.1.1.1', Weight: 1 }), '/Config/c/s/0/Port', /required/)
  fails(b({ Name: 'n', Addr: '1.1.1.1', Port: 1 }), '/Config/c/s/0/Weight', /required/)
  fails(b({ Name: 'n', Addr: '1.1.1.1', Port: 'x', Weight: 1 }), '/Config/c/s/0/Port', /integer/)
  fails(b({ Name: 'n', Addr: '1.1.1.1', Port: 70000, Weight: 1 }), '/Config/c/s/0/Port', /65535/)
  fails(b({ Name: 'n', Addr: '1.1.1.1', Port: 1, Weight: 0 }), '/Config/c/s', /Weight > 0/)
  fails(JSON.stringify({ Version: '1', Config: { c: { s: [] } } }), '/Config/c/s', /Weight > 0/)
  fails(JSON.stringify({ Version: '1', Config: { c: { s: null } } }), '/Config/c/s', /required/)
  fails('{"Version": "1", "Config": ', '', /not valid JSON/)
})

test('cluster_table.data: loadClusterTable reads the file and names its path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bfe-ct-'))
  const p = join(dir, F)
  writeFileSync(
    p,
    '{"Version": "7", "Config": {"c": {"s": [{"Name":"n","Addr":"a","Port":1,"Weight":2}]}}}',
  )
  assert.equal(loadClusterTable(p).Version, '7')
  assert.throws(() => loadClusterTable(join(dir, 'missing')), /cannot be read/)
})
