#!/usr/bin/env node
// Starts two demo upstreams (127.0.0.1:8181 and :8182) and the balancer on conf/, so a first
// `curl -H 'Host: example.local' http://127.0.0.1:8080/` gets a proxied answer. Ctrl-C stops all.
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { ensureExampleCert } from './example-cert.mjs'

const cert = ensureExampleCert()
if (cert.made) console.log(`made a self-signed certificate for the HTTPS port: ${cert.crt}`)

for (const port of [8181, 8182]) {
  const srv = createServer((req, res) => {
    const body = `hello from demo upstream ${port}: ${req.method} ${req.url} (Host: ${req.headers.host ?? ''})\n`
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  srv.on('error', (err) => {
    console.error(`demo upstream ${port}: ${err.message}`)
    process.exit(1)
  })
  srv.listen(port, '127.0.0.1', () => console.log(`demo upstream listening on 127.0.0.1:${port}`))
}

const bfe = spawn(process.execPath, ['dist/src/main.js', '-c', 'conf', '-l', 'log', '-s'], {
  stdio: 'inherit',
})
bfe.on('exit', (code) => process.exit(code ?? 0))
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => bfe.kill('SIGTERM'))
console.log(
  'try: curl -i http://127.0.0.1:8080/   or   curl -ik --http2 https://localhost:8443/  (stop with Ctrl-C)',
)
