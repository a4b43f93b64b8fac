// node-http-proxy (npm `http-proxy`) with a keep-alive agent, as in the team baseline.
//   node bench/targets/http-proxy.mjs PORT UPSTREAM_HOST:PORT
import http from 'node:http'
import httpProxy from 'http-proxy'

const [port, upstream] = process.argv.slice(2)
const agent = new http.Agent({ keepAlive: true, maxSockets: 128, maxFreeSockets: 128 })
const proxy = httpProxy.createProxyServer({ target: `http://${upstream}`, agent, xfwd: false })
proxy.on('error', (_err, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502)
  res.end()
})
const server = http.createServer((req, res) => proxy.web(req, res))
server.keepAliveTimeout = 300_000
server.listen(Number(port), '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
