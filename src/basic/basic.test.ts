import assert from 'node:assert/strict'
import { test } from 'node:test'
import { HeaderList, HeaderRun, sameName } from './header-list.js'
import { parseCookies, parseQuery } from './parse.js'
import { BfeRequest } from './request.js'
import { Session } from './session.js'

test('HeaderList looks names up case-insensitively and keeps duplicates and order', () => {
  const h = new HeaderList(['Host', 'a', 'X-A', '1', 'x-a', '2'])
  assert.equal(h.get('HOST'), 'a')
  assert.deepEqual(h.getAll('X-a'), ['1', '2'])
  h.set('x-A', '3')
  assert.deepEqual(h.raw, ['Host', 'a', 'X-A', '3'])
  h.add('Y', '1')
  assert.equal(h.delete('host'), true)
  assert.equal(h.delete('host'), false)
  assert.deepEqual(h.raw, ['X-A', '3', 'Y', '1'])
  h.set('Z', 'z')
  assert.equal(h.size, 3)
  assert.equal(h.has('z'), true)
})

test('header names compare with ASCII case folding only', () => {
  assert.equal(sameName('Content-Length', 'content-length'), true)
  assert.equal(sameName('X-A', 'x-B'), false)
  assert.equal(sameName('host', 'hos'), false)
  // '[' and '{' differ by 0x20 but are not letters.
  assert.equal(sameName('a[', 'a{'), false)
  assert.equal(sameName('@', '`'), false)
  assert.equal(sameName('\u00c9', '\u00e9'), false)
})

test('cookies: first occurrence wins, quotes removed', () => {
  const c = parseCookies(['a=1; b="2"', 'a=3; c=x=y'])
  assert.equal(c.get('a'), '1')
  assert.equal(c.get('b'), '2')
  assert.equal(c.get('c'), 'x=y')
})

test('query parsing as Go: + and % decoding, bad pairs and ; dropped', () => {
  const q = parseQuery('a=1&a=2&b=x+y&c=%41&d=%zz&e;f=1&g')
  assert.deepEqual(q.get('a'), ['1', '2'])
  assert.deepEqual(q.get('b'), ['x y'])
  assert.deepEqual(q.get('c'), ['A'])
  assert.equal(q.has('d'), false)
  assert.equal(q.has('e;f'), false)
  assert.deepEqual(q.get('g'), [''])
})

test('a request decodes its path, splits its query and can be rewritten', () => {
  const ses = new Session({ remoteAddr: '1.2.3.4', remotePort: 5 })
  const r = new BfeRequest(ses, {
    method: 'GET',
    rawUri: '/a%20b/c?x=1',
    proto: 'HTTP/1.1',
    headers: ['Host', 'A.test:81'],
  })
  assert.equal(r.path, '/a b/c')
  assert.equal(r.rawQuery, 'x=1')
  assert.equal(r.hostname, 'A.test')
  assert.equal(r.clientAddr, '1.2.3.4')
  r.setPath('/n m')
  assert.equal(r.uri, '/n%20m?x=1')
  assert.equal(r.rawUri, '/a%20b/c?x=1')
  const abs = new BfeRequest(ses, {
    method: 'GET',
    rawUri: 'http://h.test/p?q',
    proto: 'HTTP/1.1',
    headers: [],
  })
  assert.equal(abs.path, '/p')
  assert.throws(
    () => new BfeRequest(ses, { method: 'GET', rawUri: '/%zz', proto: 'HTTP/1.1', headers: [] }),
  )
})

test('cookies() follows changes to the Cookie header made after the first parse', () => {
  const ses = new Session({ remoteAddr: '10.0.0.1', remotePort: 1 })
  const req = new BfeRequest(ses, {
    method: 'GET',
    rawUri: '/',
    proto: 'HTTP/1.1',
    headers: ['Host', 'a', 'Cookie', 'a=1; b=2'],
  })
  const first = req.cookies()
  assert.equal(first.get('a'), '1')
  // the same header: the cached map
  assert.equal(req.cookies(), first)
  // a module sets the header (as mod_header's REQ_COOKIE_SET and REQ_HEADER_SET do)
  req.headers.set('Cookie', 'a=9; c=3')
  assert.equal(req.cookies().get('a'), '9')
  assert.equal(req.cookies().get('b'), undefined)
  // several Cookie lines read in order, first occurrence wins
  req.headers.add('Cookie', 'a=7; d=4')
  assert.deepEqual(
    [...req.cookies()],
    [
      ['a', '9'],
      ['c', '3'],
      ['d', '4'],
    ],
  )
  req.headers.delete('cookie')
  assert.equal(req.cookies().size, 0)
})

