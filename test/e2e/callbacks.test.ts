import assert from 'node:assert/strict'
import { after, before, beforeEach, test } from 'node:test'
import { CallbackPoint, HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule } from '../../src/module/types.js'
import { rawExchange } from '../helpers/client.js'
import { simpleConf, type TestConf } from '../helpers/conf.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import {
  type FilterCall,
  RawClient,
  type RawResponse,
  redirectTo,
  reqText,
  respond,
  TestModule,
  waitFor,
} from '../helpers/test-module.js'
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js'

const P = CallbackPoint
const R = HandlerResult

/** BFE 1.8's built-in module list, in BFE's order (lifecycle.md §7.2). */
const BFE_MODULES = [
  'mod_trust_clientip',
  'mod_logid',
  'mod_tcp_keepalive',
  'mod_userid',
  'mod_geo',
  'mod_tag',
  'mod_trace',
  'mod_cors',
  'mod_block',
  'mod_prison',
  'mod_auth_basic',
  'mod_auth_jwt',
  'mod_secure_link',
  'mod_waf',
  'mod_doh',
  'mod_redirect',
  'mod_static',
  'mod_rewrite',
  'mod_header',
  'mod_auth_request',
  'mod_errors',
  'mod_markdown',
  'mod_compress',
  'mod_key_log',
  'mod_http_code',
  'mod_access',
  'mod_wasm',
  'mod_unified_waf',
  'mod_ai_token_auth',
  'mod_ai_route',
  'mod_body_process',
  'mod_ai_rate_limit',
  'mod_access_pb3',
  'mod_session_sticky',
]

let up: Upstream
let deadPort: number
let bfe: RunningBfe
const mod = new TestModule({ filters: 2, tagResponses: true })
const open: RawClient[] = []

/**
 * Products: p.test → cluster c (the upstream); r.test → cluster mixed (a refused port first, then
 * the upstream); d.test → cluster dead (a refused port only). No default product.
 */
function conf(dead: number, upPort: number): TestConf {
  return {
    server: ['Modules = mod_test'],
    hostRule: {
      Version: 't',
      DefaultProduct: null,
      Hosts: { pTag: ['p.test'], rTag: ['r.test'], dTag: ['d.test'] },
      HostTags: { p: ['pTag'], r: ['rTag'], d: ['dTag'] },
    },
    routeRule: {
      Version: 't',
      ProductRule: {
        p: [{ Cond: 'default_t()', ClusterName: 'c' }],
        r: [{ Cond: 'default_t()', ClusterName: 'mixed' }],
        d: [{ Cond: 'default_t()', ClusterName: 'dead' }],
      },
    },
    clusterConf: { Version: 't', Config: { c: {}, mixed: {}, dead: {} } },
    clusterTable: {
      c: { 'c.a': [{ Port: upPort }] },
      mixed: { 'mixed.a': [{ Port: dead }, { Port: upPort }] },
      dead: { 'dead.a': [{ Port: dead }] },
    },
    gslb: { c: { 'c.a': 100 }, mixed: { 'mixed.a': 100 }, dead: { 'dead.a': 100 } },
  }
}

before(async () => {
  up = await startUpstream()
  deadPort = await closedPort()
  bfe = await startBfe(conf(deadPort, up.port), [mod])
})
after(async () => {
  for (const c of open) c.close()
  await bfe.close()
  await up.close()
})
beforeEach(() => {
  mod.reset()
  up.seen.length = 0
})

async function client(): Promise<RawClient> {
  const c = await RawClient.open(bfe.port)
  open.push(c)
  return c
}

/** One GET on a fresh connection; returns the client (still open if the server kept it). */
async function exchange(
  path = '/dir/sub/page',
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ c: RawClient; r: RawResponse }> {
  const c = await client()
  c.write(reqText(method, path, headers))
  const r = await c.response({ head: method === 'HEAD' })
  return { c, r }
}

/** Asserts the connection is still usable: a second request gets an answer and no close. */
async function assertKeptAlive(c: RawClient, path = '/again'): Promise<RawResponse> {
  assert.equal(c.closed, false, 'connection closed after the first response')
  c.write(reqText('GET', path))
  return c.response()
}

