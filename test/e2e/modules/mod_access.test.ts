// biome-ignore-all lint/suspicious/noTemplateCurlyInString: BFE templates write ${Key}name in plain strings
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request, rawExchange } from '../../helpers/client.js'
import { simpleConf, writeConf } from '../../helpers/conf.js'
import { killAllBfe, spawnBfe } from '../../helpers/process.js'
import { type RunningBfe, startBfe } from '../../helpers/server.js'
import { closedPort, startUpstream, type Upstream } from '../../helpers/upstream.js'

/** Lines of `file` once `pred` holds for them (the log is written asynchronously). */
async function linesWhen(file: string, pred: (lines: string[]) => boolean): Promise<string[]> {
  let lines: string[] = []
  for (let i = 0; i < 300; i++) {
    lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(0, -1) : []
    if (pred(lines)) return lines
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.fail(`log ${file} never had the expected lines:\n${lines.join('\n')}`)
}

const REQ_T =
  'REQ $time ip=$remote_addr srv=$server_addr host=$host product=$product ua=${User-Agent}req_header ' +
  'status=$status_code err=$error line="$request_line" nth=$req_nth cluster=$cluster_name ' +
  'sid=${sid}req_cookie up=${X-Up}res_header body=$res_body_len len=$res_len conn=$connect_time'
const SES_T =
  'SES ip=$ses_clientip secure=$ses_is_secure n=$ses_keepalive_num read=$ses_read_total ' +
  'written=$ses_write_total err=$ses_error random=$ses_tls_client_random overhead=$ses_overhead'

function accessConf(template: string, extra = ''): string {
  return [
    '[Log]',
    'LogPrefix = access',
    'LogDir = logs',
    'RotateWhen = NEXTHOUR',
    'BackupCount = 2',
    '[Template]',
    `RequestTemplate = "${template.replaceAll('"', '\\"')}"`,
    `SessionTemplate = "${SES_T}"`,
    extra,
  ].join('\n')
}

describe('mod_access', () => {
  let up: Upstream
  let bfe: RunningBfe
  let log: string

  before(async () => {
    up = await startUpstream((req, res) => {
      res.setHeader('X-Up', 'yes')
      if (req.url?.startsWith('/chunked') === true) {
        // no Content-Length: a chunked body of 3 x 1000 bytes, in three writes
        res.write('a'.repeat(1000))
        setTimeout(() => {
          res.write('b'.repeat(1000))
          res.end('c'.repeat(1000))
        }, 20)
        return
      }
      res.end('hello')
    })
    const down = await closedPort()
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_access'],
        routeRule: {
          Version: 't',
          ProductRule: {
            p: [
              { Cond: 'req_host_in("down.test")', ClusterName: 'down' },
              { Cond: 'default_t()', ClusterName: 'c' },
            ],
          },
        },
        clusterConf: { Version: 't', Config: { c: {}, down: {} } },
        clusterTable: { c: { 'c.a': [{ Port: up.port }] }, down: { 'down.a': [{ Port: down }] } },
        gslb: { c: { 'c.a': 100 }, down: { 'down.a': 100 } },
        files: { 'mod_access/mod_access.conf': accessConf(REQ_T) },
      }),
    )
    // LogDir is relative to the configuration root.
    log = join(bfe.confRoot, 'logs', 'access.log')
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('writes a request line and a session line per HTTP/1.1 request and connection', async () => {
    // Two requests on one connection: the session line counts both.
    const head = (i: number, last: boolean): string =>
      `GET /a/b?q=${i} HTTP/1.1\r\nHost: shop.test\r\nUser-Agent: probe/7\r\nCookie: sid=s1\r\n` +
      `${last ? 'Connection: close\r\n' : ''}\r\n`
    const r = await rawExchange(bfe.port, head(0, false) + head(1, true))
    assert.equal(r.data.match(/hello/g)?.length, 2)
    const lines = await linesWhen(
      log,
      (l) =>
        l.filter((x) => x.includes('probe/7')).length === 2 &&
        l.some((x) => x.startsWith('SES') && x.includes(' n=2 ')),
    )
    const reqs = lines.filter((l) => l.includes('ua=probe/7'))
    assert.match(
      reqs[0] ?? '',
      new RegExp(
        `^REQ \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d ip=127\\.0\\.0\\.1 srv=127\\.0\\.0\\.1:${bfe.port} ` +
          'host=shop\\.test product=p ua=probe/7 status=200 err=- line="GET /a/b\\?q=0 HTTP/1\\.1" ' +
          'nth=1 cluster=c sid=s1 up=yes body=5 len=\\d+ conn=\\d+$',
      ),
    )
    assert.match(reqs[1] ?? '', /line="GET \/a\/b\?q=1 HTTP\/1\.1" nth=2 /)
    const ses = lines.find((l) => l.startsWith('SES') && l.includes(' n=2 ')) ?? ''
    assert.match(
      ses,
      /^SES ip=127\.0\.0\.1:\d+ secure=false n=2 read=\d+ written=\d+ err=- random=- overhead=\d+(\.\d+)?m?s$/,
    )
    const read = Number(/read=(\d+)/.exec(ses)?.[1])
    const written = Number(/written=(\d+)/.exec(ses)?.[1])
    assert.ok(read > 100 && written > 100, ses)
  })

  it('logs HTTP/2 requests and the TLS client random of the session', async () => {
    const r = await h2Request(bfe.tlsPort, '/h2?x=1', {
      authority: 'shop.test',
      headers: { 'user-agent': 'h2probe' },
    })
    assert.equal(r.status, 200)
    const lines = await linesWhen(
      log,
      (l) => l.some((x) => x.includes('ua=h2probe')) && l.some((x) => x.includes('secure=true')),
    )
    assert.match(
      lines.find((l) => l.includes('ua=h2probe')) ?? '',
      /status=200 err=- line="GET \/h2\?x=1 HTTP\/2\.0"/,
    )
    assert.match(lines.find((l) => l.includes('secure=true')) ?? '', /random=[0-9a-f]{64} /)
  })

  it('counts the body bytes written for a streamed response without Content-Length (HTTP/1.1 and HTTP/2), as BFE does', async () => {
    const r1 = await get(`${bfe.url}/chunked/h1`, {
      headers: { host: 'shop.test', 'user-agent': 'chunk1' },
    })
    assert.equal(r1.status, 200)
    assert.equal(r1.body.length, 3000)
    const r2 = await h2Request(bfe.tlsPort, '/chunked/h2', {
      authority: 'shop.test',
      headers: { 'user-agent': 'chunk2' },
    })
    assert.equal(r2.status, 200)
    assert.equal(r2.body.length, 3000)
    const head = await get(`${bfe.url}/h1-head`, {
      method: 'HEAD',
      headers: { host: 'shop.test', 'user-agent': 'headprobe' },
    })
    assert.equal(head.status, 200)
    const lines = await linesWhen(log, (l) =>
      ['ua=chunk1', 'ua=chunk2', 'ua=headprobe'].every((u) => l.some((x) => x.includes(u))),
    )
    const line = (ua: string): string => lines.find((l) => l.includes(`ua=${ua}`)) ?? ''
    assert.match(line('chunk1'), / body=3000 len=\d+ conn=\d+$/)
    assert.match(line('chunk2'), / body=3000 len=\d+ conn=\d+$/)
    // HEAD: the backend's Content-Length is sent, no body is
    assert.match(line('headprobe'), / body=0 len=\d+ conn=\d+$/)
    // HTTP/1.1: res_len is every byte of the response as written (head and body)
    const raw = await rawExchange(
      bfe.port,
      'GET /exact HTTP/1.1\r\nHost: shop.test\r\nUser-Agent: exactprobe\r\nConnection: close\r\n\r\n',
    )
    assert.match(raw.data, /hello$/)
    const exact = await linesWhen(log, (l) => l.some((x) => x.includes('ua=exactprobe')))
    const len = Number(
      / len=(\d+) /.exec(exact.find((l) => l.includes('ua=exactprobe')) ?? '')?.[1],
    )
    assert.equal(len, Buffer.byteLength(raw.data, 'latin1'))
  })

  it('logs a forwarding failure with its error code and message', async () => {
    const r = await get(`${bfe.url}/down`, {
      headers: { host: 'down.test', 'user-agent': 'downprobe' },
    })
    assert.equal(r.status, 502)
    const lines = await linesWhen(log, (l) => l.some((x) => x.includes('ua=downprobe')))
    assert.match(
      lines.find((l) => l.includes('ua=downprobe')) ?? '',
      /status=502 err=BK_CONNECT_BACKEND,\S.* cluster=down .* conn=-$/,
    )
  })

  it('writes received bytes as they came: a UTF-8 and a Latin-1 User-Agent', async () => {
    const send = (ua: Buffer): Promise<{ data: string }> =>
      rawExchange(
        bfe.port,
        Buffer.concat([
          Buffer.from('GET /bytes HTTP/1.1\r\nHost: shop.test\r\nUser-Agent: '),
          ua,
          Buffer.from('\r\nConnection: close\r\n\r\n'),
        ]),
      )
    const utf8 = Buffer.from('caf\u00e9-u8', 'utf8')
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2d, 0x6c, 0x31])
    assert.match((await send(utf8)).data, /hello/)
    assert.match((await send(latin1)).data, /hello/)
    const raw = (): Buffer => (existsSync(log) ? readFileSync(log) : Buffer.alloc(0))
    const has = (b: Buffer): boolean =>
      raw().includes(Buffer.concat([Buffer.from('ua='), b, Buffer.from(' ')]))
    for (let i = 0; i < 300 && !(has(utf8) && has(latin1)); i++)
      await new Promise((r) => setTimeout(r, 20))
    assert.ok(has(utf8), 'the UTF-8 bytes, unchanged')
    assert.ok(has(latin1), 'the Latin-1 byte, unchanged')
  })

  it('refuses to start with a bad template, naming the file and the key', async () => {
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_access'],
          files: { 'mod_access/mod_access.conf': accessConf('$host $ses_clientip') },
        }),
      ),
      /mod_access\.conf: Template\.RequestTemplate variable "\$ses_clientip" belongs to the session log/,
    )
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_access'],
          files: { 'mod_access/mod_access.conf': accessConf('$host ${Referer}') },
        }),
      ),
      /mod_access\.conf: Template\.RequestTemplate "}" at the end/,
    )
    await assert.rejects(
      startBfe(
        simpleConf([up.port], {
          server: ['Modules = mod_access'],
          files: {
            'mod_access/mod_access.conf': accessConf('COMMON').replace(
              'RotateWhen = NEXTHOUR',
              'RotateWhen = WEEKLY',
            ),
          },
        }),
      ),
      /mod_access\.conf: Log\.RotateWhen "WEEKLY" is not one of/,
    )
  })
})

