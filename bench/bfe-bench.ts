// bfe-ts as the benchmark runs it: BFE's CLI with `mod_bench`, a module of five cheap filters,
// available to `Modules = mod_bench` (the "five-filter test module").
import { runCli } from '../src/cli.js'
import { CallbackPoint, HandlerResult } from '../src/module/callback-point.js'
import type { BfeModule } from '../src/module/types.js'

let served = 0

/** Five filters that each read something from the request or response, as real modules do. */
export const modBench: BfeModule = {
  name: 'mod_bench',
  init({ callbacks: cbs, web }) {
    cbs.addRequestFilter(CallbackPoint.BeforeLocation, function markStart(req) {
      return req.method.length > 0 ? HandlerResult.GoOn : HandlerResult.Close
    })
    cbs.addRequestFilter(CallbackPoint.FoundProduct, function blockList(req) {
      return req.headers.get('x-bench-block') === undefined
        ? HandlerResult.GoOn
        : HandlerResult.Close
    })
    cbs.addRequestFilter(CallbackPoint.AfterLocation, function addHeader(req) {
      req.headers.set('X-Bench-Cluster', req.clusterName)
      return HandlerResult.GoOn
    })
    cbs.addResponseFilter(CallbackPoint.ReadResponse, function tagResponse(_req, res) {
      res?.headers.add('X-Bench', '1')
      return HandlerResult.GoOn
    })
    cbs.addResponseFilter(CallbackPoint.RequestFinish, function count() {
      served++
      return HandlerResult.GoOn
    })
    web.registerMonitor('mod_bench', () => ({ served }))
  },
}

runCli(process.argv.slice(2), [modBench]).then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`bfe-bench: ${String(err)}\n`)
    process.exitCode = 1
  },
)
