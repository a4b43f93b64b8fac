import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { type ClientHello, type HelloPeek, isGrease, peekClientHello } from './client-hello.js'

const MAX = 16 * 1024

/**
 * Listens on 127.0.0.1:0, lets `start(port)` open a client, and collects what the client sends
 * until the parser says the hello is complete (or gives up). Returns the raw bytes.
 */
async function captureHello(start: (port: number) => () => void): Promise<Buffer> {
  let stop: (() => void) | undefined
  const server = createServer()
  server.on('error', () => {})
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ClientHello within 5 s')), 5000)
      server.on('connection', (sock: Socket) => {
        sock.on('error', () => {})
        let buf = Buffer.alloc(0)
        sock.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d])
          const r = peekClientHello(buf, MAX)
          if (r.kind === 'more') return
          clearTimeout(timer)
          sock.destroy()
          if (r.kind === 'hello') resolve(buf)
          else reject(new Error(`capture ended with ${JSON.stringify(r)}`))
        })
      })
      server.listen(0, '127.0.0.1', () => {
        stop = start((server.address() as AddressInfo).port)
      })
    })
  } finally {
    stop?.()
    await new Promise<void>((r) => server.close(() => r()))
  }
}

function nodeClientHello(opts: { servername: string; alpn: string[] }): Promise<Buffer> {
  return captureHello((port) => {
    const c = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: opts.servername,
      ALPNProtocols: opts.alpn,
      rejectUnauthorized: false,
    })
    c.on('error', () => {})
    return () => c.destroy()
  })
}

function opensslClientHello(args: string[]): Promise<Buffer> {
  return captureHello((port) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], {
      stdio: ['pipe', 'ignore', 'ignore'],
    })
    child.on('error', () => {})
    child.stdin.on('error', () => {})
    return () => child.kill()
  })
}

function expectHello(r: HelloPeek): ClientHello {
  if (r.kind !== 'hello') assert.fail(`expected a hello, got ${JSON.stringify(r)}`)
  return r.hello
}

const u16 = (v: number): Buffer => Buffer.from([v >> 8, v & 0xff])
const withLen16 = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b])
const withLen8 = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length]), b])
const u16s = (vs: number[]): Buffer => Buffer.concat(vs.map(u16))

function ext(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), withLen16(data)])
}

/** A ClientHello handshake message (header included) built field by field. */
function helloMessage(o: {
  version: number
  ciphers: number[]
  extensions?: Buffer[]
  sessionId?: Buffer
}): Buffer {
  const parts = [
    u16(o.version),
    Buffer.alloc(32, 7),
    withLen8(o.sessionId ?? Buffer.alloc(0)),
    withLen16(u16s(o.ciphers)),
    Buffer.from([1, 0]),
  ]
  if (o.extensions !== undefined) parts.push(withLen16(Buffer.concat(o.extensions)))
  const body = Buffer.concat(parts)
  return Buffer.concat([
    Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]),
    body,
  ])
}

/** Wraps a handshake message into TLS records of at most `size` bytes each. */
function records(msg: Buffer, size = 16384): Buffer {
  const out: Buffer[] = []
  for (let i = 0; i < msg.length; i += size) {
    const frag = msg.subarray(i, Math.min(msg.length, i + size))
    out.push(Buffer.from([0x16, 3, 1, frag.length >> 8, frag.length & 0xff]), frag)
  }
  return Buffer.concat(out)
}

/** The handshake message carried by a captured single-or-multi record stream. */
function unwrap(stream: Buffer): Buffer {
  const out: Buffer[] = []
  let off = 0
  while (off + 5 <= stream.length) {
    const len = stream.readUInt16BE(off + 3)
    out.push(stream.subarray(off + 5, off + 5 + len))
    off += 5 + len
  }
  return Buffer.concat(out)
}

/** Feeds `bytes` one byte at a time, as a caller concatenating reads would. */
function feedByteByByte(bytes: Buffer): { result: HelloPeek; at: number } {
  for (let n = 1; n <= bytes.length; n++) {
    const r = peekClientHello(bytes.subarray(0, n), MAX)
    if (r.kind !== 'more') return { result: r, at: n }
  }
  return { result: { kind: 'more' }, at: bytes.length }
}

