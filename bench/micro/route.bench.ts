// Routing: product lookup (src/route/host-table.ts) among 10,000 hosts, cluster lookup
// (src/route/route-table.ts) through 1,000 advanced rules where the last one matches, and the
// time to load and compile those 1,000 rules (parseRouteRule + compileRouteRule + RouteTable).
import { bench, do_not_optimize, group, summary } from 'mitata'
import { BfeRequest } from '../../src/basic/request.js'
import { Session } from '../../src/basic/session.js'
import { parseHostRule } from '../../src/config/host-rule.js'
import { parseRouteRule } from '../../src/config/route-rule.js'
import { HostTable } from '../../src/route/host-table.js'
import { compileRouteRule } from '../../src/route/route-rule.js'
import { RouteTable } from '../../src/route/route-table.js'
import { cycle, runIfMain, timeIt } from './util.js'

// ---------------------------------------------------------------- host table: 10,000 hosts
// 1,000 products, each with 9 exact names and 1 wildcard (`*.pN.wild.test`).
const PRODUCTS = 1000
const hosts: Record<string, string[]> = {}
const hostTags: Record<string, string[]> = {}
for (let p = 0; p < PRODUCTS; p++) {
  const names = Array.from({ length: 9 }, (_, h) => `h${h}.p${p}.example.com`)
  names.push(`*.p${p}.wild.test`)
  hosts[`tag${p}`] = names
  hostTags[`product${p}`] = [`tag${p}`]
}
const hostRuleText = JSON.stringify({
  Version: 'bench',
  DefaultProduct: 'product0',
  Hosts: hosts,
  HostTags: hostTags,
})
const hostTable = new HostTable(parseHostRule('host_rule.data', hostRuleText), undefined)

const exactHosts = cycle(
  Array.from({ length: 256 }, (_, i) => `h${i % 9}.p${(i * 37) % PRODUCTS}.example.com`),
)
const exactWithPort = cycle(
  Array.from({ length: 256 }, (_, i) => `H${i % 9}.P${(i * 37) % PRODUCTS}.Example.com:8080`),
)
const wildHosts = cycle(
  Array.from({ length: 256 }, (_, i) => `a${i}.b.p${(i * 37) % PRODUCTS}.wild.test`),
)
const missHosts = cycle(Array.from({ length: 256 }, (_, i) => `x${i}.nowhere.example.org`))

group('product lookup, 10,000 hosts (1,000 wildcards)', () => {
  summary(() => {
    bench('exact host', () => do_not_optimize(hostTable.lookup(exactHosts(), undefined)))
    bench('exact host, mixed case + port', () =>
      do_not_optimize(hostTable.lookup(exactWithPort(), undefined)),
    )
    bench('wildcard host (2 extra labels)', () =>
      do_not_optimize(hostTable.lookup(wildHosts(), undefined)),
    )
    bench('no match -> DefaultProduct', () =>
      do_not_optimize(hostTable.lookup(missHosts(), undefined)),
    )
  })
})

// ---------------------------------------------------------------- route table: advanced rules
/** A non-matching condition for rule `i`, rotating over the common primitives. */
function cond(i: number): string {
  switch (i % 5) {
    case 0:
      return `req_host_in("h${i}.bench.test|g${i}.bench.test")`
    case 1:
      return `req_path_prefix_in("/p${i}/", false) && req_method_in("GET|HEAD")`
    case 2:
      return `req_header_value_in("X-Tenant", "t${i}", true)`
    case 3:
      return `req_query_value_in("tenant", "t${i}|u${i}", false)`
    default:
      return `req_cookie_value_in("uid", "u${i}", false) || req_path_in("/x${i}", true)`
  }
}
const MATCHING = 'req_host_in("www.bench.test") && req_path_prefix_in("/target/", false)'
function routeRuleText(n: number): string {
  const rules = Array.from({ length: n - 1 }, (_, i) => ({
    Cond: cond(i),
    ClusterName: `c${i % 10}`,
  }))
  rules.push({ Cond: MATCHING, ClusterName: 'target' })
  return JSON.stringify({ Version: 'bench', ProductRule: { bench: rules } })
}
const text1000 = routeRuleText(1000)
const text10 = routeRuleText(10)
/** route_rule.data text → compiled rules, as the server loads them. */
function routeRule(text: string) {
  return compileRouteRule('route_rule.data', parseRouteRule('route_rule.data', text))
}

const table1000 = new RouteTable(routeRule(text1000))
const table10 = new RouteTable(routeRule(text10))

const ses = new Session({ remoteAddr: '127.0.0.1', remotePort: 40000 })
// Cookie and query values are parsed once per request and cached on it, as in the server.
const req = new BfeRequest(ses, {
  method: 'GET',
  rawUri: '/target/items?id=7&tenant=zz',
  proto: 'HTTP/1.1',
  headers: ['Host', 'www.bench.test', 'Cookie', 'uid=abc; lang=en', 'X-Tenant', 'zz'],
})
if (table1000.lookup('bench', req) !== 'target' || table10.lookup('bench', req) !== 'target') {
  throw new Error('route bench: the last rule should match')
}

group('cluster lookup, advanced rules (last one matches)', () => {
  summary(() => {
    bench('10 rules', () => do_not_optimize(table10.lookup('bench', req)))
    bench('1,000 rules', () => do_not_optimize(table1000.lookup('bench', req)))
  })
})

// ---------------------------------------------------------------- load times (printed)
export function printLoadTimes(): void {
  const route = timeIt(() => {
    new RouteTable(routeRule(text1000))
  })
  const host = timeIt(() => {
    new HostTable(parseHostRule('host_rule.data', hostRuleText), undefined)
  })
  const f = (x: number): string => x.toFixed(2)
  console.log(
    `load + compile 1,000 advanced rules (parseRouteRule + compileRouteRule + RouteTable, ${(text1000.length / 1024).toFixed(0)} KB JSON): ` +
      `first (cold) ${f(route.first)} ms, then median ${f(route.median)} ms (min ${f(route.min)}, max ${f(route.max)}, 20 runs)`,
  )
  console.log(
    `load 10,000 hosts (parseHostRule + HostTable): first ${f(host.first)} ms, then median ` +
      `${f(host.median)} ms (min ${f(host.min)}, max ${f(host.max)}, 20 runs)\n`,
  )
}
printLoadTimes()

await runIfMain(import.meta.url)
