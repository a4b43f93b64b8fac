import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import { dropInterimContinue } from './interim.js'

/** A stream standing in for a socket: what the "backend" pushes, read back as undici would. */
function fakeSocket(): { s: PassThrough; readAll(): string } {
  const s = new PassThrough()
  dropInterimContinue(s as unknown as Socket)
  return {
    s,
    readAll() {
      let out = ''
      for (let c = s.read() as Buffer | null; c !== null; c = s.read() as Buffer | null)
        out += c.toString('latin1')
      return out
    },
  }
}

test('100 Continue heads before a response are dropped, in any chunking', () => {
  const final = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
  const wire = `HTTP/1.1 100 Continue\r\nX: y\r\n\r\nHTTP/1.0 100\r\n\r\n${final}`
  for (const size of [1, 3, 7, 13, wire.length]) {
    const f = fakeSocket()
    f.s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    PassThrough.prototype.read.call(f.s) // the request, echoed by the fake socket
    let got = ''
    for (let i = 0; i < wire.length; i += size) {
      // one chunk per read, as data arrives on a socket
      f.s.unshift(Buffer.from(wire.slice(i, i + size), 'latin1'))
      got += f.readAll()
    }
    assert.equal(got, final, `chunks of ${size}`)
  }
})

test('other responses, and bytes after the first response, pass untouched', () => {
  const f = fakeSocket()
  f.s.write('GET / HTTP/1.1\r\n\r\n')
  PassThrough.prototype.read.call(f.s)
  const wire =
    'HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n'
  f.s.unshift(Buffer.from(wire, 'latin1'))
  assert.equal(f.readAll(), wire)
  // no request written: nothing is looked at
  const g = fakeSocket()
  g.s.unshift(Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1'))
  assert.equal(g.readAll(), 'HTTP/1.1 100 Continue\r\n\r\n')
})