const KINDS = new Set(['more', 'hello', 'not-tls', 'bad'])

describe('peekClientHello: real clients', () => {
  it('node:tls client: SNI lower-cased, ALPN, TLS 1.3 supported_versions, JA3 from the fields', async () => {
    const raw = await nodeClientHello({ servername: 'Www.Example.COM', alpn: ['h2', 'http/1.1'] })
    const h = expectHello(peekClientHello(raw, MAX))
    assert.equal(h.sni, 'www.example.com')
    assert.deepEqual(h.alpn, ['h2', 'http/1.1'])
    assert.equal(h.legacyVersion, 0x0303)
    assert.ok(h.supportedVersions.includes(0x0304), 'TLS 1.3 offered')
    assert.equal(h.sslv2, false)
    assert.ok(h.extensions.includes(0) && h.extensions.includes(16) && h.extensions.includes(43))
    assert.ok(h.groups.length > 0 && h.cipherSuites.length > 0)
    const expected = [
      h.legacyVersion,
      h.cipherSuites.filter((v) => !isGrease(v)).join('-'),
      h.extensions.filter((v) => !isGrease(v)).join('-'),
      h.groups.filter((v) => !isGrease(v)).join('-'),
      h.pointFormats.join('-'),
    ].join(',')
    assert.equal(h.ja3, expected)
    assert.equal(h.ja3Hash, createHash('md5').update(expected).digest('hex'))
    assert.match(h.ja3Hash, /^[0-9a-f]{32}$/)
  })

  it('openssl s_client -servername x -alpn h2,http/1.1', async () => {
    const raw = await opensslClientHello(['-servername', 'x', '-alpn', 'h2,http/1.1'])
    const h = expectHello(peekClientHello(raw, MAX))
    assert.equal(h.sni, 'x')
    assert.deepEqual(h.alpn, ['h2', 'http/1.1'])
    assert.ok(h.cipherSuites.includes(0x1301), 'TLS_AES_128_GCM_SHA256 offered')
    // Byte by byte, the answer is `more` until the very last byte, then the same hello.
    const fed = feedByteByByte(raw)
    assert.equal(fed.at, raw.length)
    assert.deepEqual(expectHello(fed.result), h)
  })

  it('openssl s_client without SNI, TLS 1.2 only: sni is empty', async () => {
    const raw = await opensslClientHello(['-noservername', '-tls1_2'])
    const h = expectHello(peekClientHello(raw, MAX))
    assert.equal(h.sni, '')
    assert.deepEqual(h.alpn, [])
    assert.equal(h.legacyVersion, 0x0303)
    assert.ok(!h.supportedVersions.includes(0x0304))
  })

  it('a real hello re-fragmented over many small records, delivered byte by byte', async () => {
    const raw = await nodeClientHello({ servername: 'frag.example', alpn: ['http/1.1'] })
    const whole = expectHello(peekClientHello(raw, MAX))
    for (const size of [1, 3, 7, 100]) {
      const stream = records(unwrap(raw), size)
      const fed = feedByteByByte(stream)
      assert.equal(fed.at, stream.length, `record size ${size}`)
      assert.deepEqual(expectHello(fed.result), whole)
    }
  })

  it('every truncation of a real hello is `more`, never a hello or a throw', async () => {
    const raw = await nodeClientHello({ servername: 'trunc.example', alpn: ['h2'] })
    for (let n = 0; n < raw.length; n++) {
      assert.deepEqual(peekClientHello(raw.subarray(0, n), MAX), { kind: 'more' }, `prefix ${n}`)
    }
  })

  it('bytes after the hello (pipelined data) are ignored', async () => {
    const raw = await nodeClientHello({ servername: 'a.example', alpn: ['h2'] })
    const h = expectHello(peekClientHello(Buffer.concat([raw, Buffer.from('trailing')]), MAX))
    assert.equal(h.sni, 'a.example')
  })
})

