import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request, rawExchange } from '../../helpers/client.js'
import { simpleConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, requestRecorder, startBfe, waitFor } from '../../helpers/server.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

const SHELLSHOCK = '() { :; }; /bin/cat /etc/passwd'
const WAF_CONF =
  '[Basic]\nProductRulePath = mod_waf/waf_rule.data\n\n[Log]\nLogPrefix = waf\nLogDir = ./log\nRotateWhen = NEXTHOUR\nBackUpCount = 24\n'

function rules(version: string, blockPath: string): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        { Cond: `req_path_prefix_in("${blockPath}", false)`, BlockRules: ['RuleBashCmd'] },
        { Cond: 'default_t()', CheckRules: ['RuleBashCmd'] },
      ],
    },
  })
}

describe('mod_waf', () => {
  let up: Upstream
  let bfe: RunningBfe
  const rec = requestRecorder()

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_waf', 'Modules = mod_test_recorder'],
        files: {
          'mod_waf/mod_waf.conf': WAF_CONF,
          'mod_waf/waf_rule.data': rules('v1', '/cgi-bin'),
        },
      }),
      [rec.module],
    )
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('blocks a Shellshock header with 403 and close, error WAF (HTTP/1.1)', async () => {
    const r = await rawExchange(
      bfe.port,
      `GET /cgi-bin/x HTTP/1.1\r\nHost: p.test\r\nUser-Agent: ${SHELLSHOCK}\r\n\r\n`,
    )
    assert.match(r.data, /^HTTP\/1\.1 403 /)
    assert.equal(r.closed, true)
    await waitFor(() => rec.seen.some((s) => s.uri === '/cgi-bin/x'))
    assert.equal(rec.seen.find((s) => s.uri === '/cgi-bin/x')?.errCode, 'WAF')
    assert.equal(up.seen.length, 0)
  })

  it('passes clean requests and check-only hits (HTTP/1.1)', async () => {
    assert.equal((await get(`${bfe.url}/cgi-bin/ok`)).status, 200)
    const r = await get(`${bfe.url}/other`, { headers: { referer: SHELLSHOCK } })
    assert.equal(r.status, 200)
  })

  it('blocks on HTTP/2 too', async () => {
    const r = await h2Request(bfe.tlsPort, '/cgi-bin/y', { headers: { cookie: SHELLSHOCK } })
    assert.equal(r.status, 403)
    const ok = await h2Request(bfe.tlsPort, '/cgi-bin/y')
    assert.equal(ok.status, 200)
  })

  it('counts at /monitor/mod_waf and writes every rule run to the WAF log', async () => {
    const m = await monitorGet(bfe.server.monitorPort, '/monitor/mod_waf')
    const c = JSON.parse(m.body).CounterData as Record<string, number>
    assert.equal(c['HIT_BLOCKED_REQ'], 2)
    assert.equal(c['HIT_CHECKED_RULE'], 1)
    assert.equal(c['CHECKED_REQ'], 5)
    const log = join(bfe.confRoot, 'log', 'waf.log')
    await waitFor(
      () => {
        try {
          return readFileSync(log, 'utf8').split('\n').length > 5
        } catch {
          return false
        }
      },
      3000,
      'the WAF log',
    )
    const lines = readFileSync(log, 'utf8').trim().split('\n')
    assert.equal(lines.length, 5)
    const first = lines[0] as string
    assert.match(first, /^\[\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\] \[INFO\] \{/)
    const job = JSON.parse(first.slice(first.indexOf('{')))
    assert.equal(job.Rule, 'RuleBashCmd')
    assert.equal(job.Type, 'Block')
    assert.equal(job.Hit, true)
    assert.equal(job.RuleRequest.Uri, '/cgi-bin/x')
    assert.deepEqual(job.RuleRequest.Headers['User-Agent'], [SHELLSHOCK])
  })

  it('reloads a good file and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_waf', 'waf_rule.data')
    writeFileSync(file, rules('v2', '/other'))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_waf')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'waf_rule.data=v2' })
    const h = { headers: { referer: SHELLSHOCK } }
    assert.equal((await get(`${bfe.url}/other`, h)).status, 403)
    assert.equal((await get(`${bfe.url}/cgi-bin/x`, h)).status, 200)

    writeFileSync(
      file,
      JSON.stringify({
        Version: 'v3',
        Config: { p: [{ Cond: 'default_t()', BlockRules: ['RuleXss'] }] },
      }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_waf')
    assert.match(
      JSON.parse(bad.body).error,
      /waf_rule\.data.*\/Config\/p\/0\/BlockRules\/0 "RuleXss"/,
    )
    assert.equal((await get(`${bfe.url}/other`, h)).status, 403)
  })

  it('refuses to start with a bad condition or a bad [Log], naming file and field', async () => {
    const start = (data: string, conf = WAF_CONF) =>
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_waf'],
          files: { 'mod_waf/mod_waf.conf': conf, 'mod_waf/waf_rule.data': data },
        }),
      )
    await assert.rejects(
      start(
        JSON.stringify({
          Version: '1',
          Config: { p: [{ Cond: 'req_host_in(', CheckRules: ['RuleBashCmd'] }] },
        }),
      ),
      /waf_rule\.data.*\/Config\/p\/0\/Cond/,
    )
    await assert.rejects(
      start(
        JSON.stringify({
          Version: '1',
          Config: { p: [{ Cond: 'default_t()', CheckRules: 'RuleBashCmd' }] },
        }),
      ),
      /waf_rule\.data.*\/Config\/p\/0\/CheckRules/,
    )
    await assert.rejects(
      start(
        rules('1', '/'),
        '[Basic]\n[Log]\nLogPrefix = waf\nLogDir = log\nRotateWhen = WEEKLY\nBackupCount = 2\n',
      ),
      /mod_waf\.conf.*\[Log\] RotateWhen "WEEKLY"/,
    )
  })
})
