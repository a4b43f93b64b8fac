import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { makeRequest } from '../../test/helpers/condition-cases.js'
import { confError } from '../../test/helpers/conf-assert.js'
import { JsonNode } from '../config/json-node.js'
import { type Infer, s } from '../config/schema.js'
import {
  decodeProductRules,
  firstMatch,
  type ProductRuleDecl,
  productRuleJsonSchema,
} from './rule-table.js'

const rule = s.object({ Cond: s.cond(), Name: s.string({ nonEmpty: true }) })
const decl: ProductRuleDecl<Infer<typeof rule>> = {
  rule,
  checkList(rules, node) {
    const seen = new Set<string>()
    rules.forEach((r, i) => {
      if (seen.has(r.Name)) node.get(String(i)).get('Name').fail(`duplicate rule name "${r.Name}"`)
      seen.add(r.Name)
    })
  },
}

const load = (v: unknown, d: ProductRuleDecl<Infer<typeof rule>> = decl) =>
  decodeProductRules(new JsonNode('/x/rules.data', '', v), d)

describe('product rule tables', () => {
  it('reads rules per product in file order; a product without rules gets none', () => {
    const t = load({
      Version: '7',
      Config: {
        p: [
          { Cond: 'req_path_prefix_in("/a", false)', Name: 'a' },
          { Cond: 'default_t()', Name: 'all' },
        ],
        global: [{ Cond: 'default_t()', Name: 'g' }],
      },
    })
    assert.equal(t.version, '7')
    assert.equal(t.versionText(), 'rules.data=7')
    assert.deepEqual(
      t.rules('p').map((r) => r.Name),
      ['a', 'all'],
    )
    assert.deepEqual(t.rules('nope'), [])
    assert.equal(t.size, 3)
    assert.equal(firstMatch(t.rules('p'), makeRequest({ uri: '/a/b' }))?.Name, 'a')
    assert.equal(firstMatch(t.rules('p'), makeRequest({ uri: '/z' }))?.Name, 'all')
    // asked in turn (the table remembers the last product): each gets its own, every time
    const names = (p: string): string[] => t.rules(p).map((r) => r.Name)
    for (const p of ['p', 'p', 'global', 'nope', 'p', 'global', 'global', 'nope', 'p']) {
      const want = p === 'p' ? ['a', 'all'] : p === 'global' ? ['g'] : []
      assert.deepEqual(names(p), want, p)
      // an equal string made at run time is the same product
      assert.deepEqual(names(['', p].join('')), want, p)
    }
    assert.deepEqual(
      t.rulesOrGlobal('nope').map((r) => r.Name),
      ['g'],
    )
  })

  it('refuses a missing Version or Config, bad rules and list checks, naming the field', () => {
    confError(() => load({ Config: {} }), '/x/rules.data', '/Version', /is required/)
    confError(() => load({ Version: '1' }), '/x/rules.data', '/Config', /is required/)
    confError(
      () => load({ Version: '1', Config: { p: {} } }),
      '/x/rules.data',
      '/Config/p',
      /must be an array/,
    )
    confError(
      () => load({ Version: '1', Config: { p: [{ Cond: 'nope()', Name: 'a' }] } }),
      '/x/rules.data',
      '/Config/p/0/Cond',
      /.+/,
    )
    confError(
      () =>
        load({
          Version: '1',
          Config: {
            p: [
              { Cond: 'default_t()', Name: 'a' },
              { Cond: 'default_t()', Name: 'a' },
            ],
          },
        }),
      '/x/rules.data',
      '/Config/p/1/Name',
      /duplicate rule name "a"/,
    )
    confError(
      () => load({ Version: '', Config: {} }, { ...decl, versionNonEmpty: true }),
      '/x/rules.data',
      '/Version',
      /must not be empty/,
    )
    confError(
      () => load({ Version: '1', Config: { p: [] } }, { ...decl, nonEmptyList: true }),
      '/x/rules.data',
      '/Config/p',
      /must not be empty/,
    )
  })

  it('describes the whole file as JSON Schema', () => {
    const doc = productRuleJsonSchema('mod_x/rules.data', decl)
    assert.deepEqual(doc.required, ['Version', 'Config'])
    const config = doc.properties?.['Config']
    assert.equal(config?.type, 'object')
    const list = config?.additionalProperties as { type?: string; items?: { required?: string[] } }
    assert.equal(list.type, 'array')
    assert.deepEqual(list.items?.required, ['Cond', 'Name'])
  })
})
