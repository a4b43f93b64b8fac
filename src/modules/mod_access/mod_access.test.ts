// biome-ignore-all lint/suspicious/noTemplateCurlyInString: BFE templates write ${Key}name in plain strings
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BfeConfError } from '../../basic/errors.js'
import { HeaderList } from '../../basic/header-list.js'
import { BfeRequest } from '../../basic/request.js'
import { BfeResponse } from '../../basic/response.js'
import { Session } from '../../basic/session.js'
import { compileAccessTemplates } from './index.js'
import {
  COMBINED,
  compileRequestTemplate,
  compileSessionTemplate,
  parseTemplate,
  requestLine,
  sessionLine,
  TemplateError,
} from './template.js'
import { clfTime, goDuration } from './vars.js'

function fixture(): { req: BfeRequest; res: BfeResponse; ses: Session } {
  const ses = new Session({ remoteAddr: '10.1.2.3', remotePort: 40001, startTime: 1_000 })
  ses.localAddr = '10.0.0.1'
  ses.localPort = 8080
  ses.reqNum = 2
  const req = new BfeRequest(ses, {
    method: 'GET',
    rawUri: '/a/b?x=1',
    proto: 'HTTP/1.1',
    headers: ['Host', 'shop.test', 'User-Agent', 'probe/1', 'Cookie', 'sid=abc; lang=en'],
  })
  req.product = 'shop'
  req.backend.clusterName = 'c1'
  req.backend.subclusterName = 'c1.a'
  req.backend.backendAddr = '10.9.9.9'
  req.backend.backendName = 'b0'
  req.logId = 'L42'
  req.stat.readStart = 10_000
  req.stat.readEnd = 10_002
  req.stat.backendFirst = 10_005
  req.stat.backendStart = 10_010
  req.stat.backendEnd = 10_030
  req.stat.responseStart = 10_030
  req.stat.responseEnd = 10_040
  // what the engine counted as written
  req.stat.bodyLenOut = 5
  const res = new BfeResponse(
    201,
    new HeaderList([
      'Content-Length',
      '5',
      'Set-Cookie',
      'a=1; Path=/',
      'Set-Cookie',
      'b=2',
      'X-Multi',
      'one',
      'X-Multi',
      'two',
    ]),
    undefined,
    false,
  )
  return { req, res, ses }
}

