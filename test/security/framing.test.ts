// Request framing (RFC 9112 §6, issue 13): every request whose body length a backend could read
// differently from bfe-ts is refused before anything is forwarded; the accepted ones reach the
// backend re-framed (Content-Length or chunked, never the client's Transfer-Encoding). Each case
// asserts the client's answer and what the upstream received, byte for byte where the bytes are
// ours to decide.
import assert from 'node:assert/strict'
import { after, before, beforeEach, test } from 'node:test'
import { rawExchange } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { RawClient } from '../helpers/test-module.js'

let up: RecordingUpstream
let bfe: RunningBfe

before(async () => {
  up = await startRecordingUpstream()
  bfe = await startBfe(simpleConf([up.port]))
})
after(async () => {
  await bfe.close()
  await up.close()
})
beforeEach(() => up.reset())

const H = 'Host: p.test\r\n'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Sends `bytes`, expects `status` as a raw status line and the connection closed. */
async function refused(bytes: string, status: string): Promise<void> {
  const r = await rawExchange(bfe.port, bytes, 3000)
  assert.equal(r.data, `HTTP/1.1 ${status}\r\n\r\n`, JSON.stringify(bytes))
  assert.equal(r.closed, true)
  // Give a request that was (wrongly) dispatched the time to reach the upstream.
  await sleep(50)
}

/** The request was refused while its head was read: the upstream saw nothing at all. */
function nothingForwarded(): void {
  // Zero bytes: a connection still being opened for an earlier test's request may show up empty.
  assert.equal(up.bytes(), 0, `upstream got ${JSON.stringify(up.wire).slice(0, 500)}`)
}

/**
 * The request was refused in its body: no complete request reached the upstream, and if the
 * head had already gone out, that upstream connection was closed without the body's end.
 */
function noCompleteRequest(): void {
  assert.equal(up.requests.length, 0, `upstream got ${JSON.stringify(up.wire)}`)
  for (const w of up.wire) assert.doesNotMatch(w, /\r\n0\r\n\r\n$/)
}

/** Sends one request that must be served; returns what the upstream received. */
async function served(
  bytes: string,
): Promise<{ requestLine: string; lines: string[]; body: string }> {
  const c = await RawClient.open(bfe.port)
  try {
    c.write(bytes)
    const r = await c.response({ timeoutMs: 3000 })
    assert.equal(r.status, 200, JSON.stringify(bytes))
  } finally {
    c.close()
  }
  assert.equal(up.requests.length, 1)
  const req = up.requests[0]!
  const framing = req.lines.filter((l) => /^(content-length|transfer-encoding):/i.test(l))
  // Exactly one framing header, matching how the body was sent.
  if (req.body === '') assert.ok(framing.length <= 1)
  else {
    assert.equal(framing.length, 1)
    if (req.framing === 'content-length')
      assert.equal(framing[0]!.toLowerCase(), `content-length: ${req.body.length}`)
    else assert.equal(framing[0]!.toLowerCase(), 'transfer-encoding: chunked')
  }
  return {
    requestLine: req.head.slice(0, req.head.indexOf('\r\n')),
    lines: req.lines.filter((l) => !/^(content-length|transfer-encoding):/i.test(l)),
    body: req.body,
  }
}

/** The header lines bfe-ts sends for a request that carried only Host (no modules enabled). */
const BASE_LINES = ['host: p.test', 'connection: keep-alive']

// ---- Transfer-Encoding ---------------------------------------------------------------------

test('Transfer-Encoding: identity, chunked → 501, nothing forwarded (BFE would read no body)', async () => {
  await refused(
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    '501 Not Implemented',
  )
  nothingForwarded()
})

test('Transfer-Encoding: gzip, chunked (one line or two) → 501, nothing forwarded', async () => {
  await refused(
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    '501 Not Implemented',
  )
  await refused(
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    '501 Not Implemented',
  )
  await refused(
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip,\tchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    '501 Not Implemented',
  )
  nothingForwarded()
})

