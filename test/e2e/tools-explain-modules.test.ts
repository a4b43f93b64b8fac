import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { get } from '../helpers/client.js'
import { simpleConf } from '../helpers/conf.js'
import { run } from '../helpers/exec.js'
import { MAIN } from '../helpers/process.js'
import { type RunningBfe, startBfe } from '../helpers/server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

/*
 * `bfe explain --json` with the request modules enabled (mod_block, mod_auth_basic, mod_cors,
 * mod_redirect, mod_static, mod_header, mod_rewrite): the module steps of each request, then the
 * same requests against a live server on the same configuration, whose echo backend answers with
 * the path and headers it received. What explain says (status, Location, backend path, headers
 * set) is what the server does.
 */

interface ModuleStep {
  step: string
  point?: string
  module?: string
  summary: string
  result?: string
  rules?: { index: number; cond?: string; matched: boolean | null }[]
  detail?: Record<string, unknown>
}

interface ExplainJson {
  product: string | null
  cluster: string | null
  backend: { name: string } | null
  error: { code: string } | null
  answeredBy: { module: string; point: string; result: string } | null
  steps: ModuleStep[]
}

const basic = (user: string, pw: string) =>
  `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`
const ANN_OK = basic('ann', 'larch-31')
const ANN_BAD = basic('ann', 'wrong')

const JS = 'console.log("explained")\n'

/** The requests, as lines of a `--requests` file and as what the live client sends. */
const REQS: { name: string; method: string; path: string; headers: Record<string, string> }[] = [
  { name: 'blocked', method: 'GET', path: '/admin/panel', headers: {} },
  { name: 'redirect', method: 'GET', path: '/old/page?x=1', headers: {} },
  { name: 'rewrite', method: 'GET', path: '/api/items?q=2', headers: {} },
  { name: 'static', method: 'GET', path: '/static/app.js', headers: {} },
  { name: 'static-missing', method: 'GET', path: '/static/none.js', headers: {} },
  { name: 'auth-none', method: 'GET', path: '/private/doc', headers: {} },
  { name: 'auth-bad', method: 'GET', path: '/private/doc', headers: { Authorization: ANN_BAD } },
  { name: 'auth-ok', method: 'GET', path: '/private/doc', headers: { Authorization: ANN_OK } },
  {
    name: 'preflight',
    method: 'OPTIONS',
    path: '/api/items',
    headers: { Origin: 'https://app.test', 'Access-Control-Request-Method': 'POST' },
  },
  { name: 'cors-simple', method: 'GET', path: '/plain', headers: { Origin: 'https://app.test' } },
]

