import assert from 'node:assert/strict'
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { Agent, request } from 'undici'
import { simpleConf } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'

/**
 * A backend that closes every connection it has left idle for `idleMs` after a response, without
 * saying so (no `Connection: close`, no `Keep-Alive` hint) unless `hint` is set. The close races
 * with requests already on their way: a request that arrives on a connection idle for `idleMs` or
 * more is not answered, the connection is closed (as when the backend's close and the request
 * cross on the wire; the backend never processed it).
 */
interface IdleCloser {
  port: number
  conns: number
  requests: number
  /** Requests that crossed the backend's close (not answered). */
  raced: number
  close(): Promise<void>
}

async function idleCloser(idleMs: number, hint?: string): Promise<IdleCloser> {
  const open = new Set<Socket>()
  const ic: IdleCloser = { port: 0, conns: 0, requests: 0, raced: 0, close: async () => {} }
  const server: Server = createServer((s) => {
    s.on('error', () => {})
    ic.conns++
    open.add(s)
    s.on('close', () => open.delete(s))
    let buf = ''
    let idle: NodeJS.Timeout | undefined
    let lastAnswer = 0
    s.on('data', (c: Buffer) => {
      if (idle !== undefined) clearTimeout(idle)
      if (lastAnswer !== 0 && Date.now() - lastAnswer >= idleMs) {
        ic.raced++
        s.destroy()
        return
      }
      buf += c.toString('latin1')
      for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
        buf = buf.slice(end + 4)
        ic.requests++
        const extra = hint === undefined ? '' : `Keep-Alive: ${hint}\r\n`
        s.write(`HTTP/1.1 200 OK\r\n${extra}Content-Length: 2\r\n\r\nok`)
        lastAnswer = Date.now()
      }
      // The close itself comes a little later than the deadline the backend applies.
      idle = setTimeout(() => s.destroy(), idleMs + 50)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  ic.port = (server.address() as AddressInfo).port
  ic.close = () =>
    new Promise<void>((r) => {
      for (const s of open) s.destroy()
      server.close(() => r())
    })
  return ic
}

let closer: IdleCloser
let hinted: IdleCloser
let bfe: RunningBfe
let hintedBfe: RunningBfe
const client = new Agent()

before(async () => {
  closer = await idleCloser(200)
  hinted = await idleCloser(3000, 'timeout=3')
  bfe = await startBfe(simpleConf([closer.port]))
  hintedBfe = await startBfe(simpleConf([hinted.port]))
})

after(async () => {
  await client.close()
  await bfe.close()
  await hintedBfe.close()
  await closer.close()
  await hinted.close()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function getStatus(url: string, method = 'GET'): Promise<number> {
  const r = await request(url, { method: method as 'GET', dispatcher: client })
  await r.body.text()
  return r.statusCode
}

test('60 GETs 170-230 ms apart, backend closing idle connections at 200 ms: no error (default settings)', async () => {
  const statuses: number[] = []
  for (let i = 0; i < 60; i++) {
    statuses.push(await getStatus(`${bfe.url}/r${i}`))
    await sleep(170 + ((i * 7) % 61))
  }
  const bad = statuses.filter((s) => s !== 200)
  assert.deepEqual(bad, [], `non-200 answers: ${bad.length}/60`)
  assert.equal(closer.requests, 60, 'each request answered once')
  // the race did happen (about half the requests land after the backend's idle deadline)
  assert.ok(closer.raced >= 10, `only ${closer.raced} requests crossed the close`)
})

test('the race is retried only for idempotent methods: a POST that crossed the close is not resent', async () => {
  const raced = closer.raced
  const answered = closer.requests
  let failed = 0
  for (let i = 0; i < 20; i++) {
    const s = await getStatus(`${bfe.url}/p${i}`, 'POST')
    assert.ok(s === 200 || s === 502, `status ${s}`)
    if (s === 502) failed++
    await sleep(195 + (i % 10))
  }
  const crossed = closer.raced - raced
  assert.ok(crossed >= 3, `only ${crossed} POSTs crossed the close`)
  // every POST that crossed the close failed: none was sent a second time
  assert.equal(failed, crossed)
  assert.equal(closer.requests - answered, 20 - crossed)
})

test('Keep-Alive: timeout= from the backend is honoured: idle connections retire before it', async () => {
  assert.equal(await getStatus(`${hintedBfe.url}/a`), 200)
  const conns = hinted.conns
  await sleep(50)
  assert.equal(await getStatus(`${hintedBfe.url}/b`), 200)
  assert.equal(hinted.conns, conns, 'a fresh idle connection was not reused')
  // timeout=3 s less undici's 2 s margin: the pool drops the connection after 1 s idle,
  // well before the backend closes it.
  await sleep(1300)
  assert.equal(await getStatus(`${hintedBfe.url}/c`), 200)
  assert.equal(hinted.conns, conns + 1, 'an idle connection was kept past the backend hint')
})