test('Transfer-Encoding whose last coding is not chunked → 400, nothing forwarded', async () => {
  for (const te of ['gzip', 'chunked, gzip', 'identity', 'chunked, identity', 'xchunked']) {
    await refused(
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: ${te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      '400 Bad Request',
    )
  }
  nothingForwarded()
})

test('chunked applied twice → 400, nothing forwarded', async () => {
  await refused(
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    '400 Bad Request',
  )
  nothingForwarded()
})

test('Transfer-Encoding on an HTTP/1.0 request → 400, nothing forwarded (RFC 9112 §6.1)', async () => {
  await refused(
    `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    '400 Bad Request',
  )
  nothingForwarded()
})

test('a tab before chunked, or CHUNKED in capitals, is chunked: re-framed for the backend', async () => {
  for (const te of ['\tchunked', 'CHUNKED', '  chunked']) {
    up.reset()
    const f = await served(
      `POST /te HTTP/1.1\r\n${H}Transfer-Encoding:${te}\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n`,
    )
    assert.equal(f.requestLine, 'POST /te HTTP/1.1')
    assert.deepEqual(f.lines, BASE_LINES)
    assert.equal(f.body, 'abcdefg')
  }
})

test('chunk extensions and trailer fields are dropped; the body is re-framed', async () => {
  const f = await served(
    `POST /ext HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n`,
  )
  assert.equal(f.requestLine, 'POST /ext HTTP/1.1')
  assert.deepEqual(f.lines, BASE_LINES)
  assert.equal(f.body, 'abc')
})

test('Transfer-Encoding with a space before the colon → 400, nothing forwarded', async () => {
  await refused(
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    '400 Bad Request',
  )
  nothingForwarded()
})

// ---- Content-Length ------------------------------------------------------------------------

test('Content-Length with Transfer-Encoding (either order) → 400, nothing forwarded', async () => {
  await refused(
    `POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`,
    '400 Bad Request',
  )
  await refused(
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    '400 Bad Request',
  )
  nothingForwarded()
})

test('repeated, listed or malformed Content-Length → 400, nothing forwarded', async () => {
  const cases = [
    'Content-Length: 3\r\nContent-Length: 3',
    'Content-Length: 3\r\nContent-Length: 4',
    'Content-Length: 3, 3',
    'Content-Length: +3',
    'Content-Length: -3',
    'Content-Length: 0x3',
    'Content-Length: 1 2',
    'Content-Length: 3a',
    'Content-Length: 99999999999999999999999',
  ]
  for (const cl of cases)
    await refused(`POST / HTTP/1.1\r\n${H}${cl}\r\n\r\nabcd`, '400 Bad Request')
  nothingForwarded()
})

test('a valid Content-Length body is forwarded as it came', async () => {
  const f = await served(`POST /cl HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`)
  assert.equal(f.requestLine, 'POST /cl HTTP/1.1')
  assert.deepEqual(f.lines, BASE_LINES)
  assert.equal(f.body, 'hello')
})

// ---- chunked bodies ------------------------------------------------------------------------

test('bad chunk sizes → 400, no complete request reaches the upstream', async () => {
  for (const size of ['zz', '0x3', '-3', 'ffffffffffffffffff', '3 ', ' 3']) {
    up.reset()
    await refused(
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${size}\r\nabc\r\n0\r\n\r\n`,
      '400 Bad Request',
    )
    noCompleteRequest()
  }
})

test('chunk framing errors (bare LF, data longer than its size, CL in the trailer) → 400', async () => {
  const bodies = [
    '3\nabc\n0\n\n',
    '3\r\nabcX0\r\n\r\n',
    '3\r\nabc\r\n0\r\nContent-Length: 5\r\n\r\n',
    '3\r\nabc\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n',
  ]
  for (const body of bodies) {
    up.reset()
    await refused(
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${body}`,
      '400 Bad Request',
    )
    noCompleteRequest()
  }
})

// ---- head syntax ---------------------------------------------------------------------------

test('obs-fold, bare LF or CR, and whitespace before a colon → 400, nothing forwarded', async () => {
  const heads = [
    `GET / HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n`,
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    'GET / HTTP/1.1\nHost: p.test\n\n',
    'GET / HTTP/1.1\r\nHost: p.test\nX-A: b\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: p.test\rX-A: b\r\n\r\n',
    `GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n`,
    `GET / HTTP/1.1\r\n${H} X-A: b\r\n\r\n`,
  ]
  for (const h of heads) await refused(h, '400 Bad Request')
  nothingForwarded()
})

test('control bytes in names, values or the target → 400, nothing forwarded', async () => {
  const heads = [
    `GET / HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n`,
    `GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`,
    `GET / HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`,
    `GET / HTTP/1.1\r\n${H}X\x01A: b\r\n\r\n`,
    `GET /a\x01b HTTP/1.1\r\n${H}\r\n`,
    `GET /a b HTTP/1.1\r\n${H}\r\n`,
    `get / HTTP/1.1\r\n${H}\r\n`,
    `GET / HTTP/1.1 \r\n${H}\r\n`,
  ]
  for (const h of heads) await refused(h, '400 Bad Request')
  nothingForwarded()
})

test('an empty line before the request line is ignored (RFC 9112 §2.2)', async () => {
  const f = await served(`\r\nGET /lead HTTP/1.1\r\n${H}\r\n`)
  assert.equal(f.requestLine, 'GET /lead HTTP/1.1')
  assert.deepEqual(f.lines, BASE_LINES)
  assert.equal(f.body, '')
})

test('a request pipelined behind a refused one is never forwarded', async () => {
  const r = await rawExchange(
    bfe.port,
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`,
    3000,
  )
  assert.equal(r.data, 'HTTP/1.1 501 Not Implemented\r\n\r\n')
  assert.equal(r.closed, true)
  await sleep(50)
  nothingForwarded()
})
