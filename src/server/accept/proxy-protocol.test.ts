import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeProxyHeader, type ProxyPeek, peekProxyHeader } from './proxy-protocol.js'

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

/** A version 2 header: `verCmd`, `fam`, payload (addresses + TLVs). */
function v2(verCmd: number, fam: number, payload: Buffer): Buffer {
  const len = Buffer.alloc(2)
  len.writeUInt16BE(payload.length)
  return Buffer.concat([SIG, Buffer.from([verCmd, fam]), len, payload])
}

function inet4(src: number[], dst: number[], sp: number, dp: number): Buffer {
  const b = Buffer.alloc(12)
  b.set(src, 0)
  b.set(dst, 4)
  b.writeUInt16BE(sp, 8)
  b.writeUInt16BE(dp, 10)
  return b
}

function ok(r: ProxyPeek) {
  assert.equal(r.kind, 'ok', JSON.stringify(r))
  if (r.kind !== 'ok') throw new Error('unreachable')
  return r.header
}

function badOf(r: ProxyPeek): string {
  assert.equal(r.kind, 'bad', JSON.stringify(r))
  return r.kind === 'bad' ? r.fault : ''
}

test('v1 TCP4: addresses, ports and the header length; the bytes after it are not part of it', () => {
  const line = 'PROXY TCP4 203.0.113.7 192.0.2.10 56324 443\r\n'
  const h = ok(peekProxyHeader(Buffer.from(`${line}GET / HTTP/1.1\r\n`), 2048))
  assert.deepEqual(h, {
    version: 1,
    length: line.length,
    hasAddresses: true,
    srcAddr: '203.0.113.7',
    srcPort: 56324,
    dstAddr: '192.0.2.10',
    dstPort: 443,
  })
})

test('v1 TCP6: addresses normalised (compressed, IPv4-mapped as IPv4)', () => {
  const h = ok(
    peekProxyHeader(Buffer.from('PROXY TCP6 2001:DB8:0:0::1 ::ffff:10.0.0.1 1 65535\r\n'), 2048),
  )
  assert.equal(h.srcAddr, '2001:db8::1')
  assert.equal(h.dstAddr, '10.0.0.1')
  assert.equal(h.dstPort, 65535)
})

test('v1 UNKNOWN keeps the real addresses, whatever follows it', () => {
  for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff:: ffff:: 1 2\r\n']) {
    const h = ok(peekProxyHeader(Buffer.from(line), 2048))
    assert.equal(h.hasAddresses, false)
    assert.equal(h.length, line.length)
  }
})

test('v1 malformed lines are invalid', () => {
  for (const line of [
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', // no CR
    'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', // 5 fields
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', // 7 fields
    'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n', // short IPv4
    'PROXY TCP4 ::1 5.6.7.8 1 2\r\n', // IPv6 under TCP4
    'PROXY TCP6 1.2.3.4 ::1 1 2\r\n', // IPv4 under TCP6
    'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', // port out of range
    'PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n', // sign
    'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', // double space
    'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', // not a v1 protocol
    'PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n',
  ]) {
    assert.equal(badOf(peekProxyHeader(Buffer.from(line), 2048)), 'invalid', line)
  }
})

test('v1 without a line end within 107 bytes is invalid; a lower MaxProxyHeaderBytes is a read error', () => {
  const long = Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)
  assert.equal(badOf(peekProxyHeader(long, 2048)), 'invalid')
  assert.equal(badOf(peekProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 '), 16)), 'read')
})

test('truncated headers ask for more bytes', () => {
  const line = Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.10 56324 443\r\n')
  const full = v2(0x21, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))
  for (const b of [line, full]) {
    for (let n = 1; n < b.length; n++) {
      assert.equal(peekProxyHeader(b.subarray(0, n), 2048).kind, 'more', `${n} bytes`)
    }
    assert.equal(peekProxyHeader(b, 2048).kind, 'ok')
  }
})

test('no signature: a plain connection (HTTP methods starting with P, TLS, a stray CR)', () => {
  for (const s of ['GET / HTTP/1.1\r\n', 'POST / HTTP/1.1\r\n', 'PUT /', 'PATCH /', '\r\nGET']) {
    assert.equal(peekProxyHeader(Buffer.from(s), 2048).kind, 'none', s)
  }
  assert.equal(peekProxyHeader(Buffer.from([0x16, 0x03, 0x01]), 2048).kind, 'none')
  assert.equal(peekProxyHeader(Buffer.from('PRO'), 2048).kind, 'more')
})

test('v2 PROXY over TCP/IPv4 with TLVs after the addresses', () => {
  const tlv = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32, 0x04, 0x00, 0x03, 0, 0, 0]) // ALPN, NOOP
  const b = v2(
    0x21,
    0x11,
    Buffer.concat([inet4([203, 0, 113, 7], [127, 0, 0, 2], 40000, 8443), tlv]),
  )
  const h = ok(peekProxyHeader(Buffer.concat([b, Buffer.from([0x16, 0x03])]), 2048))
  assert.deepEqual(h, {
    version: 2,
    length: b.length,
    hasAddresses: true,
    srcAddr: '203.0.113.7',
    srcPort: 40000,
    dstAddr: '127.0.0.2',
    dstPort: 8443,
  })
})

