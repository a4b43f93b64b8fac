/**
 * Test-only launcher of a multi-worker run (decisions.md D4), standing in for the CLI's primary:
 * `node dist/test/helpers/cluster-launcher.js <confRoot> <workers>`. The primary forks the
 * workers (BfeServer + the monitor's worker side, serveBfeWorker), opens the monitor port itself
 * (startClusterMonitor), waits until every worker answers RPC and prints one JSON line:
 * `{"httpPort":N,"monitorPort":N,"workers":N,"pids":[...]}`. SIGTERM stops everything.
 */
import cluster from 'node:cluster'
import { type AddressInfo, createServer } from 'node:net'
import { loadBfeConf } from '../../src/config/bfe-conf.js'
import { startClusterMonitor } from '../../src/monitor/primary.js'
import { serveBfeWorker } from '../../src/monitor/worker.js'
import { BfeServer } from '../../src/server/server.js'

const confRoot = process.argv[2] ?? ''
const workers = Number(process.argv[3] ?? '2')

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

async function primary(): Promise<void> {
  const conf = loadBfeConf(confRoot)
  const mon = await startClusterMonitor({ conf, port: 0, addr: '127.0.0.1' })
  const rpc = mon.rpc
  const httpPort = await freePort()
  const httpsPort = await freePort()
  const env = { BFE_TEST_HTTP_PORT: String(httpPort), BFE_TEST_HTTPS_PORT: String(httpsPort) }
  for (let i = 0; i < workers; i++) cluster.fork(env)
  // As the real primary: a worker that dies is replaced.
  let stopping = false
  cluster.on('exit', () => {
    if (!stopping) cluster.fork(env)
  })
  const deadline = Date.now() + 20_000
  while (rpc.workerIds().length < workers) {
    if (Date.now() > deadline) throw new Error('workers did not start')
    await new Promise((r) => setTimeout(r, 20))
  }
  const pids = Object.values(cluster.workers ?? {}).map((w) => w?.process.pid)
  process.stdout.write(`${JSON.stringify({ httpPort, monitorPort: mon.port, workers, pids })}\n`)
  process.on('SIGTERM', () => {
    stopping = true
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL')
    void mon.close().then(() => process.exit(0))
  })
}

async function worker(): Promise<void> {
  const server = await BfeServer.load({
    confRoot,
    httpPort: Number(process.env['BFE_TEST_HTTP_PORT']),
    httpAddr: '127.0.0.1',
    httpsPort: Number(process.env['BFE_TEST_HTTPS_PORT']),
    httpsAddr: '127.0.0.1',
    monitor: false,
  })
  await server.listen()
  serveBfeWorker(server)
}

;(cluster.isPrimary ? primary() : worker()).catch((err: unknown) => {
  process.stderr.write(`cluster-launcher: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exit(1)
})
