import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ErrCode } from '../basic/error-code.js'
import { classifyUpstreamError, closesConnection, statusForError } from './errors.js'
import {
  backendRequestHeaders,
  outgoingRequestHeaders,
  responseHeaderStrings,
  upgradeRequestHeaders,
} from './hop-headers.js'

test('D8: statuses for forwarding failures, and BFE 500 in compat mode', () => {
  assert.equal(statusForError(ErrCode.ConnectBackend, false), 502)
  assert.equal(statusForError(ErrCode.WriteRequest, false), 502)
  assert.equal(statusForError(ErrCode.ReadRespHeader, false), 502)
  assert.equal(statusForError(ErrCode.TransportBroken, false), 502)
  assert.equal(statusForError(ErrCode.RespHeaderTimeout, false), 504)
  assert.equal(statusForError(ErrCode.NoBackend, false), 503)
  assert.equal(statusForError(ErrCode.NoSubCluster, false), 503)
  assert.equal(statusForError(ErrCode.GslbBlackhole, false), 503)
  assert.equal(statusForError(ErrCode.NoSubClusterCross, false), 503)
  assert.equal(statusForError(ErrCode.FindProduct, false), 500)
  assert.equal(statusForError(ErrCode.FindLocation, false), 500)
  assert.equal(statusForError(ErrCode.NoCluster, false), 500)
  for (const code of Object.values(ErrCode)) assert.equal(statusForError(code, true), 500)
})

test('lookup failures close the connection, forwarding failures do not', () => {
  assert.equal(closesConnection(ErrCode.FindProduct), true)
  assert.equal(closesConnection(ErrCode.NoCluster), true)
  assert.equal(closesConnection(ErrCode.ConnectBackend), false)
})

test('upstream errors are classified by code', () => {
  const e = (code: string) => Object.assign(new Error(code), { code })
  assert.equal(classifyUpstreamError(e('ECONNREFUSED'), false).code, ErrCode.ConnectBackend)
  assert.equal(
    classifyUpstreamError(e('UND_ERR_CONNECT_TIMEOUT'), false).code,
    ErrCode.ConnectBackend,
  )
  assert.equal(
    classifyUpstreamError(e('UND_ERR_HEADERS_TIMEOUT'), false).code,
    ErrCode.RespHeaderTimeout,
  )
  assert.equal(classifyUpstreamError(e('HPE_INVALID_CONSTANT'), false).code, ErrCode.ReadRespHeader)
  const clientSide = classifyUpstreamError(e('ECONNRESET'), true)
  assert.equal(clientSide.code, ErrCode.WriteRequest)
  assert.equal(clientSide.backendFault, false)
  const wrapped = Object.assign(new Error('wrapped'), { cause: e('ECONNREFUSED') })
  assert.equal(classifyUpstreamError(wrapped, false).code, ErrCode.ConnectBackend)
  assert.equal(classifyUpstreamError(e('BFE_BAD_RESPONSE'), false).code, ErrCode.ReadRespHeader)
})

test('only connect failures and header timeouts count against the backend', () => {
  const e = (code: string, msg = code) => Object.assign(new Error(msg), { code })
  const counts = (err: Error) => classifyUpstreamError(err, false).backendFault
  assert.equal(counts(e('ECONNREFUSED')), true)
  assert.equal(counts(e('UND_ERR_HEADERS_TIMEOUT')), true)
  for (const err of [
    e('ECONNRESET'),
    e('EPIPE'),
    e('UND_ERR_SOCKET', 'other side closed'),
    e('HPE_INVALID_CONSTANT'),
    e('BFE_BAD_RESPONSE'),
  ])
    assert.equal(counts(err), false, err.message)
  const closed = (err: Error) => classifyUpstreamError(err, false).connectionClosed
  assert.equal(closed(e('UND_ERR_SOCKET', 'other side closed')), true)
  assert.equal(closed(e('ECONNRESET')), true)
  assert.equal(closed(e('UND_ERR_SOCKET', 'bad response')), false)
  assert.equal(closed(e('HPE_INVALID_CONSTANT')), false)
})

test('a failed TLS handshake with an https backend is a connect failure, as in BFE', () => {
  const e = (code: string) => Object.assign(new Error(code), { code })
  for (const code of [
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'CERT_HAS_EXPIRED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    'ERR_SSL_WRONG_VERSION_NUMBER',
  ]) {
    const f = classifyUpstreamError(e(code), false)
    assert.equal(f.code, ErrCode.ConnectBackend, code)
    assert.equal(f.backendFault, true, code)
  }
})

test('hop-by-hop request headers are removed, TE: trailers kept, Host replaced on demand', () => {
  const raw = [
    'Host',
    'a.test',
    'Connection',
    'keep-alive, x-foo',
    'Keep-Alive',
    'timeout=5',
    'TE',
    'trailers',
    'Te',
    'gzip',
    'Upgrade',
    'h2c',
    'Proxy-Authorization',
    'x',
    'Transfer-Encoding',
    'chunked',
    'X-Foo',
    'kept',
    'Cookie',
    'a=1',
  ]
  assert.deepEqual(outgoingRequestHeaders(raw, undefined), [
    'Host',
    'a.test',
    'TE',
    'trailers',
    'X-Foo',
    'kept',
    'Cookie',
    'a=1',
  ])
  assert.deepEqual(outgoingRequestHeaders(['X-A', '1'], '10.0.0.1:80'), [
    'X-A',
    '1',
    'Host',
    '10.0.0.1:80',
  ])
  assert.deepEqual(outgoingRequestHeaders(['host', 'a', 'X', 'y'], '1.2.3.4:8'), [
    'host',
    '1.2.3.4:8',
    'X',
    'y',
  ])
})

