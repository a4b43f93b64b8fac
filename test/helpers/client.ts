import { connect as h2connect, type IncomingHttpHeaders } from 'node:http2'
import { connect, type Socket } from 'node:net'
import { Agent, request } from 'undici'

export interface SimpleResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** One request over a fresh connection (no keep-alive between calls). */
export async function get(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<SimpleResponse> {
  const agent = new Agent({ pipelining: 0 })
  try {
    const r = await request(url, {
      method: (opts.method ?? 'GET') as 'GET',
      headers: opts.headers ?? {},
      body: opts.body ?? null,
      dispatcher: agent,
    })
    const body = await r.body.text()
    return { status: r.statusCode, headers: r.headers, body }
  } finally {
    await agent.close()
  }
}

/**
 * Sends raw bytes on a new TCP connection and collects everything the server sends until it
 * closes the connection or `timeoutMs` passes. `closed` tells which happened.
 */
export function rawExchange(
  port: number,
  bytes: string | Buffer,
  timeoutMs = 2000,
): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const s: Socket = connect(port, '127.0.0.1')
    s.on('error', () => {})
    const t = setTimeout(() => {
      s.destroy()
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed: false })
    }, timeoutMs)
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('close', () => {
      clearTimeout(t)
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed: true })
    })
    s.write(bytes)
  })
}

export interface H2Response {
  status: number
  /** Response headers (names lower-case, pseudo-headers included). */
  headers: IncomingHttpHeaders
  body: Buffer
  /** The ALPN protocol the connection negotiated. */
  alpn: string
}

/**
 * One HTTP/2 request over a new TLS connection (certificate not verified), e.g. to a bfe-ts
 * HTTPS port. `headers` may include pseudo-headers (`:method`, `:authority`); rejects after
 * `timeoutMs`.
 */
export function h2Request(
  port: number,
  path: string,
  opts: {
    method?: string
    headers?: Record<string, string>
    body?: string | Buffer
    servername?: string
    authority?: string
    timeoutMs?: number
  } = {},
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const client = h2connect(`https://127.0.0.1:${port}`, {
      servername: opts.servername ?? 'localhost',
      rejectUnauthorized: false,
    })
    const timer = setTimeout(() => {
      client.destroy()
      reject(new Error('h2 request timed out'))
    }, opts.timeoutMs ?? 5000)
    client.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    const req = client.request({
      ':method': opts.method ?? 'GET',
      ':path': path,
      ':authority': opts.authority ?? 'localhost',
      ...opts.headers,
    })
    req.on('error', (err) => {
      clearTimeout(timer)
      client.destroy()
      reject(err)
    })
    let headers: IncomingHttpHeaders = {}
    req.on('response', (h) => {
      headers = h
    })
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      clearTimeout(timer)
      const alpn = client.alpnProtocol ?? ''
      client.close()
      resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks), alpn })
    })
    req.end(opts.body)
  })
}
