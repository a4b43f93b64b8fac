/**
 * Evaluation cost of a compiled 10-clause condition on a prepared request.
 * Run: `npx tsc -p . && node dist/bench/micro/condition.bench.js`
 */
import { bench, do_not_optimize, run, summary } from 'mitata'
import { BfeRequest } from '../../src/basic/request.js'
import { Session } from '../../src/basic/session.js'
import { compileCondition } from '../../src/condition/index.js'

const TEN_CLAUSES = [
  'req_host_in("shop.test|www.shop.test|m.shop.test")',
  'req_path_prefix_in("/api/|/v2/api/", false)',
  'req_method_in("GET|POST|PUT")',
  'req_header_value_in("Accept", "application/json|text/html", true)',
  'req_cookie_key_in("sid|uid")',
  'req_cookie_value_prefix_in("uid", "u-", false)',
  'req_query_key_in("id|sku")',
  'req_query_value_in("lang", "en|fr|de", false)',
  'req_header_key_in("X-Request-Id")',
  '!req_path_suffix_in(".png|.jpg|.css", true)',
].join(' && ')

const { condition } = compileCondition(TEN_CLAUSES)

const session = new Session({ remoteAddr: '10.1.2.3', remotePort: 51000 })
const req = new BfeRequest(session, {
  method: 'GET',
  rawUri: '/api/items/42?id=42&lang=en&utm_source=x',
  proto: 'HTTP/1.1',
  headers: [
    'Host',
    'www.shop.test',
    'User-Agent',
    'Mozilla/5.0 (X11; Linux x86_64)',
    'Accept',
    'application/json',
    'Accept-Encoding',
    'gzip, br',
    'Cookie',
    'sid=abc123; uid=u-77; theme=dark',
    'X-Request-Id',
    'r-1',
  ],
})
if (!condition.test(req)) throw new Error('bench condition should be true on the prepared request')

const mixed = compileCondition(
  'req_host_suffix_in(".shop.test") && (req_path_regmatch(`^/api/items/\\d+$`) || req_method_in("DELETE"))',
).condition

summary(() => {
  bench('condition: 10 clauses, all true (full evaluation)', () =>
    do_not_optimize(condition.test(req)),
  )
  bench('condition: host suffix + regex', () => do_not_optimize(mixed.test(req)))
})

await run()
