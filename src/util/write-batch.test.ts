import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { holdsWrites, holdWrites, MAX_HELD, releaseWrites } from './write-batch.js'

let server: Server
let port = 0
const peers: Socket[] = []

before(async () => {
  server = createServer((s) => {
    s.on('error', () => {})
    peers.push(s)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  port = (server.address() as { port: number }).port
})

after(() => {
  for (const p of peers) p.destroy()
  server.close()
})

/** A connected client socket and the server side of it. */
async function pair(): Promise<{ client: Socket; peer: Socket }> {
  const n = peers.length
  const client = connect(port, '127.0.0.1')
  client.on('error', () => {})
  await once(client, 'connect')
  while (peers.length === n) await new Promise((r) => setImmediate(r))
  return { client, peer: peers[peers.length - 1] as Socket }
}

function collect(s: Socket): { text: () => string; reads: () => number } {
  let text = ''
  let reads = 0
  s.on('data', (c: Buffer) => {
    text += c.toString('latin1')
    reads++
  })
  return { text: () => text, reads: () => reads }
}

async function until(ok: () => boolean): Promise<void> {
  const end = Date.now() + 5000
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

test('held writes stay in the socket until the turn ends, then go out in order', async () => {
  const { client, peer } = await pair()
  const got = collect(peer)
  holdWrites(client)
  holdWrites(client) // twice in a turn: still one hold
  client.write('one ')
  client.write(Buffer.from('two '))
  client.write('three', 'latin1')
  assert.ok(holdsWrites(client))
  assert.equal(client.writableLength, 13, 'nothing handed to the kernel yet')
  await new Promise((r) => setImmediate(r))
  assert.equal(holdsWrites(client), false)
  assert.equal(client.writableLength, 0)
  await until(() => got.text() === 'one two three')
  // the next turn's writes are held again only when asked
  client.write('!')
  assert.equal(client.writableLength, 0, 'an unheld write goes out at once')
  await until(() => got.text() === 'one two three!')
  client.destroy()
})

test('releaseWrites sends what is held at once, before a write that should not wait', async () => {
  const { client, peer } = await pair()
  const got = collect(peer)
  holdWrites(client)
  client.write('head;')
  releaseWrites(client)
  assert.equal(holdsWrites(client), false)
  client.write(Buffer.alloc(20_000, 'b'))
  await until(() => got.text().length === 20_005)
  assert.ok(got.text().startsWith('head;bbb'))
  client.destroy()
})

test('end() while writes are held sends them before the FIN', async () => {
  const { client, peer } = await pair()
  const got = collect(peer)
  const ended = once(peer, 'end')
  holdWrites(client)
  client.write('last words')
  client.end()
  await ended
  assert.equal(got.text(), 'last words')
})

test('many sockets held in one turn are all sent by the one flush', async () => {
  const pairs = [await pair(), await pair(), await pair()]
  const gots = pairs.map((p) => collect(p.peer))
  pairs.forEach((p, i) => {
    holdWrites(p.client)
    p.client.write(`socket ${i}`)
  })
  assert.ok(pairs.every((p) => p.client.writableLength > 0))
  await new Promise((r) => setImmediate(r))
  assert.ok(pairs.every((p) => !holdsWrites(p.client)))
  await until(() => gots.every((g, i) => g.text() === `socket ${i}`))
  for (const p of pairs) p.client.destroy()
})

test('past MAX_HELD sockets in one turn, the full burst goes out at once', async () => {
  const pairs: { client: Socket; peer: Socket }[] = []
  for (let i = 0; i <= MAX_HELD; i++) pairs.push(await pair())
  for (const p of pairs.slice(0, MAX_HELD)) {
    holdWrites(p.client)
    p.client.write('x')
  }
  assert.ok(pairs.slice(0, MAX_HELD).every((p) => p.client.writableLength === 1))
  const last = pairs[MAX_HELD] as { client: Socket }
  holdWrites(last.client)
  last.client.write('y')
  // the first burst went out when the next socket was held; the last one waits for the turn's end
  assert.ok(
    pairs.slice(0, MAX_HELD).every((p) => p.client.writableLength === 0 && !holdsWrites(p.client)),
  )
  assert.equal(last.client.writableLength, 1)
  assert.ok(holdsWrites(last.client))
  await new Promise((r) => setImmediate(r))
  assert.equal(last.client.writableLength, 0)
  for (const p of pairs) p.client.destroy()
})