const requestPoints = [
  { point: P.BeforeLocation, name: 'HandleBeforeLocation' },
  { point: P.FoundProduct, name: 'HandleFoundProduct' },
  { point: P.AfterLocation, name: 'HandleAfterLocation' },
] as const

test('GoOn everywhere: every point runs once, in order, and the upstream answers', async () => {
  const { c, r } = await exchange()
  assert.equal(r.status, 200)
  assert.equal(r.body, `ok ${up.port}`)
  assert.equal(r.headers.get('x-mod-test-rr'), 'mod_test')
  await waitFor(() => mod.count(P.RequestFinish) === 1, 2000, 'HandleRequestFinish')
  c.close()
  await waitFor(() => mod.count(P.Finish) === 1, 2000, 'HandleFinish')
  assert.deepEqual(mod.trace(), [
    'HandleAccept',
    'HandleBeforeLocation',
    'HandleFoundProduct',
    'HandleAfterLocation',
    'HandleForward',
    'HandleReadResponse',
    'HandleRequestFinish',
    'HandleFinish',
  ])
  // both filters of each point ran, filter0 first
  for (const p of [P.Accept, P.BeforeLocation, P.ReadResponse, P.Finish]) {
    const at = mod.calls.filter((x) => x.point === p)
    assert.deepEqual(
      at.map((x) => x.filter),
      [0, 1],
    )
  }
  assert.equal(up.seen.length, 1)
})

for (const async of [false, true]) {
  const v = async ? ' (async filter)' : ''
  for (const { point, name } of requestPoints) {
    const later = [P.BeforeLocation, P.FoundProduct, P.AfterLocation, P.Forward].filter(
      (p) => p > point,
    )

    const notReached = () => {
      for (const p of later) assert.equal(mod.count(p), 0, `point ${p} ran after ${name} stopped`)
      assert.equal(mod.count(point, 1), 0, `second filter at ${name} ran`)
      assert.equal(mod.count(point), 1)
      assert.equal(up.seen.length, 0, 'the upstream saw the request')
    }

    test(`${name} Finish without a response → 403, Server: bfe, Connection: close, then close${v}`, async () => {
      mod.set(point, { code: R.Finish, async })
      const { c, r } = await exchange()
      assert.equal(r.status, 403)
      assert.equal(r.headers.get('server'), 'bfe')
      assert.equal(r.headers.get('connection'), 'close')
      assert.equal(r.body, '')
      assert.equal(r.headers.get('x-mod-test-rr'), undefined, 'HandleReadResponse ran')
      assert.ok(await c.waitClose(1000), 'connection not closed')
      await waitFor(() => mod.count(P.RequestFinish) === 1, 2000, 'HandleRequestFinish')
      assert.equal(mod.count(P.ReadResponse), 0)
      notReached()
    })

    test(`${name} Finish with a response → that response without HandleReadResponse, then close${v}`, async () => {
      mod.set(point, {
        code: R.Finish,
        async,
        act: respond(200, 'answered by module', ['X-From', 'mod']),
      })
      const { c, r } = await exchange()
      assert.equal(r.status, 200)
      assert.equal(r.body, 'answered by module')
      assert.equal(r.headers.get('x-from'), 'mod')
      assert.equal(r.headers.get('x-mod-test-rr'), undefined, 'HandleReadResponse ran')
      assert.ok(await c.waitClose(1000), 'connection not closed')
      await waitFor(() => mod.count(P.RequestFinish) === 1, 2000, 'HandleRequestFinish')
      assert.equal(mod.count(P.ReadResponse), 0)
      notReached()
    })

    test(`${name} Redirect → Location made absolute and cleaned, HTML body, keep-alive${v}`, async () => {
      mod.set(point, {
        code: R.Redirect,
        async,
        act: redirectTo('../other/./x//y?q=1', 302, ['X-Extra', 'e']),
      })
      const { c, r } = await exchange('/dir/sub/page')
      assert.equal(r.status, 302)
      assert.equal(r.headers.get('location'), '/dir/other/x/y?q=1')
      assert.equal(r.headers.get('server'), 'bfe')
      assert.equal(r.headers.get('x-extra'), 'e')
      assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8')
      assert.equal(r.body, '<a href="/dir/other/x/y?q=1">Found</a>.\n\n')
      assert.equal(r.headers.get('x-mod-test-rr'), undefined, 'HandleReadResponse ran')
      assert.notEqual(r.headers.get('connection'), 'close')
      const r2 = await assertKeptAlive(c, '/a/b')
      assert.equal(r2.status, 302)
      assert.equal(r2.headers.get('location'), '/other/x/y?q=1')
      await waitFor(() => mod.count(P.RequestFinish) === 2, 2000, 'HandleRequestFinish x2')
      assert.equal(mod.count(P.ReadResponse), 0)
      for (const p of later) assert.equal(mod.count(p), 0)
      assert.equal(up.seen.length, 0)
    })

    test(`${name} Response → HandleReadResponse runs on the module response, keep-alive${v}`, async () => {
      mod.set(point, { code: R.Response, async, act: respond(201, 'module says hi') })
      const { c, r } = await exchange()
      assert.equal(r.status, 201)
      assert.equal(r.body, 'module says hi')
      assert.equal(r.headers.get('x-mod-test-rr'), 'mod_test', 'HandleReadResponse did not run')
      assert.notEqual(r.headers.get('connection'), 'close')
      const rr = mod.callsAt(P.ReadResponse)
      assert.equal(rr.length, 1)
      assert.equal(rr[0]?.status, 201)
      const r2 = await assertKeptAlive(c)
      assert.equal(r2.status, 201)
      await waitFor(() => mod.count(P.RequestFinish) === 2, 2000, 'HandleRequestFinish x2')
      for (const p of later) assert.equal(mod.count(p), 0)
      assert.equal(up.seen.length, 0)
    })

    test(`${name} Close → connection closed with no bytes; HandleRequestFinish still runs${v}`, async () => {
      mod.set(point, { code: R.Close, async })
      const c = await client()
      c.write(reqText('GET', '/x'))
      assert.ok(await c.waitClose(1000), 'connection not closed')
      assert.equal(c.received, 0, `bytes received: ${c.pending()}`)
      await waitFor(() => mod.count(P.RequestFinish) === 1, 2000, 'HandleRequestFinish')
      assert.equal(mod.count(P.ReadResponse), 0)
      notReached()
    })
  }
}

