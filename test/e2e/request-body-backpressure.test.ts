import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { after, before, test } from 'node:test'
import { h2Request } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

// Request bodies forwarded to a backend that does not read for a while: the backend connection's
// buffer fills and every write reports backpressure. A body without a length is re-framed as
// chunked on the way (size line, data, CRLF per chunk); each chunk must go out whole even when
// the first of its three writes already reports backpressure.

const MiB = 1024 * 1024
const BODY = randomBytes(16 * MiB)

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

let backend: Upstream
let bfe: RunningBfe

before(async () => {
  backend = await startUpstream((req, res) => {
    // not a byte read for 400 ms: bfe-ts's writes to this connection back up
    req.pause()
    setTimeout(() => {
      const hash = createHash('sha256')
      let len = 0
      req.on('data', (c: Buffer) => {
        hash.update(c)
        len += c.length
      })
      req.on('end', () => {
        res.setHeader('content-type', 'application/json')
        res.end(
          JSON.stringify({ len, sha: hash.digest('hex'), te: req.headers['transfer-encoding'] }),
        )
      })
      req.resume()
    }, 400)
  })
  bfe = await startBfe(simpleConf([backend.port]))
})

after(async () => {
  await bfe?.close()
  await backend?.close()
})

/** POSTs BODY over a raw HTTP/1.1 connection as `chunks` chunks of the client's own framing. */
function chunkedPost(port: number, chunkSize: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    s.on('error', reject)
    s.write(
      'POST /upload HTTP/1.1\r\nHost: p.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
    )
    for (let off = 0; off < BODY.length; off += chunkSize) {
      const c = BODY.subarray(off, off + chunkSize)
      s.write(`${c.length.toString(16)}\r\n`)
      s.write(c)
      s.write('\r\n')
    }
    s.write('0\r\n\r\n')
    const got: Buffer[] = []
    s.on('data', (c: Buffer) => got.push(c))
    s.on('end', () => resolve(Buffer.concat(got).toString('latin1')))
  })
}

for (const size of [1000, 16 * 1024, 100_000]) {
  test(`a 16 MiB chunked request body in ${size}-byte chunks reaches a backend that reads late, whole`, async () => {
    const raw = await chunkedPost(bfe.port, size)
    assert.match(raw, /^HTTP\/1\.1 200 /, raw.slice(0, 200))
    const j = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>
    assert.deepEqual(j, { len: BODY.length, sha: sha(BODY), te: 'chunked' })
  })
}

test('HTTP/2 client without a length: a 16 MiB body reaches a backend that reads late, whole', async () => {
  const r = await h2Request(bfe.tlsPort, '/upload', { method: 'POST', body: BODY })
  assert.equal(r.status, 200, r.body.toString().slice(0, 200))
  const j = JSON.parse(r.body.toString()) as { len: number; sha: string }
  assert.equal(j.len, BODY.length)
  assert.equal(j.sha, sha(BODY))
})