test('HeaderList.checked: set and delete lower it to the first field they change, add leaves it', () => {
  const fields = () => ['A', '1', 'B', '2', 'C', '3', 'B', '4']
  const l = new HeaderList(fields(), 8)
  assert.equal(l.checked, 8)
  l.add('D', '5')
  assert.equal(l.checked, 8)
  l.set('E', '6') // not present: appended
  assert.equal(l.checked, 8)
  l.set('C', 'x') // in place at element 4
  assert.equal(l.checked, 4)
  const d = new HeaderList(fields(), 8)
  d.delete('B') // first B at element 2
  assert.equal(d.checked, 2)
  assert.deepEqual(d.raw, ['A', '1', 'C', '3'])
  const s = new HeaderList(fields(), 8)
  s.set('B', 'y') // first B stays at 2, the second is removed
  assert.equal(s.checked, 2)
  assert.deepEqual(s.raw, ['A', '1', 'B', 'y', 'C', '3'])
  assert.equal(new HeaderList(fields(), 6).clone().checked, 6)
  assert.equal(new HeaderList(fields(), 99).checked, 8)
  assert.equal(new HeaderList().checked, 0)
  const u = new HeaderList(fields(), 8)
  u.uncheckFrom(5) // a value: its whole field is unchecked
  assert.equal(u.checked, 4)
  u.uncheckFrom(7)
  assert.equal(u.checked, 4)
})

test('HeaderList.checked: a field vouched valid joins the prefix only when it ends a checked list', () => {
  const fields = () => ['A', '1', 'B', '2']
  const l = new HeaderList(fields(), 4)
  l.set('X-New', 'v', true) // appended after a wholly checked list
  assert.equal(l.checked, 6)
  l.add('X-Add', 'w', true)
  assert.equal(l.checked, 8)
  l.add('X-Plain', 'p') // not vouched: past the prefix
  assert.equal(l.checked, 8)
  l.add('X-Late', 'q', true) // after an unchecked field: stays out
  l.set('X-Later', 'r', true)
  assert.equal(l.checked, 8)
  const p = new HeaderList(fields(), 2)
  p.set('X-New', 'v', true) // the list before it is not wholly checked
  p.add('X-Add', 'w', true)
  assert.equal(p.checked, 2)
  const r = new HeaderList(fields(), 4)
  r.set('A', 'x', true) // replaced in place: lowered as any set
  assert.equal(r.checked, 0)
})

test('HeaderRun: checked once, its text, and where a list holds it', () => {
  const run = HeaderRun.of(['X-A', '1', 'X-B', 'two words']) as HeaderRun
  assert.equal(run.text, 'X-A: 1\r\nX-B: two words\r\n')
  assert.equal(run.at(['Host', 'h', 'X-A', '1', 'X-B', 'two words'], 2), true)
  assert.equal(run.at(['Host', 'h', 'X-A', '1', 'X-B', 'two words'], 0), false)
  assert.equal(run.at(['X-A', '1', 'X-B'], 0), false)
  // equal text in another string still matches (the list holds the same fields)
  assert.equal(run.at(['X-A', String(1), 'X-B', 'two words'], 0), true)
  assert.equal(run.at(['X-A', '1', 'X-B', 'two'], 0), false)
  // no run of invalid fields, of the fields the writer frames the message with, or of nothing
  assert.equal(HeaderRun.of(['X-A', 'a\r\nEvil: 1']), undefined)
  assert.equal(HeaderRun.of(['X A', '1']), undefined)
  assert.equal(HeaderRun.of(['host', 'h']), undefined)
  assert.equal(HeaderRun.of(['Content-Length', '1']), undefined)
  assert.equal(HeaderRun.of([]), undefined)
  assert.equal(HeaderRun.of(['X-A']), undefined)
  // a clone keeps the hint
  const h = new HeaderList(['X-A', '1'])
  h.run = run
  assert.equal(h.clone().run, run)
})