test('Redirect: a URL with a scheme is used unchanged; HTML escaping in the body', async () => {
  mod.set(P.BeforeLocation, {
    code: R.Redirect,
    act: redirectTo('http://other.test/a/../b?x=<"&\'>', 301),
  })
  const { r } = await exchange('/p')
  assert.equal(r.status, 301)
  assert.equal(r.headers.get('location'), 'http://other.test/a/../b?x=<"&\'>')
  assert.equal(
    r.body,
    '<a href="http://other.test/a/../b?x=&lt;&#34;&amp;&#39;&gt;">Moved Permanently</a>.\n\n',
  )
})

test('Redirect: a trailing slash survives cleaning; relative URL from the root directory', async () => {
  mod.set(P.FoundProduct, { code: R.Redirect, act: redirectTo('x/./y/', 302) })
  const { r } = await exchange('/page')
  assert.equal(r.headers.get('location'), '/x/y/')
})

test('Redirect: no HTML body for a non-GET request', async () => {
  mod.set(P.BeforeLocation, { code: R.Redirect, act: redirectTo('/target', 307) })
  const c = await client()
  c.write(reqText('POST', '/form', { 'content-length': '0' }))
  const r = await c.response()
  assert.equal(r.status, 307)
  assert.equal(r.headers.get('location'), '/target')
  assert.equal(r.body, '')
  assert.notEqual(r.headers.get('content-type'), 'text/html; charset=utf-8')
})

