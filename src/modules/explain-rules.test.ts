import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BfeRequest } from '../basic/request.js'
import { Session } from '../basic/session.js'
import { JsonNode } from '../config/json-node.js'
import { decodeProductRules } from '../module/rule-table.js'
import { firstMatchIndex, firstMatchSeen } from './explain-rules.js'
import { blockRules, blockVerdict } from './mod_block/index.js'

function req(path: string, host = 'a.test'): BfeRequest {
  const r = new BfeRequest(new Session({ remoteAddr: '10.0.0.1', remotePort: 1 }), {
    method: 'GET',
    rawUri: path,
    proto: 'HTTP/1.1',
    headers: ['Host', host],
  })
  r.product = 'p'
  return r
}

const table = decodeProductRules(
  new JsonNode('block_rules.data', '', {
    Version: 'v',
    Config: {
      global: [
        { Name: 'g-allow', Cond: 'req_host_in("ok.test")', Action: { Cmd: 'ALLOW', Params: [] } },
      ],
      p: [
        {
          Name: 'x',
          Cond: 'req_path_prefix_in("/x", false)',
          Action: { Cmd: 'CLOSE', Params: [] },
        },
        {
          Name: 'y',
          Cond: 'req_path_prefix_in("/y", false)',
          Action: { Cmd: 'CLOSE', Params: [] },
        },
        { Name: 'all', Cond: 'default_t()', Action: { Cmd: 'ALLOW', Params: [] } },
      ],
    },
  }),
  blockRules,
)

test('firstMatchIndex and firstMatchSeen: earlier rules false, the match true, later not evaluated', () => {
  const list = table.rules('p')
  assert.equal(firstMatchIndex(list, req('/y/1')), 1)
  assert.deepEqual(
    firstMatchSeen(list, 1).map((r) => r.matched),
    [false, true, undefined],
  )
  assert.deepEqual(
    firstMatchSeen(list, -1, 4).map((r) => [r.index, r.matched]),
    [
      [4, false],
      [5, false],
      [6, false],
    ],
  )
  assert.equal(firstMatchSeen(list, 0)[0]?.cond, 'req_path_prefix_in("/x", false)')
  assert.equal(firstMatchIndex([], req('/')), -1)
})

test('blockVerdict: a global rule wins over the product, else the first product rule', () => {
  const g = blockVerdict(table, req('/x', 'ok.test'))
  assert.deepEqual([g?.list, g?.index, g?.rule.Name], ['global', 0, 'g-allow'])
  assert.equal(blockVerdict(table, req('/x'))?.rule.Name, 'x')
  assert.equal(blockVerdict(table, req('/z'))?.rule.Name, 'all')
  const other = req('/x')
  other.product = 'q'
  assert.equal(blockVerdict(table, other), undefined)
})
