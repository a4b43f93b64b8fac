import { connect as h2connect, type IncomingHttpHeaders } from 'node:http2'
import { connect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { rawExchange } from './client.js'

/** A PROXY protocol v1 line from `src` to `dst` (TCP6 when `src` is IPv6). */
export function ppLine(src: string, dst: string, srcPort = 40000, dstPort = 80): string {
  return `PROXY ${src.includes(':') ? 'TCP6' : 'TCP4'} ${src} ${dst} ${srcPort} ${dstPort}\r\n`
}

export interface PpResponse {
  /** The server closed the connection without sending a byte. */
  dropped: boolean
  status: number
  body: string
}

/**
 * One HTTP/1.1 request (`Connection: close`) behind a PROXY v1 header, as a layer-4 balancer in
 * front of the server would send it: the header's source is the client, its destination the VIP.
 */
export async function ppGet(
  port: number,
  src: string,
  dst: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<PpResponse> {
  const lines = [`GET ${path} HTTP/1.1`, 'Connection: close']
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'host')) lines.push('Host: p.test')
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`)
  const r = await rawExchange(port, `${ppLine(src, dst)}${lines.join('\r\n')}\r\n\r\n`, 4000)
  if (r.data === '') return { dropped: r.closed, status: 0, body: '' }
  const m = /^HTTP\/1\.1 (\d{3})/.exec(r.data)
  const at = r.data.indexOf('\r\n\r\n')
  return {
    dropped: false,
    status: Number(m?.[1] ?? 0),
    body: at === -1 ? '' : r.data.slice(at + 4),
  }
}

/** A TCP connection with a PROXY v1 header sent first; the caller ends it. */
export function ppConnect(port: number, src: string, dst: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    s.once('error', reject)
    s.once('connect', () => {
      s.write(ppLine(src, dst, 40000, 443))
      resolve(s)
    })
  })
}

/** One HTTP/2 request over TLS behind a PROXY v1 header (certificate not verified). */
export async function ppH2(
  tlsPort: number,
  src: string,
  dst: string,
  path: string,
  headers: Record<string, string> = {},
  authority = 'p.test',
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const raw = await ppConnect(tlsPort, src, dst)
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      socket: raw,
      servername: 'localhost',
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
    })
    tls.on('error', reject)
    const client = h2connect('https://localhost', { createConnection: () => tls })
    client.on('error', reject)
    const timer = setTimeout(() => {
      client.destroy()
      reject(new Error('h2 request timed out'))
    }, 5000)
    const req = client.request({ ':path': path, ':authority': authority, ...headers })
    req.on('error', (err) => {
      clearTimeout(timer)
      client.destroy()
      reject(err)
    })
    let h: IncomingHttpHeaders = {}
    req.on('response', (x) => {
      h = x
    })
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      clearTimeout(timer)
      client.close()
      resolve({ status: Number(h[':status']), headers: h, body: Buffer.concat(chunks).toString() })
    })
    req.end()
  })
}
