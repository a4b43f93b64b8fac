// Bare node:http2 + undici reverse proxy over TLS: the "what Node costs for HTTPS and HTTP/2
// without any proxy logic" reference.
//   node bench/targets/h2-undici-proxy.mjs TLS_PORT UPSTREAM_HOST:PORT CERT KEY
// One secure server that speaks h2 and HTTP/1.1 (ALPN), one undici Pool, upstream bodies streamed
// into the client response by Pool.stream(), connection-level headers dropped for HTTP/2.
import { readFileSync } from 'node:fs'
import http2 from 'node:http2'
import { Pool } from 'undici'

const [port, upstream, cert, key] = process.argv.slice(2)
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'host',
])
const pick = (h) =>
  Object.fromEntries(Object.entries(h).filter(([k]) => !HOP.has(k) && !k.startsWith(':')))
const pool = new Pool(`http://${upstream}`, { connections: 128, keepAliveTimeout: 300_000 })
const server = http2.createSecureServer(
  { cert: readFileSync(cert), key: readFileSync(key), allowHTTP1: true },
  (req, res) => {
    const body = req.method === 'GET' || req.method === 'HEAD' ? null : req
    const headers = { ...pick(req.headers), host: req.headers[':authority'] ?? req.headers.host }
    pool.stream(
      { path: req.url, method: req.method, headers, body },
      ({ statusCode, headers: h }) => {
        res.writeHead(statusCode, pick(h))
        return res
      },
      (err) => {
        if (err && !res.headersSent) res.writeHead(502)
        if (err) res.end()
      },
    )
  },
)
server.listen(Number(port), '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
