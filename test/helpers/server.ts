import { HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import { BfeServer } from '../../src/server/server.js'
import { type TestConf, writeConf } from './conf.js'

export interface RunningBfe {
  server: BfeServer
  port: number
  /** `http://127.0.0.1:<port>` */
  url: string
  /** The HTTPS port. */
  tlsPort: number
  confRoot: string
  close(): Promise<void>
}

/** Writes `conf` to a temp dir, loads it and listens on 127.0.0.1, port 0. */
export async function startBfe(conf: TestConf, modules: BfeModule[] = []): Promise<RunningBfe> {
  const dir = writeConf(conf)
  let server: BfeServer
  try {
    server = await BfeServer.load({
      confRoot: dir.root,
      modules,
      httpPort: 0,
      httpAddr: '127.0.0.1',
      httpsPort: 0,
      httpsAddr: '127.0.0.1',
      monitor: true,
      monitorPort: 0,
      monitorAddr: '127.0.0.1',
    })
  } catch (err) {
    dir.cleanup()
    throw err
  }
  const port = await server.listen()
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    tlsPort: server.httpsPort,
    confRoot: dir.root,
    async close() {
      await server.close()
      dir.cleanup()
    },
  }
}

/** What `requestRecorder` saw of one finished request. */
export interface RecordedRequest {
  uri: string
  errCode: string | undefined
  cluster: string
  subCluster: string
  backendPort: number
}

/**
 * A module (enable it with `Modules = <name>`) that records every request at
 * HandleRequestFinish: error code and the cluster / sub-cluster / backend it went to.
 */
export function requestRecorder(name = 'mod_test_recorder'): {
  module: BfeModule
  seen: RecordedRequest[]
} {
  const seen: RecordedRequest[] = []
  const module: BfeModule = {
    name,
    init({ callbacks: cb }) {
      cb.addResponseFilter(7, (req) => {
        seen.push({
          uri: req.rawUri,
          errCode: req.errCode,
          cluster: req.clusterName,
          subCluster: req.backend.subclusterName,
          backendPort: req.backend.backendPort,
        })
        return HandlerResult.GoOn
      })
    },
  }
  return { module, seen }
}

/** Polls `cond` every 10 ms until it is true; throws after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean,
  timeoutMs = 1000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
