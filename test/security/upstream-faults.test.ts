import assert from 'node:assert/strict'
import { connect as h2connect } from 'node:http2'
import { createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { get, rawExchange } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { type RunningBfe, requestRecorder, startBfe } from '../helpers/server.js'

/**
 * One raw backend whose answer depends on the request path: `/ok` answers 200 and keeps the
 * connection, the others inject one fault each. It counts connections and requests.
 */
interface FaultBackend {
  port: number
  /** Connections accepted. */
  conns: number
  /** Request lines received, in order. */
  lines: string[]
  /** Sockets open now. */
  open: Set<Socket>
  close(): Promise<void>
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'

function answer(s: Socket, path: string): void {
  switch (path) {
    case '/ok':
      s.write(OK)
      return
    case '/hang':
      return
    case '/reset':
      s.resetAndDestroy()
      return
    case '/close':
      s.destroy()
      return
    case '/truncate':
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this')
      return
    case '/garbage':
      s.end('\x00\x01garbage that is not http\r\n\r\n')
      return
    case '/status999':
      s.write('HTTP/1.1 999 Weird\r\nContent-Length: 2\r\n\r\nno')
      return
    case '/status099':
      s.write('HTTP/1.1 099 Weird\r\nContent-Length: 2\r\n\r\nno')
      return
    case '/continue':
      s.write('HTTP/1.1 100 Continue\r\n\r\n')
      setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal'), 20)
      return
    case '/304body':
      s.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 4\r\n\r\nbody')
      return
    case '/headclose':
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n')
      return
    default:
      s.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
  }
}

async function faultBackend(): Promise<FaultBackend> {
  const fb: FaultBackend = {
    port: 0,
    conns: 0,
    lines: [],
    open: new Set(),
    close: async () => {},
  }
  const server: Server = createServer((s) => {
    s.on('error', () => {})
    fb.conns++
    fb.open.add(s)
    s.on('close', () => fb.open.delete(s))
    let buf = ''
    /** Body bytes still to read before the request's answer (and its path). */
    let bodyLeft = 0
    let pending = ''
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1')
      for (;;) {
        if (bodyLeft > 0) {
          const n = Math.min(bodyLeft, buf.length)
          bodyLeft -= n
          buf = buf.slice(n)
          if (bodyLeft > 0) return
          answer(s, pending)
          if (s.destroyed) return
        }
        const end = buf.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = buf.slice(0, end)
        buf = buf.slice(end + 4)
        const line = head.split('\r\n', 1)[0] ?? ''
        fb.lines.push(line)
        const path = line.split(' ')[1] ?? ''
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head)
        bodyLeft = cl === null ? 0 : Number(cl[1])
        if (bodyLeft > 0) {
          pending = path
          continue
        }
        answer(s, path)
        if (s.destroyed) return
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  fb.port = (server.address() as AddressInfo).port
  fb.close = () =>
    new Promise<void>((r) => {
      for (const s of fb.open) s.destroy()
      server.close(() => r())
    })
  return fb
}

let fb: FaultBackend
let bfe: RunningBfe
const rec = requestRecorder()

before(async () => {
  fb = await faultBackend()
  bfe = await startBfe(
    simpleConf([fb.port], {
      server: ['Modules = mod_test_recorder'],
      clusterConf: {
        Version: 't',
        Config: { c: { BackendConf: { TimeoutResponseHeader: 500 } } },
      },
    }),
    [rec.module],
  )
})

after(async () => {
  await bfe.close()
  await fb.close()
})

function errCodeOf(uri: string): string | undefined {
  for (let i = rec.seen.length - 1; i >= 0; i--)
    if (rec.seen[i]!.uri === uri) return rec.seen[i]!.errCode
  return 'not seen'
}

async function faultThenGood(
  path: string,
): Promise<{ status: number; body: string; err: string | undefined }> {
  const r = await get(`${bfe.url}${path}`)
  const good = await get(`${bfe.url}/ok`)
  assert.equal(good.status, 200, `the request after ${path}`)
  assert.equal(good.body, 'ok')
  return { status: r.status, body: r.body, err: errCodeOf(path) }
}

for (const p of [
  '/hang',
  '/reset',
  '/close',
  '/truncate',
  '/garbage',
  '/status999',
  '/status099',
  '/continue',
  '/304body',
  '/headclose',
]) {
  test(`probe ${p}`, async () => {
    let r: unknown
    try {
      r = await faultThenGood(p)
    } catch (e) {
      r = String(e)
    }
    console.log(p, JSON.stringify(r), fb.conns, fb.open.size)
    const raw = await rawExchange(bfe.port, `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`, 1500)
    console.log('  raw', JSON.stringify(raw.data.slice(0, 200)), raw.closed)
  })
}
void h2connect

test('probe slow body', async () => {
  const b2 = await faultBackend()
  const bfe2 = await startBfe(
    simpleConf([b2.port], {
      clusterConf: { Version: 't', Config: { c: { ClusterBasic: { TimeoutReadClient: 300 } } } },
    }),
  )
  const t0 = Date.now()
  const r = await rawExchange(bfe2.port, 'POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789', 3000)
  console.log('slow', Date.now() - t0, JSON.stringify(r.data.slice(0, 120)), r.closed, b2.conns, b2.open.size)
  await new Promise((res) => setTimeout(res, 500))
  console.log('after', b2.conns, b2.open.size, b2.lines)
  await bfe2.close()
  await b2.close()
})
