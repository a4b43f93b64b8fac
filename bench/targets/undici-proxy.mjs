// Bare undici reverse proxy: the "what Node + undici cost without any proxy logic" reference.
//   node bench/targets/undici-proxy.mjs PORT UPSTREAM_HOST:PORT
// Same shape as the team baseline's `undici-stream`: one Pool, the upstream body is streamed
// straight into the client response by Pool.stream().
import http from 'node:http'
import { Pool } from 'undici'

const [port, upstream] = process.argv.slice(2)
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te'])
const pick = (h) => Object.fromEntries(Object.entries(h).filter(([k]) => !HOP.has(k)))
const pool = new Pool(`http://${upstream}`, { connections: 128, keepAliveTimeout: 300_000 })
const server = http.createServer((req, res) => {
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : req
  const opts = { path: req.url, method: req.method, headers: pick(req.headers), body }
  pool.stream(
    opts,
    ({ statusCode, headers }) => res.writeHead(statusCode, pick(headers)),
    (err) => {
      if (err && !res.headersSent) res.writeHead(502)
      if (err) res.end()
    },
  )
})
server.keepAliveTimeout = 300_000
server.listen(Number(port), '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