test('v2 PROXY over TCP/IPv6', () => {
  const p = Buffer.alloc(36)
  p.set([0x20, 0x01, 0x0d, 0xb8], 0)
  p[15] = 1
  p.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 9], 16)
  p.writeUInt16BE(1234, 32)
  p.writeUInt16BE(443, 34)
  const h = ok(peekProxyHeader(v2(0x21, 0x21, p), 2048))
  assert.equal(h.srcAddr, '2001:db8::1')
  assert.equal(h.dstAddr, '10.0.0.9')
  assert.equal(h.srcPort, 1234)
})

test('v2 LOCAL, UNSPEC and AF_UNIX carry no address; their payload is skipped', () => {
  const local = v2(0x20, 0x00, Buffer.alloc(0))
  assert.deepEqual(
    { ...ok(peekProxyHeader(local, 2048)) },
    {
      version: 2,
      length: 16,
      hasAddresses: false,
      srcAddr: '',
      srcPort: 0,
      dstAddr: '',
      dstPort: 0,
    },
  )
  // LOCAL with addresses (a health check that still fills them in): ignored, skipped
  const localAddr = v2(0x20, 0x11, inet4([1, 1, 1, 1], [2, 2, 2, 2], 1, 2))
  assert.equal(ok(peekProxyHeader(localAddr, 2048)).length, 28)
  assert.equal(ok(peekProxyHeader(localAddr, 2048)).hasAddresses, false)
  assert.equal(ok(peekProxyHeader(v2(0x21, 0x00, Buffer.alloc(5)), 2048)).hasAddresses, false)
  assert.equal(ok(peekProxyHeader(v2(0x21, 0x31, Buffer.alloc(216)), 2048)).hasAddresses, false)
})

test('v2 invalid: version, command, family, length short for the family', () => {
  const a = inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)
  assert.equal(badOf(peekProxyHeader(v2(0x11, 0x11, a), 2048)), 'invalid') // version 1 in v2
  assert.equal(badOf(peekProxyHeader(v2(0x22, 0x11, a), 2048)), 'invalid') // command 2
  assert.equal(badOf(peekProxyHeader(v2(0x21, 0x41, a), 2048)), 'invalid') // family 4
  assert.equal(badOf(peekProxyHeader(v2(0x21, 0x13, a), 2048)), 'invalid') // transport 3
  assert.equal(badOf(peekProxyHeader(v2(0x21, 0x11, a.subarray(0, 11)), 2048)), 'invalid')
  assert.equal(badOf(peekProxyHeader(v2(0x21, 0x21, a), 2048)), 'invalid') // 12 bytes for IPv6
})

test('v2 over MaxProxyHeaderBytes is refused from its fixed part, before the payload arrives', () => {
  const big = v2(
    0x21,
    0x11,
    Buffer.concat([inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), Buffer.alloc(3000)]),
  )
  assert.equal(badOf(peekProxyHeader(big.subarray(0, 16), 2048)), 'read')
  assert.equal(peekProxyHeader(big, 4096).kind, 'ok')
})

test('garbage after a v2 signature and random bytes never throw', () => {
  let seed = 7
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed & 0xff
  }
  for (let i = 0; i < 2000; i++) {
    const n = rnd() % 64
    const tail = Buffer.from(Array.from({ length: n }, rnd))
    const prefix = i % 3 === 0 ? SIG : i % 3 === 1 ? Buffer.from('PROXY ') : Buffer.alloc(0)
    const r = peekProxyHeader(Buffer.concat([prefix, tail]), 2048)
    assert.ok(['more', 'none', 'bad', 'ok'].includes(r.kind))
  }
})

test('encodeProxyHeader writes what the parser reads back (v1, v2, IPv4, IPv6, mixed)', () => {
  const cases = [
    [
      { addr: '203.0.113.7', port: 5 },
      { addr: '127.0.0.1', port: 8443 },
    ],
    [
      { addr: '2001:db8::7', port: 5 },
      { addr: '::1', port: 8443 },
    ],
  ] as const
  for (const version of [1, 2] as const) {
    for (const [src, dst] of cases) {
      const b = encodeProxyHeader(version, src, dst)
      assert.ok(b !== undefined)
      const h = ok(peekProxyHeader(b, 2048))
      assert.equal(h.version, version)
      assert.equal(h.length, b.length)
      assert.deepEqual(
        [h.srcAddr, h.srcPort, h.dstAddr, h.dstPort],
        [src.addr, src.port, dst.addr, dst.port],
      )
    }
  }
  // IPv4 client on an IPv6 VIP: TCP6 with the client IPv4-mapped (read back as IPv4)
  const mixed = encodeProxyHeader(
    1,
    { addr: '10.0.0.1', port: 1 },
    { addr: '2001:db8::1', port: 2 },
  )
  assert.equal(mixed?.toString(), 'PROXY TCP6 ::ffff:10.0.0.1 2001:db8::1 1 2\r\n')
  assert.equal(encodeProxyHeader(2, { addr: 'nope', port: 1 }, { addr: '::1', port: 2 }), undefined)
})
