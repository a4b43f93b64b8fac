import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { confError } from '../../../test/helpers/conf-assert.js'
import { JsonNode } from '../../config/json-node.js'
import { decodeProductRules } from '../../module/rule-table.js'
import { loadBlocklist, parseBlocklist } from './blocklist.js'
import { blockRules } from './index.js'

const F = 'ip_blocklist.data'

test('blocklist: single addresses, ranges with spaces or tabs, CIDRs, comments, blank lines', () => {
  const b = parseBlocklist(
    F,
    '# blocked peers\n\n203.0.113.7\n  198.51.100.1   198.51.100.20  \n192.0.2.1\t192.0.2.3\r\n10.9.0.0/16\n2001:db8::/126\n',
  )
  assert.equal(b.singles, 1)
  assert.equal(b.pairs, 4)
  assert.equal(b.version, '')
  for (const yes of ['203.0.113.7', '198.51.100.20', '192.0.2.2', '10.9.200.1', '2001:db8::3'])
    assert.ok(b.set.has(yes), yes)
  for (const no of ['203.0.113.8', '198.51.100.21', '192.0.2.4', '10.10.0.0', '2001:db8::4'])
    assert.ok(!b.set.has(no), no)
})

test('blocklist: the metadata line gives the version and bounds the counts', () => {
  const meta = '#{"version": "2026-11-27", "singleIPNum": 1, "pairIPNum": 1}\n'
  const b = parseBlocklist(F, `${meta}203.0.113.7\n10.0.0.0/8\n`)
  assert.equal(b.version, '2026-11-27')
  confError(
    () => parseBlocklist(F, `${meta}203.0.113.7\n203.0.113.8\n`),
    F,
    'line 3',
    /more single addresses than the metadata's singleIPNum \(1\)/,
  )
  // a comment that is not metadata is only a comment
  assert.equal(parseBlocklist(F, '#{"version": ""}\n1.2.3.4\n5.6.7.8\n').singles, 2)
})

test('blocklist: a malformed line fails the load, naming the line', () => {
  confError(
    () => parseBlocklist(F, '1.2.3.4\n1.2.3\n'),
    F,
    'line 2',
    /"1.2.3" is not an IP address/,
  )
  confError(
    () => parseBlocklist(F, '\n\n1.2.3.9 1.2.3.1\n'),
    F,
    'line 3',
    /start 1.2.3.9 is greater than end 1.2.3.1/,
  )
  confError(() => parseBlocklist(F, '1.2.3.4 5.6.7.8 9.9.9.9\n'), F, 'line 1', /not an address/)
  confError(() => parseBlocklist(F, '10.0.0.0/40\n'), F, 'line 1', /prefix length/)
  confError(
    () => parseBlocklist(F, '10.0.0.1 2001:db8::1\n'),
    F,
    'line 1',
    /both be IPv4 or both IPv6/,
  )
})

test('blocklist: a missing file is a configuration error naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mod-block-'))
  const f = join(dir, 'none.data')
  confError(() => loadBlocklist(f), f, '', /cannot be read/)
  writeFileSync(f, '127.0.0.1\n')
  assert.ok(loadBlocklist(f).set.has('127.0.0.1'))
})

const R = 'block_rules.data'
function decode(v: unknown) {
  return decodeProductRules(new JsonNode(R, '', v), blockRules)
}
const ok = { Cmd: 'CLOSE', Params: [] }

test('block rules: BFE shape with lower-case keys; global and product lists', () => {
  const t = decode({
    Version: 'v',
    Config: {
      global: [
        { name: 'g', cond: 'req_path_in("/a", false)', action: { cmd: 'ALLOW', params: [] } },
      ],
      p: [{ Name: 'x', Cond: 'default_t()', Action: ok }],
    },
  })
  assert.equal(t.rules('global')[0]?.Action.Cmd, 'ALLOW')
  assert.equal(t.rules('p')[0]?.Name, 'x')
})

test('block rules: bad command, parameters, names and conditions are refused with the field', () => {
  const one = (rule: unknown) => ({ Version: 'v', Config: { p: [rule] } })
  confError(
    () => decode(one({ Name: 'a', Cond: 'default_t()', Action: { Cmd: 'DROP', Params: [] } })),
    R,
    '/Config/p/0/Action/Cmd',
    /"DROP" is not one of "CLOSE", "ALLOW"/,
  )
  confError(
    () => decode(one({ Name: 'a', Cond: 'default_t()', Action: { Cmd: 'close', Params: [] } })),
    R,
    '/Config/p/0/Action/Cmd',
    /not one of/,
  )
  confError(
    () => decode(one({ Name: 'a', Cond: 'default_t()', Action: { Cmd: 'CLOSE', Params: ['x'] } })),
    R,
    '/Config/p/0/Action/Params',
    /exactly 0 items, got 1/,
  )
  confError(
    () => decode(one({ Name: 'a', Cond: 'default_t()', Action: { Cmd: 'CLOSE' } })),
    R,
    '/Config/p/0/Action/Params',
    /is required/,
  )
  confError(
    () => decode(one({ Name: 'a', Cond: 'req_path_in(', Action: ok })),
    R,
    '/Config/p/0/Cond',
    /./,
  )
  confError(
    () => decode(one({ Cond: 'default_t()', Action: ok })),
    R,
    '/Config/p/0/Name',
    /required/,
  )
  confError(
    () =>
      decode({
        Version: 'v',
        Config: {
          p: [
            { Name: 'a', Cond: 'default_t()', Action: ok },
            { Name: 'a', Cond: 'default_t()', Action: ok },
          ],
        },
      }),
    R,
    '/Config/p/1/Name',
    /"a" is used by an earlier rule/,
  )
  confError(() => decode({ Config: {} }), R, '/Version', /required/)
})