for (const async of [false, true]) {
  const v = async ? ' (async filter)' : ''

  test(`HandleForward Finish → 500 through HandleReadResponse, then close${v}`, async () => {
    mod.set(P.Forward, { code: R.Finish, async })
    const { c, r } = await exchange()
    assert.equal(r.status, 500)
    assert.equal(r.headers.get('server'), 'bfe')
    assert.equal(r.headers.get('x-mod-test-rr'), 'mod_test', 'HandleReadResponse did not run')
    assert.equal(mod.callsAt(P.ReadResponse)[0]?.status, 500)
    assert.equal(mod.count(P.Forward, 1), 0)
    assert.ok(await c.waitClose(1000), 'connection not closed')
    assert.equal(up.seen.length, 0, 'the request was forwarded')
  })

  for (const code of [R.Redirect, R.Response, R.Close]) {
    test(`HandleForward code ${code} is ignored: the request is forwarded${v}`, async () => {
      mod.set(P.Forward, {
        code,
        async,
        act: (ctx) => {
          respond(299, 'no')(ctx)
          redirectTo('/no', 302)(ctx)
        },
      })
      const { c, r } = await exchange()
      assert.equal(r.status, 200)
      assert.equal(r.body, `ok ${up.port}`)
      assert.equal(up.seen.length, 1)
      assert.equal(mod.count(P.ReadResponse), 1)
      const r2 = await assertKeptAlive(c)
      assert.equal(r2.status, 200)
    })
  }

  test(`HandleForward runs again for each retry attempt${v}`, async () => {
    // A fresh server: smooth WRR starts with the first backend listed, the refused one.
    const m = new TestModule()
    if (async) m.set(P.Forward, { code: R.GoOn, async })
    const s = await startBfe(conf(deadPort, up.port), [m])
    try {
      const r = await rawExchange(s.port, reqText('GET', '/retry', { host: 'r.test' }), 1000)
      assert.match(r.data, /^HTTP\/1\.1 200 /)
      assert.ok(r.data.endsWith(`ok ${up.port}`), r.data)
      const calls = m.callsAt(P.Forward)
      assert.deepEqual(
        calls.map((x) => x.backendPort),
        [deadPort, up.port],
      )
      assert.equal(m.count(P.ReadResponse), 1)
    } finally {
      await s.close()
    }
  })

  test(`HandleReadResponse Finish → the response is sent, then close${v}`, async () => {
    mod.set(P.ReadResponse, { code: R.Finish, async })
    const { c, r } = await exchange()
    assert.equal(r.status, 200)
    assert.equal(r.body, `ok ${up.port}`)
    assert.equal(r.headers.get('x-mod-test-rr'), 'mod_test')
    assert.equal(mod.count(P.ReadResponse, 1), 0)
    assert.ok(await c.waitClose(1000), 'connection not closed')
  })

  // Regression: afterReadResponse() calls dropUpstream() before sendRedirect(); the abort
  // reaches the pipeline's upstreamError(), which must not destroy the client response
  // (pipeline.ts checks `discardBody` first).
  test(`HandleReadResponse Redirect → redirect instead of the backend response, keep-alive${v}`, async () => {
    mod.set(P.ReadResponse, { code: R.Redirect, async, act: redirectTo('elsewhere', 307) })
    const { c, r } = await exchange('/d/page')
    assert.equal(r.status, 307)
    assert.equal(r.headers.get('location'), '/d/elsewhere')
    assert.equal(r.headers.get('server'), 'bfe')
    assert.equal(r.body, '<a href="/d/elsewhere">Temporary Redirect</a>.\n\n')
    assert.equal(up.seen.length, 1, 'the backend was asked')
    assert.equal(mod.count(P.ReadResponse, 1), 0)
    const r2 = await assertKeptAlive(c)
    assert.equal(r2.status, 307)
  })

  for (const code of [R.Response, R.Close]) {
    test(`HandleReadResponse code ${code} is ignored: the response is sent, keep-alive${v}`, async () => {
      mod.set(P.ReadResponse, { code, async })
      const { c, r } = await exchange()
      assert.equal(r.status, 200)
      assert.equal(r.body, `ok ${up.port}`)
      assert.equal(mod.count(P.ReadResponse, 1), 0, 'the chain did not stop')
      const r2 = await assertKeptAlive(c)
      assert.equal(r2.body, `ok ${up.port}`)
    })
  }

  test(`HandleRequestFinish Finish → connection closed after the response${v}`, async () => {
    mod.set(P.RequestFinish, { code: R.Finish, async })
    const { c, r } = await exchange()
    assert.equal(r.status, 200)
    assert.equal(r.body, `ok ${up.port}`)
    assert.ok(await c.waitClose(1000), 'connection not closed')
    assert.equal(mod.count(P.RequestFinish, 1), 0)
  })

  for (const code of [R.Redirect, R.Response, R.Close]) {
    test(`HandleRequestFinish code ${code} is ignored: keep-alive${v}`, async () => {
      mod.set(P.RequestFinish, { code, async })
      const { c, r } = await exchange()
      assert.equal(r.status, 200)
      await waitFor(() => mod.count(P.RequestFinish) === 1)
      const r2 = await assertKeptAlive(c)
      assert.equal(r2.status, 200)
      assert.equal(c.closed, false)
    })
  }

  test(`HandleAccept Close drops the connection before any byte is read${v}`, async () => {
    mod.set(P.Accept, { code: R.Close, async })
    const got = await rawExchange(bfe.port, reqText('GET', '/x'), 1000)
    assert.equal(got.data, '')
    assert.equal(got.closed, true)
    assert.equal(up.seen.length, 0)
    assert.equal(mod.count(P.Accept, 1), 0)
    assert.equal(mod.count(P.BeforeLocation), 0)
  })

  for (const code of [R.Finish, R.Redirect, R.Response]) {
    test(`HandleAccept code ${code} only stops the accept chain${v}`, async () => {
      mod.set(P.Accept, { code, async })
      const { r } = await exchange()
      assert.equal(r.status, 200)
      assert.equal(r.body, `ok ${up.port}`)
      assert.equal(mod.count(P.Accept), 1)
      assert.equal(mod.count(P.Accept, 1), 0, 'the second accept filter ran')
      assert.equal(mod.count(P.BeforeLocation), 1)
    })
  }

  test(`HandleFinish fires once per connection${v}`, async () => {
    mod.set(P.Finish, { code: R.Close, async })
    const c = await client()
    for (let i = 0; i < 3; i++) {
      c.write(reqText('GET', `/k${i}`))
      const r = await c.response()
      assert.equal(r.status, 200)
    }
    assert.equal(mod.count(P.Finish), 0, 'HandleFinish ran before the connection ended')
    c.close()
    await waitFor(() => mod.count(P.Finish) === 1, 2000, 'HandleFinish')
    await waitFor(() => mod.count(P.RequestFinish) === 3, 2000, 'HandleRequestFinish x3')
    const c2 = await client()
    const c3 = await client()
    for (const x of [c2, c3]) {
      x.write(reqText('GET', '/z'))
      assert.equal((await x.response()).status, 200)
      x.close()
    }
    await waitFor(() => mod.count(P.Finish) === 3, 2000, 'HandleFinish x3')
    await new Promise((r) => setTimeout(r, 50))
    const finishes = mod.callsAt(P.Finish)
    assert.equal(finishes.length, 3)
    assert.equal(new Set(finishes.map((f) => f.session)).size, 3, 'one HandleFinish per session')
    // the filter's Close return value is ignored and the second finish filter still runs
    assert.equal(mod.count(P.Finish, 1), 3)
  })
}

