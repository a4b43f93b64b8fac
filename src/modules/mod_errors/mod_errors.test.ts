import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { after, describe, it } from 'node:test'
import { HeaderList } from '../../basic/header-list.js'
import { BfeRequest } from '../../basic/request.js'
import { BfeResponse } from '../../basic/response.js'
import { Session } from '../../basic/session.js'
import { JsonNode } from '../../config/json-node.js'
import { decodeProductRules } from '../../module/rule-table.js'
import { MAX_PAGE_SIZE, replaceResponse } from './actions.js'
import { errorsRules } from './index.js'

const dir = mkdtempSync(join(tmpdir(), 'mod-errors-'))
after(() => rmSync(dir, { recursive: true, force: true }))
writeFileSync(join(dir, 'page.html'), '<p>sorry</p>')
writeFileSync(join(dir, 'big.html'), Buffer.alloc(MAX_PAGE_SIZE + 1))

const decl = errorsRules((p) => join(dir, p))
const load = (action: unknown) =>
  decodeProductRules(
    new JsonNode('errors_rule.data', '', {
      Version: 'v',
      Config: { p: [{ Cond: 'res_code_in("404")', Actions: [action] }] },
    }),
    decl,
  )

function req(): BfeRequest {
  return new BfeRequest(new Session({ remoteAddr: '10.0.0.1', remotePort: 1 }), {
    method: 'GET',
    rawUri: '/',
    proto: 'HTTP/1.1',
    headers: ['Host', 'a.test'],
  })
}

describe('mod_errors', () => {
  it('reads the page at load and replaces the response with it', () => {
    const t = load({ Cmd: 'RETURN', Params: ['200', 'text/html', 'page.html'] })
    const a = t.rules('p')[0]?.Actions[0]
    assert.ok(a)
    const r = req()
    const body = new PassThrough()
    const old = new BfeResponse(
      404,
      new HeaderList(['X-Backend', '1', 'Set-Cookie', 'a=1']),
      body,
      false,
    )
    r.httpResponse = old
    replaceResponse(r, old, a)
    const res = r.httpResponse
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.headers.raw, [
      'Server',
      'bfe',
      'Content-Type',
      'text/html',
      'Content-Length',
      '12',
    ])
    assert.equal(String(res.body), '<p>sorry</p>')
    assert.equal(body.destroyed, true)
  })
  it('REDIRECT answers 302 with Location and no body', () => {
    const a = load({ Cmd: 'REDIRECT', Params: ['http://e.test/error.html'] }).rules('p')[0]
      ?.Actions[0]
    assert.ok(a)
    const r = req()
    const old = new BfeResponse(404)
    replaceResponse(r, old, a)
    assert.equal(r.httpResponse?.statusCode, 302)
    assert.equal(r.httpResponse?.headers.get('location'), 'http://e.test/error.html')
    assert.equal(r.httpResponse?.body, undefined)
  })
  it('refuses bad actions, naming the field', () => {
    assert.throws(
      () => load({ Cmd: 'RETURN', Params: ['299', 'text/html', 'page.html'] }),
      /\/Config\/p\/0\/Actions\/0\/Params\/0 "299" is not a known HTTP status code/,
    )
    assert.throws(
      () => load({ Cmd: 'RETURN', Params: ['302', 'text/html', 'page.html'] }),
      /Params\/0 "302" must be a 2xx, 4xx or 5xx status/,
    )
    assert.throws(
      () => load({ Cmd: 'RETURN', Params: ['200', 'page.html'] }),
      /Params of RETURN must have 3 items/,
    )
    assert.throws(
      () => load({ Cmd: 'RETURN', Params: ['200', 'text/html', 'missing.html'] }),
      /Params\/2 page .*missing\.html cannot be read/,
    )
    assert.throws(
      () => load({ Cmd: 'RETURN', Params: ['200', 'text/html', 'big.html'] }),
      /Params\/2 page .*big\.html is 2097153 bytes, more than 2097152/,
    )
    assert.throws(
      () => load({ Cmd: 'REDIRECT', Params: ['a', 'b'] }),
      /Params of REDIRECT must have 1 item/,
    )
    assert.throws(() => load({ Cmd: 'FORWARD', Params: ['a'] }), /Cmd "FORWARD" is not one of/)
  })
})