test('a WebSocket handshake keeps Upgrade and gets Connection: Upgrade; other hop-by-hop headers go', () => {
  const raw = [
    'Host',
    'a.test',
    'Connection',
    'keep-alive, Upgrade',
    'Upgrade',
    'websocket',
    'Keep-Alive',
    'timeout=5',
    'Proxy-Authorization',
    'x',
    'Sec-WebSocket-Key',
    'k',
    'Sec-WebSocket-Version',
    '13',
    'Connection',
    'again',
  ]
  assert.deepEqual(upgradeRequestHeaders(raw, undefined), [
    'Host',
    'a.test',
    'Connection',
    'Upgrade',
    'Upgrade',
    'websocket',
    'Sec-WebSocket-Key',
    'k',
    'Sec-WebSocket-Version',
    '13',
  ])
  assert.deepEqual(upgradeRequestHeaders(['Upgrade', 'websocket'], '10.0.0.1:80'), [
    'Upgrade',
    'websocket',
    'Host',
    '10.0.0.1:80',
  ])
  // The ordinary path still drops both.
  assert.deepEqual(outgoingRequestHeaders(raw, undefined), [
    'Host',
    'a.test',
    'Sec-WebSocket-Key',
    'k',
    'Sec-WebSocket-Version',
    '13',
  ])
})

test('backend response headers become strings, hop-by-hop ones left out', () => {
  const raw = [
    'Content-Type',
    'text/plain',
    'Connection',
    'close',
    'Transfer-Encoding',
    'chunked',
    'Set-Cookie',
    'a=1',
    'Keep-Alive',
    'x',
    'Proxy-Connection',
    'keep-alive',
    'X-Latin1',
    '\u00e9t\u00e9',
    'TE-Like',
    'v',
  ].map((s) => Buffer.from(s, 'latin1'))
  assert.deepEqual(responseHeaderStrings(raw), [
    'Content-Type',
    'text/plain',
    'Set-Cookie',
    'a=1',
    'X-Latin1',
    '\u00e9t\u00e9',
    'TE-Like',
    'v',
  ])
})

test('hop-by-hop request fields go whatever their case; names of the same length that differ stay', () => {
  const hop = [
    'CONNECTION',
    'keep-ALIVE',
    'Proxy-Authenticate',
    'proxy-authorization',
    'TRAILERS',
    'Transfer-encoding',
    'UPGRADE',
    'expect',
    'Proxy-Connection',
  ]
  const near = [
    'Connectiom',
    'Keep-Alivf',
    'Proxy-Authenticatf',
    'Proxy-Authorizatiom',
    'Trailerz',
    'Transfer-Encodinf',
    'Upgradf',
    'Expire',
    'Proxy-Connectiom',
    'Tf',
    'Hosz',
  ]
  const raw: string[] = ['HOST', 'a.test']
  for (const n of hop) raw.push(n, 'x')
  for (const n of near) raw.push(n, 'y')
  raw.push('te', 'gzip', 'Te', ' Trailers ')
  const out = outgoingRequestHeaders(raw, undefined)
  const names = out.filter((_, i) => i % 2 === 0)
  assert.deepEqual(names, ['HOST', ...near, 'Te'])
})

test('hop-by-hop response fields go whatever their case; names of the same length that differ stay', () => {
  const raw = [
    'CONNECTION',
    'close',
    'keep-ALIVE',
    'timeout=5',
    'transfer-ENCODING',
    'chunked',
    'PROXY-connection',
    'close',
    'Connectiom',
    'a',
    'Keep-Alivf',
    'b',
    'Transfer-Encodinf',
    'c',
    'Proxy-Connectiom',
    'd',
    'Upgrade',
    'e',
  ]
  const names = responseHeaderStrings(raw).filter((_, i) => i % 2 === 0)
  assert.deepEqual(names, [
    'Connectiom',
    'Keep-Alivf',
    'Transfer-Encodinf',
    'Proxy-Connectiom',
    'Upgrade',
  ])
})

test('backendRequestHeaders: the checked prefix follows the copied fields and stops at a Host override', () => {
  const raw = ['Host', 'a.test', 'Connection', 'keep-alive', 'X-A', '1', 'TE', 'gzip', 'X-B', '2']
  const run = (checked: number, host?: string, upgrade = false): [string[], number] => {
    const out: string[] = []
    const n = backendRequestHeaders(raw, checked, host, upgrade, out)
    return [out, n]
  }
  // every field checked: all that is copied stays checked (dropped ones do not break the run)
  assert.deepEqual(run(10), [['Host', 'a.test', 'X-A', '1', 'X-B', '2'], 6])
  // the prefix ends before X-B
  assert.deepEqual(run(8)[1], 4)
  assert.deepEqual(run(2)[1], 2)
  assert.deepEqual(run(0)[1], 0)
  // Host replaced: not checked, and nothing after it counts
  assert.deepEqual(run(10, 'b.test:80'), [['Host', 'b.test:80', 'X-A', '1', 'X-B', '2'], 0])
  // upgrade keeps Connection as "Upgrade": a copy of a checked field
  assert.deepEqual(run(10, undefined, true), [
    ['Host', 'a.test', 'Connection', 'Upgrade', 'X-A', '1', 'X-B', '2'],
    8,
  ])
  // Host added at the end for a request without one is past the prefix
  const out: string[] = []
  assert.equal(backendRequestHeaders(['X-A', '1'], 2, 'c.test', false, out), 2)
  assert.deepEqual(out, ['X-A', '1', 'Host', 'c.test'])
})