test('an internal error response (no product) goes through HandleReadResponse, then close', async () => {
  const { c, r } = await exchange('/x', { host: 'unknown.test' })
  assert.equal(r.status, 500)
  assert.equal(r.headers.get('server'), 'bfe')
  assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8')
  assert.equal(r.headers.get('content-length'), '0')
  assert.equal(r.headers.get('x-mod-test-rr'), 'mod_test')
  assert.equal(mod.callsAt(P.ReadResponse)[0]?.status, 500)
  assert.equal(mod.count(P.FoundProduct), 0)
  assert.ok(await c.waitClose(1000))
})

test('a forwarding failure (refused backend) answers 502 through HandleReadResponse (D8)', async () => {
  const { r } = await exchange('/x', { host: 'd.test' })
  assert.equal(r.status, 502)
  assert.equal(r.headers.get('x-mod-test-rr'), 'mod_test')
  assert.equal(mod.callsAt(P.ReadResponse)[0]?.status, 502)
  assert.ok(mod.count(P.Forward) >= 1)
})

test('a filter that throws answers 500 and the server keeps serving', async () => {
  mod.set(P.FoundProduct, {
    act: () => {
      throw new Error('boom')
    },
  })
  const { r } = await exchange()
  assert.equal(r.status, 500)
  mod.reset()
  const { r: r2 } = await exchange()
  assert.equal(r2.status, 200)
})