describe('peekClientHello: JA3', () => {
  it('matches the JA3 hash published for a Chrome-like hello, GREASE removed', () => {
    // Field values and hash from a captured Chrome hello (also a JA3 test vector in BFE's tests),
    // encoded here byte by byte with GREASE values 0xdada, 0xeaea, 0x2a2a present.
    const ciphers = [
      0xdada, 4865, 4866, 4867, 49195, 49199, 49196, 49200, 52393, 52392, 49171, 49172, 156, 157,
      47, 53,
    ]
    const extTypes = [
      0xeaea, 0, 23, 65281, 10, 11, 35, 16, 5, 13, 18, 51, 45, 43, 27, 17513, 0xdada, 21,
    ]
    const exts = extTypes.map((t) => {
      if (t === 0)
        return ext(
          0,
          withLen16(Buffer.concat([Buffer.from([0]), withLen16(Buffer.from('Ja3.Example.'))])),
        )
      if (t === 10) return ext(10, withLen16(u16s([0x2a2a, 29, 23, 24])))
      if (t === 11) return ext(11, withLen8(Buffer.from([0])))
      if (t === 16)
        return ext(
          16,
          withLen16(
            Buffer.concat([withLen8(Buffer.from('h2')), withLen8(Buffer.from('http/1.1'))]),
          ),
        )
      if (t === 43) return ext(43, withLen8(u16s([0x7a7a, 0x0304, 0x0303])))
      return ext(t, Buffer.alloc(t === 0xdada ? 1 : 0))
    })
    const msg = helloMessage({
      version: 771,
      ciphers,
      extensions: exts,
      sessionId: randomBytes(32),
    })
    const h = expectHello(peekClientHello(records(msg), MAX))
    assert.equal(
      h.ja3,
      '771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,' +
        '0-23-65281-10-11-35-16-5-13-18-51-45-43-27-17513-21,29-23-24,0',
    )
    assert.equal(h.ja3Hash, 'cd08e31494f9531f560d64c695473da9')
    assert.equal(h.sni, 'ja3.example')
    assert.deepEqual(h.alpn, ['h2', 'http/1.1'])
    assert.deepEqual(h.supportedVersions, [0x7a7a, 0x0304, 0x0303])
    assert.deepEqual(h.groups, [0x2a2a, 29, 23, 24])
    assert.equal(h.extensions.length, extTypes.length, 'GREASE kept in the field, dropped in JA3')
  })

  it('a TLS 1.0 hello with no extensions: empty JA3 fields stay as empty strings', () => {
    const msg = helloMessage({ version: 769, ciphers: [4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99] })
    const h = expectHello(peekClientHello(records(msg), MAX))
    assert.equal(h.ja3, '769,4-5-10-9-100-98-3-6-19-18-99,,,')
    assert.equal(h.ja3Hash, 'de350869b8c85de67a350c8d186f11e6')
  })

  it('isGrease: exactly the 16 RFC 8701 values', () => {
    const all: number[] = []
    for (let v = 0; v <= 0xffff; v++) if (isGrease(v)) all.push(v)
    assert.equal(all.length, 16)
    assert.ok(all.every((v) => v >> 8 === (v & 0xff) && (v & 0x0f) === 0x0a))
  })
})