describe('mod_access JSON lines and COMBINED', () => {
  let up: Upstream
  let bfe: RunningBfe
  let log: string

  before(async () => {
    up = await startUpstream()
    bfe = await startBfe(
      simpleConf([up.port], {
        server: ['Modules = mod_access'],
        files: {
          'mod_access/mod_access.conf': [
            '[Log]',
            'LogPrefix = json',
            'LogDir = jlogs',
            'RotateWhen = H',
            'BackupCount = 1',
            '[Template]',
            'RequestTemplate = COMBINED',
            'SessionTemplate = $ses_clientip $ses_keepalive_num $ses_is_secure',
            'Format = json',
          ].join('\n'),
        },
      }),
    )
    log = join(bfe.confRoot, 'jlogs', 'json.log')
  })
  after(async () => {
    await bfe.close()
    await up.close()
  })

  it('writes one JSON object per line, keyed by variable', async () => {
    await get(`${bfe.url}/j?a=b`, {
      headers: { host: 'j.test', 'user-agent': 'jp "1"', referer: 'http://r.test/' },
    })
    const lines = await linesWhen(log, (l) => l.length >= 2)
    const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    const req = objs.find((o) => 'request_line' in o)
    assert.ok(req)
    assert.equal(req['host'], 'j.test')
    assert.equal(req['request_line'], 'GET /j?a=b HTTP/1.1')
    assert.equal(req['status_code'], 200)
    assert.equal(typeof req['res_len'], 'number')
    assert.equal(req['req_header.User-Agent'], 'jp "1"')
    assert.equal(req['req_header.Referer'], 'http://r.test/')
    assert.match(String(req['request_time']), /^\[\d\d\/\w{3}\/\d{4}:/)
    const ses = objs.find((o) => 'ses_clientip' in o)
    assert.deepEqual(Object.keys(ses ?? {}), ['ses_clientip', 'ses_keepalive_num', 'ses_is_secure'])
    assert.equal(ses?.['ses_is_secure'], false)
    assert.equal(ses?.['ses_keepalive_num'], 1)
  })
})

describe('mod_access LogFile = /dev/stdout', () => {
  after(() => killAllBfe())

  it('writes the lines to the process output', async () => {
    const up = await startUpstream()
    const port = await closedPort()
    const httpsPort = await closedPort()
    const dir = writeConf(
      simpleConf([up.port], {
        server: [
          `HttpPort = ${port}`,
          `HttpsPort = ${httpsPort}`,
          'HttpAddr = 127.0.0.1',
          'HttpsAddr = 127.0.0.1',
          'Modules = mod_access',
        ],
        files: {
          'mod_access/mod_access.conf': [
            '[Log]',
            'LogFile = /dev/stdout',
            '[Template]',
            'RequestTemplate = "STDOUT-REQ $host $status_code"',
            'SessionTemplate = "STDOUT-SES $ses_keepalive_num"',
          ].join('\n'),
        },
      }),
    )
    try {
      const p = spawnBfe(['-c', dir.root, '-l', join(dir.root, 'log')])
      await p.waitForOutput(`listening on port ${port}`, 20_000)
      const r = await get(`http://127.0.0.1:${port}/`, { headers: { host: 'out.test' } })
      assert.equal(r.status, 200)
      await p.waitForOutput('STDOUT-REQ out.test 200')
      await p.waitForOutput('STDOUT-SES 1')
      p.signal('SIGTERM')
      await p.exited
    } finally {
      dir.cleanup()
      await up.close()
    }
  })
})