test('filters of one point run in module order: built-ins, then user modules in the order given', async () => {
  const log: FilterCall[] = []
  const a = new TestModule({ name: 'mod_test_a', log })
  const b = new TestModule({ name: 'mod_test_b', log })
  const u = await startUpstream()
  // bfe.conf names a before b; the framework order is the order the modules were given: b, a
  const s = await startBfe(
    simpleConf([u.port], { server: ['Modules = mod_test_a', 'Modules = mod_test_b'] }),
    [b, a],
  )
  try {
    assert.deepEqual(s.server.framework.status().enabled, ['mod_test_b', 'mod_test_a'])
    const r = await rawExchange(s.port, reqText('GET', '/o', { connection: 'close' }))
    assert.match(r.data, /^HTTP\/1\.1 200 /)
    await waitFor(() => a.count(P.Finish) === 1)
    const perPoint = new Map<number, string[]>()
    for (const c of log) perPoint.set(c.point, [...(perPoint.get(c.point) ?? []), c.module])
    assert.equal(perPoint.size, 8)
    for (const [p, mods] of perPoint)
      assert.deepEqual(mods, ['mod_test_b', 'mod_test_a'], `point ${p}`)
    // the first module's non-GoOn stops the chain for the other module too
    log.length = 0
    b.set(P.BeforeLocation, { code: R.Response, act: respond(200, 'b answered') })
    const r2 = await rawExchange(s.port, reqText('GET', '/o', { connection: 'close' }))
    assert.match(r2.data, /b answered$/)
    assert.equal(b.count(P.BeforeLocation), 1)
    assert.equal(a.count(P.BeforeLocation), 0)
    assert.deepEqual(s.server.framework.handlerView()['2#HandleBeforeLocation'], [
      'mod_test_b.filter0',
      'mod_test_a.filter0',
    ])
  } finally {
    await s.close()
    await u.close()
  }
})

test('a filter of the wrong kind at a point rejects start-up naming the module and the point', async () => {
  const bad: BfeModule = {
    name: 'mod_bad',
    init({ callbacks: cbs }) {
      cbs.addRequestFilter(P.Forward as never, () => R.GoOn)
    },
  }
  await assert.rejects(
    startBfe(simpleConf([1], { server: ['Modules = mod_bad'] }), [bad]),
    (err: Error) => {
      assert.match(err.message, /mod_bad/)
      assert.match(err.message, /HandleForward/)
      return true
    },
  )
  const bad2: BfeModule = {
    name: 'mod_bad2',
    init({ callbacks: cbs }) {
      cbs.addAcceptFilter(P.ReadResponse as never, () => R.GoOn)
    },
  }
  await assert.rejects(
    startBfe(simpleConf([1], { server: ['Modules = mod_bad2'] }), [bad2]),
    /mod_bad2.*HandleReadResponse/,
  )
  const bad3: BfeModule = {
    name: 'mod_bad3',
    init({ callbacks: cbs }) {
      cbs.addFinishFilter(P.Finish, 'not a function' as never)
    },
  }
  await assert.rejects(
    startBfe(simpleConf([1], { server: ['Modules = mod_bad3'] }), [bad3]),
    /mod_bad3.*HandleFinish/,
  )
})

test('module_status and module_handlers data have BFE shapes', () => {
  const st = bfe.server.framework.status()
  assert.deepEqual(st, { available: [...BFE_MODULES, 'mod_test'], enabled: ['mod_test'] })
  const view = bfe.server.framework.handlerView()
  const names = ['mod_test.filter0', 'mod_test.filter1']
  assert.deepEqual(view, {
    '0#HandleAccept': names,
    '1#HandleHandshake': names,
    '2#HandleBeforeLocation': names,
    '3#HandleFoundProduct': names,
    '4#HandleAfterLocation': names,
    '5#HandleForward': names,
    '6#HandleReadResponse': names,
    '7#HandleRequestFinish': names,
    '8#HandleFinish': names,
  })
  assert.deepEqual(JSON.parse(JSON.stringify(st)), st)
})