describe('mod_access templates', () => {
  it('parses text, $name and ${Key}name, taking the longest variable name', () => {
    assert.deepEqual(parseTemplate('a $res_len/${X-Y}req_header$time!'), [
      { type: 'text', text: 'a ' },
      { type: 'var', name: 'res_len', key: undefined },
      { type: 'text', text: '/' },
      { type: 'var', name: 'req_header', key: 'X-Y' },
      { type: 'var', name: 'time', key: undefined },
      { type: 'text', text: '!' },
    ])
    // `$res_body_len` is not `$res_` + text, and `$request_time` is not `$req...`.
    assert.deepEqual(
      parseTemplate('$res_body_len$request_time').map((i) => (i.type === 'var' ? i.name : '')),
      ['res_body_len', 'request_time'],
    )
  })

  it('refuses a trailing $, an unclosed ${, a } at the end and unknown variables', () => {
    assert.throws(() => parseTemplate('x $'), TemplateError)
    assert.throws(() => parseTemplate('x ${Host req_header'), /not closed/)
    assert.throws(() => parseTemplate('x ${Host}'), /must be followed/)
    assert.throws(() => parseTemplate('x $nope'), /unknown variable/)
  })

  it('refuses session variables in the request log and request variables in the session log', () => {
    assert.throws(() => compileRequestTemplate('$ses_clientip', 'text'), /session log/)
    assert.throws(() => compileSessionTemplate('$host', 'text'), /request log/)
    // `$time` belongs to both.
    compileRequestTemplate('$time', 'text')
    compileSessionTemplate('$time', 'text')
  })

  it('formats every request variable', () => {
    const { req, res } = fixture()
    const f = (t: string, r: BfeResponse | null = res): string =>
      requestLine(compileRequestTemplate(t, 'text'), req, r ?? undefined, 10_100)
        .toString()
        .slice(0, -1)
    assert.equal(f('$request_line'), 'GET /a/b?x=1 HTTP/1.1')
    assert.equal(f('$host $req_uri $url'), 'shop.test /a/b?x=1 /a/b?x=1')
    assert.equal(f('$status_code $res_proto'), '201 HTTP/1.1')
    assert.equal(f('$status_code $res_proto $res_len', null), '- - -')
    assert.equal(f('$res_body_len'), '5')
    // Head as written (status line, 5 header lines, blank line) plus the 5-byte body.
    assert.equal(f('$res_len'), '118')
    assert.equal(f('${User-Agent}req_header ${Accept}req_header'), 'probe/1 -')
    assert.equal(f('${X-Multi}res_header ${x-none}res_header'), 'one,two -')
    assert.equal(f('${sid}req_cookie ${nope}req_cookie'), 'abc -')
    assert.equal(f('${b}res_cookie ${a}res_cookie ${c}res_cookie'), '2 1 -')
    assert.equal(f('$log_id $product $cluster_name $subcluster'), 'L42 shop c1 c1.a')
    assert.equal(f('$backend'), 'c1,c1.a,10.9.9.9,b0')
    assert.equal(f('$vip $remote_addr $server_addr'), '- 10.1.2.3 10.0.0.1:8080')
    assert.equal(f('$is_trust_clientip $req_nth $retry_num'), 'false 3 0')
    assert.equal(f('$redirect $error'), '- -')
    assert.equal(f('$all_time $read_req_duration $proxy_delay'), '100 2 3')
    assert.equal(f('$connect_time $cluster_duration'), '- 25')
    assert.equal(f('$last_backend_duration $write_serve_time'), '20 20')
    assert.equal(f('$readwrite_serve_time $response_duration'), '90 10')
    assert.equal(f('$since_ses_start_time'), '9100')
    assert.equal(f('$request_time'), clfTime(10_000))
    assert.match(f('$request_time'), /^\[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]$/)
    assert.match(f('$time'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    req.errCode = 'BK_CONNECT_BACKEND'
    req.errMsg = 'refused'
    req.redirect = { url: 'https://x.test/', code: 302, headers: undefined }
    assert.equal(f('$error $redirect'), 'BK_CONNECT_BACKEND,refused https://x.test/,302')
    req.stat.backendFirst = 0
    req.stat.backendStart = 0
    assert.equal(f('$proxy_delay $readwrite_serve_time'), '- -')
  })

  it('COMBINED is COMMON with Referer and User-Agent', () => {
    const { req, res } = fixture()
    const line = requestLine(compileRequestTemplate(COMBINED, 'text'), req, res, 10_100).toString()
    assert.match(
      line,
      /^shop\.test - - \[.+\] "GET \/a\/b\?x=1 HTTP\/1\.1" 201 \d+ "-" "probe\/1"\n$/,
    )
  })

  it('writes received bytes as they came and configuration text as UTF-8', () => {
    const { req, res } = fixture()
    // A header value with byte 0xE9, as the parser hands it (one character per byte).
    req.headers.set('User-Agent', Buffer.from([0x61, 0xe9]).toString('latin1'))
    req.product = 'caf\u00e9'
    const line = requestLine(
      compileRequestTemplate('\u00e9 ${User-Agent}req_header $product', 'text'),
      req,
      res,
      0,
    )
    assert.deepEqual(
      line,
      Buffer.concat([
        Buffer.from('\u00e9 ', 'utf8'),
        Buffer.from([0x61, 0xe9, 0x20]),
        Buffer.from('caf\u00e9\n', 'utf8'),
      ]),
    )
    // JSON stays valid: the received byte is written as the character it was read as.
    const json = requestLine(compileRequestTemplate('${User-Agent}req_header', 'json'), req, res, 0)
    assert.equal(JSON.parse(json.toString())['req_header.User-Agent'], 'a\u00e9')
  })

  it('a line longer than the buffer asks for more room', () => {
    const { req, res } = fixture()
    req.headers.set('User-Agent', 'u'.repeat(1000))
    const w = compileRequestTemplate(COMBINED, 'text')
    assert.equal(w(Buffer.alloc(500), 0, req, res, 0), -1)
    const big = Buffer.alloc(2000)
    const end = w(big, 7, req, res, 0)
    assert.equal(big.toString('latin1', 7, end), requestLine(w, req, res, 0).toString('latin1'))
    assert.match(big.toString('latin1', 7, end), /"u{1000}"\n$/)
  })

  it('formats every session variable', () => {
    const { ses } = fixture()
    ses.endTime = 2_500
    ses.bytesRead = 120
    ses.bytesWritten = 340
    ses.keepAliveNum = 2
    ses.isSecure = true
    ses.tlsClientRandom = 'ab'.repeat(32)
    ses.errCode = 'CLIENT_CLOSE'
    const f = (t: string): string =>
      sessionLine(compileSessionTemplate(t, 'text'), ses, 3_000).toString().slice(0, -1)
    assert.equal(f('$ses_clientip $ses_overhead $ses_error'), '10.1.2.3:40001 1.5s CLIENT_CLOSE')
    assert.equal(f('$ses_is_secure $ses_keepalive_num $ses_use100'), 'true 2 false')
    assert.equal(f('$ses_read_total $ses_write_total'), '120 340')
    assert.equal(f('$ses_tls_client_random $ses_tls_server_random'), `${'ab'.repeat(32)} -`)
    assert.match(f('$ses_start_time'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d{4}$/)
  })

  it('writes JSON lines: variables as keys, numbers bare, "-" as null, text dropped', () => {
    const { req, res, ses } = fixture()
    const line = requestLine(
      compileRequestTemplate(
        'x $status_code "${User-Agent}req_header" ${Accept}req_header $is_trust_clientip $host $status_code',
        'json',
      ),
      req,
      res,
      10_100,
    ).toString()
    assert.ok(line.endsWith('\n'))
    assert.deepEqual(JSON.parse(line), {
      status_code: 201,
      'req_header.User-Agent': 'probe/1',
      'req_header.Accept': null,
      is_trust_clientip: false,
      host: 'shop.test',
    })
    const s = JSON.parse(
      sessionLine(
        compileSessionTemplate('$ses_clientip $ses_read_total', 'json'),
        ses,
        2_000,
      ).toString(),
    )
    assert.deepEqual(s, { ses_clientip: '10.1.2.3:40001', ses_read_total: 0 })
    // Quotes and control characters in values stay valid JSON.
    req.headers.set('User-Agent', 'a"b\\c\u0001')
    const q = JSON.parse(
      requestLine(
        compileRequestTemplate('${User-Agent}req_header', 'json'),
        req,
        res,
        0,
      ).toString(),
    )
    assert.equal(q['req_header.User-Agent'], 'a"b\\c\u0001')
  })

  it('names the file and key of a bad template', () => {
    assert.throws(
      () =>
        compileAccessTemplates('/c/mod_access/mod_access.conf', {
          RequestTemplate: 'COMMON',
          SessionTemplate: '$ses_clientip $bogus',
          Format: 'text',
        }),
      (err: unknown) =>
        err instanceof BfeConfError &&
        err.file === '/c/mod_access/mod_access.conf' &&
        err.field === 'Template.SessionTemplate' &&
        /unknown variable/.test(err.reason),
    )
    assert.throws(
      () =>
        compileAccessTemplates('f', { RequestTemplate: '', SessionTemplate: 'x', Format: 'text' }),
      /Template\.RequestTemplate is not set/,
    )
    assert.throws(
      () =>
        compileAccessTemplates('f', { RequestTemplate: 'x', SessionTemplate: 'x', Format: 'xml' }),
      /Template\.Format/,
    )
  })

  it('prints durations as Go does', () => {
    assert.equal(goDuration(0), '0s')
    assert.equal(goDuration(250), '250ms')
    assert.equal(goDuration(1500), '1.5s')
    assert.equal(goDuration(2000), '2s')
    assert.equal(goDuration(123_004), '2m3.004s')
    assert.equal(goDuration(3_600_000), '1h0m0s')
  })
})
