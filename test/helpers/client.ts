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
