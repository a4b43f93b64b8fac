// Running a list of request filters (src/module/handler-list.ts), the per-callback-point cost.
import { bench, do_not_optimize, group, summary } from 'mitata'
import { BfeRequest } from '../../src/basic/request.js'
import { Session } from '../../src/basic/session.js'
import { HandlerResult } from '../../src/module/callback-point.js'
import { runRequestFilters } from '../../src/module/handler-list.js'
import type { FilterReturn, RequestFilter } from '../../src/module/types.js'
import { runIfMain } from './util.js'

const ses = new Session({ remoteAddr: '127.0.0.1', remotePort: 40000 })
const req = new BfeRequest(ses, {
  method: 'GET',
  rawUri: '/api/v1/items?id=7',
  proto: 'HTTP/1.1',
  headers: ['Host', 'www.bench.test', 'User-Agent', 'wrk', 'Accept', '*/*'],
})

// Five cheap filters that read the request the way real modules do, then go on.
const five: RequestFilter[] = [
  (r) => (r.method === 'TRACE' ? HandlerResult.Finish : HandlerResult.GoOn),
  (r) => (r.path.startsWith('/admin') ? HandlerResult.Response : HandlerResult.GoOn),
  (r) => (r.rawQuery.length > 4096 ? HandlerResult.Response : HandlerResult.GoOn),
  (r) => (r.proto === 'HTTP/0.9' ? HandlerResult.Close : HandlerResult.GoOn),
  (r) => (r.retryTime > 100 ? HandlerResult.Finish : HandlerResult.GoOn),
]
const noop: RequestFilter = () => HandlerResult.GoOn
const fiveNoop: RequestFilter[] = [noop, noop, noop, noop, noop]
const asyncLast: RequestFilter[] = [
  ...five.slice(0, 4),
  (): FilterReturn => Promise.resolve(HandlerResult.GoOn),
]

group('request filter chain', () => {
  summary(() => {
    bench('0 filters', () => do_not_optimize(runRequestFilters([], req)))
    bench('5 sync filters (no-op)', () => do_not_optimize(runRequestFilters(fiveNoop, req)))
    bench('5 sync filters (reading req)', () => do_not_optimize(runRequestFilters(five, req)))
    bench('4 sync + 1 async filter (awaited)', async () =>
      do_not_optimize(await runRequestFilters(asyncLast, req)),
    )
  })
})

await runIfMain(import.meta.url)
