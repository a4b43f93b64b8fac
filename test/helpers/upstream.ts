import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net'

export interface Upstream {
  port: number
  /** Requests seen, in order. */
  seen: { method: string; url: string; headers: IncomingMessage['headers']; rawHeaders: string[] }[]
  /** Distinct client sockets that sent requests (keep-alive reuse shows as 1). */
  sockets: Set<Socket>
  close(): Promise<void>
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse) => void

/**
 * A real HTTP upstream on 127.0.0.1, port 0. The default handler answers `ok <port>`.
 * `maxHeaderSize` raises node:http's 16 KiB header limit, for tests that must see (and count)
 * whatever oversized request a balancer forwards.
 */
export async function startUpstream(
  handler?: UpstreamHandler,
  opts: { maxHeaderSize?: number } = {},
): Promise<Upstream> {
  const seen: Upstream['seen'] = []
  const sockets = new Set<Socket>()
  let port = 0
  const server: Server = createServer(
    { maxHeaderSize: opts.maxHeaderSize ?? 16384 },
    (req, res) => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
      })
      sockets.add(req.socket)
      if (handler !== undefined) {
        handler(req, res)
        return
      }
      req.resume()
      const body = `ok ${port}`
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
      })
      res.end(body)
    },
  )
  server.on('clientError', (_err, socket) => socket.destroy())
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  port = (server.address() as AddressInfo).port
  return {
    port,
    seen,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

/** A raw TCP upstream: `onSocket` sees every accepted socket (for byte-level answers). */
export async function startRawUpstream(
  onSocket: (s: Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const open = new Set<Socket>()
  const server = createNetServer((s) => {
    s.on('error', () => {})
    open.add(s)
    s.on('close', () => open.delete(s))
    onSocket(s)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy()
        server.close(() => r())
      }),
  }
}

/**
 * Ports handed out by closedPort: below Linux's ephemeral range (32768 and up), where listen(0)
 * and outgoing connections take theirs, so a port handed out here is not taken by another test's
 * socket before the server under test binds it (the race a port from listen(0) had). Each test
 * process starts at a random place in the range; the port is checked free before it is returned.
 */
const FIXED_LOW = 20_000
const FIXED_HIGH = 32_000
let nextFixed = FIXED_LOW + Math.floor(Math.random() * (FIXED_HIGH - FIXED_LOW))

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createNetServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** A port on 127.0.0.1 where nothing listens (connections are refused), for a server to bind. */
export async function closedPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = nextFixed
    nextFixed = port + 1 >= FIXED_HIGH ? FIXED_LOW : port + 1
    if (await bindable(port)) return port
  }
  throw new Error(`no free port in ${FIXED_LOW}-${FIXED_HIGH} after 200 tries`)
}

/** Bytes of a request's header names and values as the upstream read them. */
export function headerBytes(r: { rawHeaders: readonly string[] }): number {
  let n = 0
  for (const h of r.rawHeaders) n += h.length
  return n
}
