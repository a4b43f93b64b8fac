import assert from 'node:assert/strict'
import { test } from 'node:test'
import { redirectBody, redirectLocation } from './redirect.js'

test('relative redirect URLs resolve against the request directory and are cleaned', () => {
  assert.equal(redirectLocation('next', '/a/b/c'), '/a/b/next')
  assert.equal(redirectLocation('../x?q=1', '/a/b/c'), '/a/x?q=1')
  assert.equal(redirectLocation('/p//q/./r/', '/z'), '/p/q/r/')
  assert.equal(redirectLocation('/p/q/..', '/z'), '/p')
  assert.equal(redirectLocation('x', '/'), '/x')
})

test('absolute URLs are used unchanged', () => {
  assert.equal(redirectLocation('https://b.test/../x', '/a'), 'https://b.test/../x')
  assert.equal(redirectLocation('//cdn.test/x', '/a'), '//cdn.test/x')
})

test('the GET body is a link with the escaped URL and the reason phrase', () => {
  assert.equal(
    redirectBody('/a?x=1&y="2"', 302),
    '<a href="/a?x=1&amp;y=&#34;2&#34;">Found</a>.\n\n',
  )
  assert.equal(redirectBody('/b', 301), '<a href="/b">Moved Permanently</a>.\n\n')
})
