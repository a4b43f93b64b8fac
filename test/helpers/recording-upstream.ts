import { type AddressInfo, createServer, type Socket } from 'node:net'

/** One request as a recording upstream read it off the wire. */
export interface WireRequest {
  /** The head exactly as received, up to and including the empty line. */
  head: string
  /** Head lines after the request line, as received (name and value untouched). */
  lines: string[]
  /** The body, de-chunked when it came chunked. */
  body: string
  /** How the body was framed: `content-length`, `chunked`, or `none`. */
  framing: 'content-length' | 'chunked' | 'none'
}

/** A raw TCP upstream that records every byte and answers each complete request `200 ok`. */
export interface RecordingUpstream {
  port: number
  /** Bytes received, one string (latin1) per connection accepted since the last reset. */
  wire: string[]
  /** Complete requests, in order. */
  requests: WireRequest[]
  /** Connections accepted. */
  accepted(): number
  /** Every byte received on every connection. */
  bytes(): number
  /** Forgets what was recorded. */
  reset(): void
  close(): Promise<void>
}

/**
 * A net.Server upstream for framing tests: it parses what arrives just enough to answer each
 * request (Content-Length or chunked), and keeps the raw bytes for exact assertions.
 */
export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  // One record per connection; reset() forgets the records, not the connections.
  let conns: { data: string }[] = []
  const requests: WireRequest[] = []
  const open = new Set<Socket>()
  const server = createServer((s) => {
    s.on('error', () => {})
    open.add(s)
    s.on('close', () => open.delete(s))
    const rec = { data: '' }
    conns.push(rec)
    let pending = ''
    s.on('data', (c: Buffer) => {
      const text = c.toString('latin1')
      rec.data += text
      pending += text
      for (;;) {
        const r = parseOne(pending)
        if (r === undefined) break
        requests.push(r.req)
        pending = pending.slice(r.used)
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    get wire() {
      return conns.map((c) => c.data)
    },
    requests,
    accepted: () => conns.length,
    bytes: () => conns.reduce((n, c) => n + c.data.length, 0),
    reset() {
      conns = []
      requests.length = 0
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy()
        server.close(() => r())
      }),
  }
}

function parseOne(buf: string): { req: WireRequest; used: number } | undefined {
  const end = buf.indexOf('\r\n\r\n')
  if (end === -1) return undefined
  const head = buf.slice(0, end + 4)
  const lines = head.slice(0, end).split('\r\n').slice(1)
  let cl: number | undefined
  let chunked = false
  for (const l of lines) {
    const i = l.indexOf(':')
    const name = l.slice(0, i).toLowerCase()
    const value = l
      .slice(i + 1)
      .trim()
      .toLowerCase()
    if (name === 'content-length') cl = Number(value)
    if (name === 'transfer-encoding' && value === 'chunked') chunked = true
  }
  let p = end + 4
  if (chunked) {
    let body = ''
    for (;;) {
      const le = buf.indexOf('\r\n', p)
      if (le === -1) return undefined
      const size = Number.parseInt(buf.slice(p, le), 16)
      if (size === 0) {
        const te = buf.indexOf('\r\n', le + 2)
        if (te === -1) return undefined
        return { req: { head, lines, body, framing: 'chunked' }, used: te + 2 }
      }
      if (buf.length < le + 2 + size + 2) return undefined
      body += buf.slice(le + 2, le + 2 + size)
      p = le + 2 + size + 2
    }
  }
  if (cl !== undefined) {
    if (buf.length < p + cl) return undefined
    return {
      req: { head, lines, body: buf.slice(p, p + cl), framing: 'content-length' },
      used: p + cl,
    }
  }
  return { req: { head, lines, body: '', framing: 'none' }, used: p }
}