describe('peekClientHello: SSLv2-format hello', () => {
  function sslv2(o: {
    version: number
    specs: number[][]
    sid?: number
    challenge?: number
  }): Buffer {
    const specs = Buffer.from(o.specs.flat())
    const sid = Buffer.alloc(o.sid ?? 0, 1)
    const challenge = Buffer.alloc(o.challenge ?? 16, 2)
    const body = Buffer.concat([
      Buffer.from([1]),
      u16(o.version),
      u16(specs.length),
      u16(sid.length),
      u16(challenge.length),
      specs,
      sid,
      challenge,
    ])
    return Buffer.concat([Buffer.from([0x80 | (body.length >> 8), body.length & 0xff]), body])
  }

  it('parses version and the TLS suites among the cipher specs; no extensions', () => {
    const raw = sslv2({
      version: 0x0301,
      specs: [
        [0x07, 0x00, 0xc0], // SSL2_DES_192_EDE3_CBC_WITH_MD5: SSLv2-only, dropped
        [0x00, 0x00, 0x2f],
        [0x00, 0x00, 0x35],
        [0x00, 0x00, 0xff],
      ],
      sid: 16,
    })
    const fed = feedByteByByte(raw)
    assert.equal(fed.at, raw.length)
    const h = expectHello(fed.result)
    assert.equal(h.sslv2, true)
    assert.equal(h.legacyVersion, 0x0301)
    assert.deepEqual(h.cipherSuites, [0x2f, 0x35, 0xff])
    assert.deepEqual(h.extensions, [])
    assert.equal(h.sni, '')
    assert.equal(h.ja3, '769,47-53-255,,,')
  })

  it('rejects a pure SSLv2 version and broken spec lengths', () => {
    assert.equal(
      peekClientHello(sslv2({ version: 0x0002, specs: [[0, 0, 0x2f]] }), MAX).kind,
      'bad',
    )
    const broken = sslv2({ version: 0x0301, specs: [[0, 0, 0x2f]] })
    broken.writeUInt16BE(4, 5) // cipher spec length not a multiple of 3
    assert.equal(peekClientHello(broken, MAX).kind, 'bad')
    assert.equal(
      peekClientHello(sslv2({ version: 0x0301, specs: [[0, 0, 0x2f]], sid: 5 }), MAX).kind,
      'bad',
    )
  })
})

