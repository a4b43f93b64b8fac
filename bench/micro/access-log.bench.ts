// mod_access: writing one request line into a log batch (the per-request cost of the access log),
// text and JSON.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: BFE templates write ${Key}name in plain strings
import { bench, do_not_optimize, group, summary } from 'mitata'
import { HeaderList } from '../../src/basic/header-list.js'
import { BfeRequest } from '../../src/basic/request.js'
import { BfeResponse } from '../../src/basic/response.js'
import { Session } from '../../src/basic/session.js'
import { COMBINED, compileRequestTemplate } from '../../src/modules/mod_access/template.js'
import { runIfMain } from './util.js'

const ses = new Session({ remoteAddr: '10.1.2.3', remotePort: 40000 })
ses.localAddr = '10.0.0.1:8080'
const req = new BfeRequest(ses, {
  method: 'GET',
  rawUri: '/api/v1/items?id=7',
  proto: 'HTTP/1.1',
  headers: ['Host', 'www.bench.test', 'User-Agent', 'wrk', 'Referer', 'http://r.test/'],
})
req.product = 'bench'
req.backend.clusterName = 'c1'
const res = new BfeResponse(
  200,
  new HeaderList(['Content-Length', '512', 'X-A', 'b']),
  undefined,
  false,
)
// The shape of BFE's shipped template.
const shipped =
  'REQUEST_LOG $time clientip: $remote_addr serverip: $server_addr host: $host product: $product ' +
  'user_agent: ${User-Agent}req_header status: $status_code error: $error'
const text = compileRequestTemplate(shipped, 'text')
const combined = compileRequestTemplate(COMBINED, 'text')
const json = compileRequestTemplate(COMBINED, 'json')
let now = Date.now()
const batch = Buffer.allocUnsafe(64 * 1024)

group('mod_access request line', () => {
  summary(() => {
    bench('BFE sample template (text)', () => do_not_optimize(text(batch, 0, req, res, now++)))
    bench('COMBINED (text)', () => do_not_optimize(combined(batch, 0, req, res, now++)))
    bench('COMBINED (json)', () => do_not_optimize(json(batch, 0, req, res, now++)))
  })
})

await runIfMain(import.meta.url)
