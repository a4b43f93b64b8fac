// The HTTP/1.1 engine's own response framing (it builds heads itself since issue 16): HEAD,
// bodies of unknown length to HTTP/1.1 and HTTP/1.0 clients, trailers, pipelined requests with
// bodies, and a head with its small body in one write.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, test } from 'node:test'
import { rawExchange } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

let up: Upstream
let bfe: RunningBfe

before(async () => {
  up = await startUpstream((req, res) => {
    let body = ''
    req.setEncoding('latin1')
    req.on('data', (c: string) => {
      body += c
    })
    req.on('end', () => {
      if (req.url === '/chunked') {
        // No Content-Length: node:http sends it chunked, with a trailer.
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-sum' })
        res.write('abc')
        res.write('defg')
        res.addTrailers({ 'x-sum': '7' })
        res.end()
        return
      }
      const out = `${req.method} ${req.url} ${body}`
      res.writeHead(200, { 'content-length': Buffer.byteLength(out), 'x-up': '1' })
      res.end(req.method === 'HEAD' ? undefined : out)
    })
  })
  bfe = await startBfe(simpleConf([up.port]))
})

after(async () => {
  await bfe.close()
  await up.close()
})

/** Collects what the server sends on one connection until `done(data)` or the timeout. */
function exchange(
  bytes: string,
  done: (data: string) => boolean,
  timeoutMs = 3000,
): Promise<{ data: string; reads: string[] }> {
  return new Promise((resolve, reject) => {
    const s = connect(bfe.port, '127.0.0.1')
    const reads: string[] = []
    s.on('error', reject)
    const t = setTimeout(() => {
      s.destroy()
      reject(new Error(`timeout; got ${JSON.stringify(reads.join(''))}`))
    }, timeoutMs)
    s.on('data', (c: Buffer) => {
      reads.push(c.toString('latin1'))
      const data = reads.join('')
      if (done(data)) {
        clearTimeout(t)
        s.destroy()
        resolve({ data, reads })
      }
    })
    s.write(bytes)
  })
}

test('a small response: status line, fields, Date, Connection and body in one write', async () => {
  const { reads } = await exchange('GET /one HTTP/1.1\r\nHost: p.test\r\n\r\n', (d) =>
    d.endsWith('GET /one '),
  )
  assert.equal(reads.length, 1, JSON.stringify(reads))
  const head = reads[0]!.slice(0, reads[0]!.indexOf('\r\n\r\n'))
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n/)
  assert.match(head, /\r\nx-up: 1\r\n/i)
  assert.match(head, /\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/)
  assert.match(head, /\r\nConnection: keep-alive$/)
})

test('HEAD: the head with its Content-Length and no body; the connection stays usable', async () => {
  const { data } = await exchange(
    'HEAD /h HTTP/1.1\r\nHost: p.test\r\n\r\nGET /after HTTP/1.1\r\nHost: p.test\r\n\r\n',
    (d) => d.endsWith('GET /after '),
  )
  const parts = data.split('HTTP/1.1 200 OK')
  assert.equal(parts.length, 3, data)
  assert.match(parts[1]!, /content-length: 8\r\n/i)
  assert.ok(parts[1]!.endsWith('\r\n\r\n'), 'a HEAD answer carries no body')
})

test('a body of unknown length: chunked with its trailer to HTTP/1.1, close-delimited to HTTP/1.0', async () => {
  const { data } = await exchange('GET /chunked HTTP/1.1\r\nHost: p.test\r\n\r\n', (d) =>
    d.endsWith('\r\n0\r\nx-sum: 7\r\n\r\n'),
  )
  assert.match(data, /\r\nTransfer-Encoding: chunked\r\n/)
  assert.match(data, /\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\nx-sum: 7\r\n\r\n$/)

  const r = await rawExchange(bfe.port, 'GET /chunked HTTP/1.0\r\nHost: p.test\r\n\r\n', 3000)
  assert.equal(r.closed, true)
  assert.doesNotMatch(r.data, /Transfer-Encoding/i)
  assert.match(r.data, /\r\nConnection: close\r\n/)
  assert.ok(r.data.endsWith('\r\n\r\nabcdefg'), JSON.stringify(r.data))
})

test('pipelined requests with bodies are answered in order, each with its own body', async () => {
  const reqs =
    'POST /p1 HTTP/1.1\r\nHost: p.test\r\nContent-Length: 3\r\n\r\nonePOST /p2 HTTP/1.1\r\nHost: p.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\nGET /p3 HTTP/1.1\r\nHost: p.test\r\n\r\n'
  const { data } = await exchange(reqs, (d) => d.endsWith('GET /p3 '))
  const bodies = data.split(/HTTP\/1\.1 200 OK\r\n[\s\S]*?\r\n\r\n/).filter((x) => x !== '')
  assert.deepEqual(bodies, ['POST /p1 one', 'POST /p2 two', 'GET /p3 '])
})