describe('peekClientHello: not TLS, malformed, limits', () => {
  it('plaintext HTTP is not-tls from its first byte', () => {
    assert.deepEqual(peekClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), MAX), {
      kind: 'not-tls',
    })
    assert.deepEqual(peekClientHello(Buffer.from('G'), MAX), { kind: 'not-tls' })
    assert.deepEqual(peekClientHello(Buffer.from('PRI * HTTP/2.0\r\n'), MAX), { kind: 'not-tls' })
    assert.deepEqual(peekClientHello(Buffer.alloc(0), MAX), { kind: 'more' })
  })

  it('a handshake message other than ClientHello is bad', () => {
    const msg = helloMessage({ version: 0x0303, ciphers: [0x1301] })
    msg[0] = 2 // ServerHello
    assert.equal(peekClientHello(records(msg), MAX).kind, 'bad')
  })

  it('a non-handshake record before the hello ends is bad', () => {
    const msg = helloMessage({ version: 0x0303, ciphers: [0x1301] })
    const first = records(msg.subarray(0, 10))
    const alert = Buffer.from([0x15, 3, 3, 0, 2, 2, 40])
    assert.equal(peekClientHello(Buffer.concat([first, alert]), MAX).kind, 'bad')
  })

  it('lying lengths give bad, never a read past the buffer', () => {
    const good = helloMessage({
      version: 0x0303,
      ciphers: [0x1301, 0x1302],
      extensions: [
        ext(0, withLen16(Buffer.concat([Buffer.from([0]), withLen16(Buffer.from('a.b'))]))),
      ],
    })
    assert.equal(expectHello(peekClientHello(records(good), MAX)).sni, 'a.b')
    // Offsets inside the body (after the 4-byte handshake header): cipher suites length at 4+2+32+1.
    const csAt = 4 + 2 + 32 + 1
    for (const lie of [0xffff, 3, 0, 6]) {
      const m = Buffer.from(good)
      m.writeUInt16BE(lie, csAt)
      const r = peekClientHello(records(m), MAX)
      assert.equal(r.kind, 'bad', `cipher suites length ${lie}`)
    }
    // Session id longer than 32.
    const sid = Buffer.from(good)
    sid[4 + 2 + 32] = 200
    assert.equal(peekClientHello(records(sid), MAX).kind, 'bad')
    // Extension list claims more than present; SNI name length lies.
    const extAt = csAt + 2 + 4 + 2
    const el = Buffer.from(good)
    el.writeUInt16BE(el.readUInt16BE(extAt) + 10, extAt)
    assert.equal(peekClientHello(records(el), MAX).kind, 'bad')
    const nl = Buffer.from(good)
    nl.writeUInt16BE(0x4000, nl.length - 5) // host_name length
    assert.equal(peekClientHello(records(nl), MAX).kind, 'bad')
    // The handshake header claims 16 MiB: over the cap, bad at once (not `more` forever).
    const huge = Buffer.from(good)
    huge.writeUIntBE(0xffffff, 1, 3)
    assert.equal(peekClientHello(records(huge), MAX).kind, 'bad')
    // The handshake header claims a bit less than present: parsed on the shorter body, which is bad.
    const short = Buffer.from(good)
    short.writeUIntBE(good.length - 4 - 3, 1, 3)
    assert.equal(peekClientHello(records(short), MAX).kind, 'bad')
  })

  it('record header problems: wrong version, zero length, oversized', () => {
    assert.equal(peekClientHello(Buffer.from([0x16, 0x07, 0x01, 0, 5]), MAX).kind, 'bad')
    assert.equal(peekClientHello(Buffer.from([0x16, 3, 1, 0, 0]), MAX).kind, 'bad')
    assert.equal(peekClientHello(Buffer.from([0x16, 3, 1, 0x40, 1]), 1 << 20).kind, 'bad')
  })

  it('maxBytes: a hello that needs more bytes than the cap is bad, even when incomplete', async () => {
    const raw = await nodeClientHello({ servername: 'cap.example', alpn: ['h2'] })
    assert.equal(peekClientHello(raw, raw.length).kind, 'hello')
    assert.equal(peekClientHello(raw, raw.length - 1).kind, 'bad')
    // Small records: the cap counts record headers too, and is hit before the data is complete.
    const many = records(unwrap(raw), 16)
    assert.equal(peekClientHello(many, many.length).kind, 'hello')
    const r = peekClientHello(many.subarray(0, 200), 150)
    assert.equal(r.kind, 'bad')
  })

  it('an invalid host_name (NUL byte, empty) is bad', () => {
    for (const name of [Buffer.from('a\0b'), Buffer.from('...'), Buffer.from('sp ace')]) {
      const m = helloMessage({
        version: 0x0303,
        ciphers: [0x1301],
        extensions: [ext(0, withLen16(Buffer.concat([Buffer.from([0]), withLen16(name)])))],
      })
      assert.equal(peekClientHello(records(m), MAX).kind, 'bad', JSON.stringify(name.toString()))
    }
  })

  it('duplicate extensions are bad', () => {
    const m = helloMessage({
      version: 0x0303,
      ciphers: [0x1301],
      extensions: [ext(23, Buffer.alloc(0)), ext(23, Buffer.alloc(0))],
    })
    assert.equal(peekClientHello(records(m), MAX).kind, 'bad')
  })

  it('fuzz: random and mutated inputs never throw and always give a known answer', async () => {
    const raw = await nodeClientHello({ servername: 'fuzz.example', alpn: ['h2', 'http/1.1'] })
    const counts = { more: 0, hello: 0, 'not-tls': 0, bad: 0 }
    let seed = 12345
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed % n
    }
    for (let i = 0; i < 3000; i++) {
      let input: Buffer
      if (i % 3 === 0) {
        input = randomBytes(rnd(600))
        if (i % 2 === 0 && input.length > 0) input[0] = 0x16
      } else {
        input = Buffer.from(raw)
        const flips = 1 + rnd(4)
        for (let f = 0; f < flips; f++) input[rnd(input.length)] = rnd(256)
        if (i % 5 === 0) input = input.subarray(0, rnd(input.length))
      }
      const r = peekClientHello(input, 4096)
      assert.ok(KINDS.has(r.kind))
      counts[r.kind]++
      if (r.kind === 'bad') assert.ok(r.reason.length > 0)
    }
    // The mutations hit every branch kind at least once.
    assert.ok(counts.hello > 0 && counts.bad > 0 && counts.more > 0 && counts['not-tls'] > 0)
  })
})
