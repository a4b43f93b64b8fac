// The ceiling of any Node proxy on this machine: a bare TCP relay. Each client connection gets
// one connection to the origin and bytes are copied both ways (pipe, with backpressure); no HTTP
// is parsed, so it cannot route, and keep-alive is the client's own. Whatever a Node HTTP proxy
// does per request comes on top of this.
//   node bench/targets/tcp-relay.mjs PORT UPSTREAM_HOST:PORT
import net from 'node:net'

const [port, upstream] = process.argv.slice(2)
const [host, upPort] = upstream.split(':')

net
  .createServer({ noDelay: true }, (client) => {
    const origin = net.connect({ host, port: Number(upPort), noDelay: true })
    const done = () => {
      client.destroy()
      origin.destroy()
    }
    client.on('error', done)
    origin.on('error', done)
    client.on('close', done)
    origin.on('close', done)
    client.pipe(origin)
    origin.pipe(client)
  })
  .listen(Number(port), '127.0.0.1')
