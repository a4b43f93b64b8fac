// The floor of a node:http + undici proxy: no routing, no modules, no header work beyond dropping
// hop-by-hop names, one Pool, and undici's lowest-level API (dispatch with a raw-header handler,
// the one bfe-ts uses). A proxy built on these two libraries cannot be cheaper per request than
// this; the gap between it and bfe-ts is what BFE's features cost.
//   node bench/targets/undici-dispatch.mjs PORT UPSTREAM_HOST:PORT
import http from 'node:http'
import { Pool } from 'undici'

const [port, upstream] = process.argv.slice(2)
const pool = new Pool(`http://${upstream}`, { connections: 128, keepAliveTimeout: 300_000 })
const hop = (name) => /^(connection|keep-alive|proxy-connection|transfer-encoding|te)$/i.test(name)

class Forward {
  constructor(res) {
    this.res = res
    this.abort = undefined
    this.resume = undefined
  }
  onConnect(abort) {
    this.abort = abort
  }
  onHeaders(status, raw, resume) {
    if (status < 200) return true
    const out = []
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i].toString('latin1')
      if (!hop(k)) out.push(k, raw[i + 1].toString('latin1'))
    }
    this.res.writeHead(status, out)
    this.resume = resume
    return true
  }
  onData(chunk) {
    const ok = this.res.write(chunk)
    if (!ok) this.res.once('drain', this.resume)
    return ok
  }
  onComplete() {
    this.res.end()
  }
  onError() {
    if (this.res.destroyed) return
    if (this.res.headersSent) this.res.destroy()
    else this.res.writeHead(502).end()
  }
}

const server = http.createServer((req, res) => {
  const headers = []
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) if (!hop(raw[i])) headers.push(raw[i], raw[i + 1])
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : req
  const fwd = new Forward(res)
  // A client that goes away mid-response must free the upstream connection.
  res.on('close', () => {
    if (!res.writableFinished) fwd.abort?.(new Error('client went away'))
  })
  pool.dispatch({ path: req.url, method: req.method, headers, body }, fwd)
})
server.keepAliveTimeout = 300_000
server.listen(Number(port), '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