describe('bfe explain with request modules', () => {
  let up: Upstream
  let bfe: RunningBfe
  let work: string
  const explained = new Map<string, ExplainJson>()

  before(async () => {
    up = await startUpstream((req, res) => {
      req.resume()
      const body = JSON.stringify({ url: req.url, explain: req.headers['x-explain'] ?? null })
      res.writeHead(200, { 'content-type': 'application/json', 'x-echo-url': req.url ?? '' })
      res.end(body)
    })
    work = mkdtempSync(join(tmpdir(), 'bfe-explain-mod-'))
    const docroot = join(work, 'www')
    mkdirSync(join(docroot, 'static'), { recursive: true })
    writeFileSync(join(docroot, 'static/app.js'), JS)
    const sha = `{SHA}${createHash('sha1').update('larch-31').digest('base64')}`
    const rules = (p: unknown[]) => JSON.stringify({ Version: 'e1', Config: { p } })
    bfe = await startBfe(
      simpleConf([up.port], {
        server: [
          'Modules = mod_block',
          'Modules = mod_auth_basic',
          'Modules = mod_cors',
          'Modules = mod_redirect',
          'Modules = mod_static',
          'Modules = mod_header',
          'Modules = mod_rewrite',
        ],
        files: {
          'mod_block/mod_block.conf':
            '[Basic]\nProductRulePath = mod_block/block_rules.data\nIPBlocklistPath = mod_block/ip_blocklist.data\n',
          'mod_block/ip_blocklist.data': '192.0.2.66\n',
          'mod_block/block_rules.data': rules([
            {
              Name: 'admin',
              Cond: 'req_path_prefix_in("/admin", false)',
              Action: { Cmd: 'CLOSE', Params: [] },
            },
          ]),
          'mod_auth_basic/mod_auth_basic.conf':
            '[Basic]\nDataPath = mod_auth_basic/auth_basic_rule.data\n',
          'mod_auth_basic/users': `ann:${sha}\n`,
          'mod_auth_basic/auth_basic_rule.data': rules([
            {
              Cond: 'req_path_prefix_in("/private/", false)',
              UserFile: 'mod_auth_basic/users',
              Realm: 'staff',
            },
          ]),
          'mod_cors/mod_cors.conf': '[Basic]\nDataPath = mod_cors/cors_rule.data\n',
          'mod_cors/cors_rule.data': rules([
            {
              Cond: 'default_t()',
              AccessControlAllowOrigins: ['https://app.test'],
              AccessControlAllowMethods: ['GET', 'POST'],
              AccessControlMaxAge: 600,
            },
          ]),
          'mod_redirect/mod_redirect.conf': '[Basic]\nDataPath = mod_redirect/redirect.data\n',
          'mod_redirect/redirect.data': rules([
            {
              Cond: 'req_path_prefix_in("/old/", false)',
              Actions: [{ Cmd: 'URL_SET', Params: ['https://new.test/landing'] }],
              Status: 301,
            },
          ]),
          'mod_static/mod_static.conf': '[Basic]\nDataPath = mod_static/static_rule.data\n',
          'mod_static/mime_type.data': JSON.stringify({
            Version: 'e1',
            Config: { '.js': 'text/javascript' },
          }),
          'mod_static/static_rule.data': rules([
            {
              Cond: 'req_path_prefix_in("/static/", false)',
              Action: { Cmd: 'BROWSE', Params: [docroot, ''] },
            },
          ]),
          'mod_header/mod_header.conf': '[Basic]\nDataPath = mod_header/header_rule.data\n',
          'mod_header/header_rule.data': rules([
            {
              Cond: 'default_t()',
              Actions: [
                { Cmd: 'REQ_HEADER_SET', Params: ['X-Explain', 'yes'] },
                { Cmd: 'RSP_HEADER_SET', Params: ['X-Served-By', 'bfe-ts'] },
              ],
              Last: false,
            },
          ]),
          'mod_rewrite/mod_rewrite.conf': '[Basic]\nDataPath = mod_rewrite/rewrite.data\n',
          'mod_rewrite/rewrite.data': rules([
            {
              Cond: 'req_path_prefix_in("/api/", false)',
              Actions: [
                { Cmd: 'PATH_PREFIX_TRIM', Params: ['/api'] },
                { Cmd: 'PATH_PREFIX_ADD', Params: ['/v1/'] },
              ],
              Last: true,
            },
          ]),
        },
      }),
    )
    const file = join(work, 'requests.txt')
    const line = (r: (typeof REQS)[number]) =>
      `${r.method} http://p.test${r.path}${Object.entries(r.headers)
        .map(([k, v]) => ` ${k}: ${v}`)
        .join('')}`
    writeFileSync(file, `${REQS.map(line).join('\n')}\n`)
    const out = await run(
      process.execPath,
      [MAIN, 'explain', '-c', bfe.confRoot, '--requests', file, '--json', '--cip', '127.0.0.1'],
      { timeoutMs: 60_000 },
    )
    assert.equal(out.code, 0, out.stderr)
    const lines = out.stdout.trim().split('\n')
    assert.equal(lines.length, REQS.length)
    for (let i = 0; i < REQS.length; i++)
      explained.set((REQS[i] as (typeof REQS)[number]).name, JSON.parse(lines[i] as string))
  })

  after(async () => {
    await bfe?.close()
    await up?.close()
    if (work !== undefined) rmSync(work, { recursive: true, force: true })
  })

  const ex = (name: string): ExplainJson => {
    const e = explained.get(name)
    assert.ok(e !== undefined, name)
    return e
  }
  const step = (e: ExplainJson, module: string, point: string): ModuleStep => {
    const s = e.steps.find((x) => x.step === 'module' && x.module === module && x.point === point)
    assert.ok(s !== undefined, `${module} at ${point}: ${JSON.stringify(e.steps)}`)
    return s
  }
  const live = (name: string) => {
    const r = REQS.find((x) => x.name === name)
    assert.ok(r !== undefined)
    return get(`${bfe.url}${r.path}`, {
      method: r.method,
      headers: { host: 'p.test', ...r.headers },
    })
  }

  test('blocked path: mod_block closes; the live server answers nothing', async () => {
    const e = ex('blocked')
    assert.deepEqual(e.answeredBy, {
      module: 'mod_block',
      point: 'HandleFoundProduct',
      result: 'Close',
    })
    const s = step(e, 'mod_block', 'HandleFoundProduct')
    assert.deepEqual(s.rules?.[0]?.matched, true)
    assert.equal(s.detail?.['rule'], 'admin')
    assert.equal(
      e.steps.some((x) => x.step === 'route'),
      false,
    )
    await assert.rejects(live('blocked'))
  })

  test('redirect: status and Location as explained', async () => {
    const e = ex('redirect')
    assert.equal(e.answeredBy?.module, 'mod_redirect')
    assert.equal(e.answeredBy?.result, 'Redirect')
    const s = step(e, 'mod_redirect', 'HandleFoundProduct')
    assert.equal(s.detail?.['status'], 301)
    assert.equal(s.detail?.['location'], 'https://new.test/landing')
    const r = await live('redirect')
    assert.equal(r.status, 301)
    assert.equal(r.headers['location'], 'https://new.test/landing')
  })

  test('rewrite and header: the backend sees the path and header explain gives', async () => {
    const e = ex('rewrite')
    assert.equal(e.answeredBy, null)
    assert.equal(e.error, null)
    assert.equal(e.cluster, 'c')
    const rw = step(e, 'mod_rewrite', 'HandleAfterLocation')
    const after = rw.detail?.['after'] as { uri: string }
    assert.equal(after.uri, '/v1/items?q=2')
    assert.match(rw.summary, /uri \/api\/items\?q=2 -> \/v1\/items\?q=2/)
    const h = step(e, 'mod_header', 'HandleAfterLocation')
    const set = h.detail?.['headers'] as Record<string, string[]>
    assert.deepEqual(set['X-Explain'], ['yes'])
    assert.deepEqual(set['X-Forwarded-For'], ['127.0.0.1'])
    const rsp = step(e, 'mod_header', 'HandleReadResponse')
    const rspSet = rsp.detail?.['responseHeaders'] as Record<string, string[]> | undefined
    assert.deepEqual(rspSet?.['X-Served-By'], ['bfe-ts'])
    // Steps come in the catalog's fixed order (BFE's), not bfe.conf's: mod_rewrite first.
    assert.ok(e.steps.indexOf(rw) < e.steps.indexOf(h))

    const r = await live('rewrite')
    assert.equal(r.status, 200)
    const body = JSON.parse(r.body) as { url: string; explain: string | null }
    assert.equal(body.url, after.uri)
    assert.equal(body.explain, 'yes')
    assert.equal(r.headers['x-served-by'], 'bfe-ts')
  })

  test('static file: which file is served, without opening it', async () => {
    const e = ex('static')
    assert.equal(e.answeredBy?.module, 'mod_static')
    const s = step(e, 'mod_static', 'HandleFoundProduct')
    assert.equal(s.detail?.['status'], 200)
    assert.match(String(s.detail?.['file']), /www\/static\/app\.js$/)
    const r = await live('static')
    assert.equal(r.status, 200)
    assert.equal(r.body, JS)

    const m = ex('static-missing')
    assert.equal(step(m, 'mod_static', 'HandleFoundProduct').detail?.['status'], 404)
    assert.equal((await live('static-missing')).status, 404)
  })

  test('auth: refused without and with a wrong password, accepted with the right one', async () => {
    for (const name of ['auth-none', 'auth-bad']) {
      const e = ex(name)
      assert.equal(e.answeredBy?.module, 'mod_auth_basic', name)
      const s = step(e, 'mod_auth_basic', 'HandleFoundProduct')
      assert.equal(s.detail?.['status'], 401)
      assert.equal(s.detail?.['accepted'], false)
      const r = await live(name)
      assert.equal(r.status, 401, name)
      assert.equal(r.headers['www-authenticate'], 'Basic realm="staff"')
    }
    const ok = ex('auth-ok')
    assert.equal(ok.answeredBy, null)
    const s = step(ok, 'mod_auth_basic', 'HandleFoundProduct')
    assert.equal(s.detail?.['accepted'], true)
    assert.equal(ok.backend?.name, 'b0')
    const r = await live('auth-ok')
    assert.equal(r.status, 200)
    assert.equal((JSON.parse(r.body) as { url: string }).url, '/private/doc')
  })

  test('CORS: preflight answered with the explained headers; simple request gets them too', async () => {
    const e = ex('preflight')
    assert.equal(e.answeredBy?.module, 'mod_cors')
    const s = step(e, 'mod_cors', 'HandleFoundProduct')
    assert.equal(s.detail?.['status'], 204)
    const h = s.detail?.['headers'] as Record<string, string>
    assert.equal(h['Access-Control-Allow-Origin'], 'https://app.test')
    assert.equal(h['Access-Control-Allow-Methods'], 'GET,POST')
    assert.equal(h['Access-Control-Max-Age'], '600')
    const r = await live('preflight')
    assert.equal(r.status, 204)
    assert.equal(r.headers['access-control-allow-origin'], h['Access-Control-Allow-Origin'])
    assert.equal(r.headers['access-control-allow-methods'], h['Access-Control-Allow-Methods'])
    assert.equal(r.headers['access-control-max-age'], h['Access-Control-Max-Age'])

    const c = ex('cors-simple')
    const rs = step(c, 'mod_cors', 'HandleReadResponse')
    const would = rs.detail?.['responseHeaders'] as Record<string, string>
    assert.equal(would['Access-Control-Allow-Origin'], 'https://app.test')
    const lr = await live('cors-simple')
    assert.equal(lr.status, 200)
    assert.equal(lr.headers['access-control-allow-origin'], 'https://app.test')
    assert.match(String(lr.headers['vary']), /Origin/)
  })

  test('a blocklisted client address is closed at HandleAccept', async () => {
    const out = await run(
      process.execPath,
      [MAIN, 'explain', '-c', bfe.confRoot, '--json', '--cip', '192.0.2.66', 'http://p.test/'],
      { timeoutMs: 60_000 },
    )
    assert.equal(out.code, 0, out.stderr)
    const e = JSON.parse(out.stdout) as ExplainJson
    assert.deepEqual(e.answeredBy, { module: 'mod_block', point: 'HandleAccept', result: 'Close' })
    assert.equal(e.product, null)
  })
})
