import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, h2Request } from '../../helpers/client.js'
import { simpleConf, type TestConf } from '../../helpers/conf.js'
import { monitorGet } from '../../helpers/monitor.js'
import { type RunningBfe, startBfe, waitFor } from '../../helpers/server.js'
import { closedPort, startUpstream, type Upstream } from '../../helpers/upstream.js'

/** A span as the OTLP/HTTP JSON export carries it (the fields we look at). */
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes: { key: string; value: { stringValue?: string; intValue?: number | string } }[]
  status?: { code?: number; message?: string }
}

/** A real OTLP/HTTP receiver: collects the spans of every export and the service name. */
async function startCollector(): Promise<{
  port: number
  spans: OtlpSpan[]
  services: Set<string>
  close(): Promise<void>
}> {
  const spans: OtlpSpan[] = []
  const services = new Set<string>()
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      assert.equal(req.url, '/v1/traces')
      assert.match(String(req.headers['content-type']), /application\/json/)
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        resourceSpans: {
          resource: { attributes: OtlpSpan['attributes'] }
          scopeSpans: { spans: OtlpSpan[] }[]
        }[]
      }
      for (const rs of body.resourceSpans) {
        for (const a of rs.resource.attributes)
          if (a.key === 'service.name') services.add(a.value.stringValue ?? '')
        for (const ss of rs.scopeSpans) spans.push(...ss.spans)
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    spans,
    services,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

function attr(s: OtlpSpan, key: string): string | number | undefined {
  const v = s.attributes.find((a) => a.key === key)?.value
  if (v === undefined) return undefined
  return v.stringValue ?? (v.intValue === undefined ? undefined : Number(v.intValue))
}

function data(version: string, enable: boolean): string {
  return JSON.stringify({
    Version: version,
    Config: {
      p: [
        // a matching rule with Enable false does not stop the search (as in BFE)
        { Cond: 'req_path_prefix_in("/off/", false)', Enable: false },
        { Cond: 'req_path_prefix_in("/off/on/", false)', Enable: true },
        { Cond: '!req_path_prefix_in("/off/", false)', Enable: enable },
      ],
    },
  })
}

function conf(
  ports: number[],
  collector: number,
  extra: { data?: string; conf?: string; dead?: number } = {},
): TestConf {
  const broken =
    extra.dead === undefined
      ? {}
      : {
          routeRule: {
            Version: 't',
            ProductRule: {
              p: [
                { Cond: 'req_path_prefix_in("/broken", false)', ClusterName: 'dead' },
                { Cond: 'default_t()', ClusterName: 'c' },
              ],
            },
          },
          clusterConf: { Version: 't', Config: { c: {}, dead: {} } },
          clusterTable: {
            c: { 'c.a': ports.map((Port) => ({ Port })) },
            dead: { 'dead.a': [{ Port: extra.dead }] },
          },
          gslb: { c: { 'c.a': 100 }, dead: { 'dead.a': 100 } },
        }
  return simpleConf(ports, {
    ...broken,
    server: ['Modules = mod_trace'],
    files: {
      'mod_trace/mod_trace.conf':
        extra.conf ??
        [
          '[Basic]',
          'DataPath = mod_trace/trace_rule.data',
          'ServiceName = edge-test',
          'TraceAgent = otlp',
          '[OpenTelemetry]',
          `Endpoint = http://127.0.0.1:${collector}/v1/traces`,
          'Propagation = tracecontext, b3multi',
          'ScheduledDelay = 20',
        ].join('\n'),
      'mod_trace/trace_rule.data': extra.data ?? data('v1', true),
    },
  })
}

const TRACE = '0af7651916cd43dd8448eb211c80319c'
const PARENT = 'b7ad6b7169203331'

describe('mod_trace', () => {
  let up: Upstream
  let collector: Awaited<ReturnType<typeof startCollector>>
  let bfe: RunningBfe

  before(async () => {
    up = await startUpstream()
    collector = await startCollector()
    bfe = await startBfe(conf([up.port], collector.port, { dead: await closedPort() }))
  })
  after(async () => {
    await bfe.close()
    await collector.close()
    await up.close()
  })

  it('continues an incoming W3C trace, propagates it to the backend and exports the span (HTTP/1.1)', async () => {
    const r = await get(`${bfe.url}/api/items?x=1`, {
      headers: { host: 'p.test:8080', traceparent: `00-${TRACE}-${PARENT}-01` },
    })
    assert.equal(r.status, 200)
    const seen = up.seen.at(-1)?.headers ?? {}
    const tp = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(seen['traceparent']))
    assert.ok(tp, String(seen['traceparent']))
    assert.equal(tp[1], TRACE)
    assert.notEqual(tp[2], PARENT)
    assert.equal(seen['x-b3-traceid'], TRACE)
    assert.equal(seen['x-b3-spanid'], tp[2])
    assert.equal(seen['x-b3-sampled'], '1')

    await waitFor(() => collector.spans.some((s) => s.spanId === tp[2]), 5000, 'exported span')
    const span = collector.spans.find((s) => s.spanId === tp[2]) as OtlpSpan
    assert.equal(span.traceId, TRACE)
    assert.equal(span.parentSpanId, PARENT)
    assert.equal(span.name, 'p.test/api/items')
    assert.equal(span.kind, 2) // SERVER
    assert.equal(attr(span, 'http.request.method'), 'GET')
    assert.equal(attr(span, 'http.response.status_code'), 200)
    assert.equal(attr(span, 'product'), 'p')
    assert.equal(attr(span, 'cluster'), 'c')
    assert.equal(attr(span, 'subcluster'), 'c.a')
    assert.equal(attr(span, 'backend'), `127.0.0.1:${up.port}`)
    assert.ok(collector.services.has('edge-test'))
  })

  it('continues a B3 trace and starts new traces; rules with Enable false trace nothing', async () => {
    const b3trace = '463ac35c9f6413ad48485a3953bb6124'
    await get(`${bfe.url}/b3`, {
      headers: {
        host: 'p.test',
        'x-b3-traceid': b3trace,
        'x-b3-spanid': 'a2fb4a1d1a96d312',
        'x-b3-sampled': '1',
      },
    })
    const seen = up.seen.at(-1)?.headers ?? {}
    assert.equal(seen['x-b3-traceid'], b3trace)
    assert.match(String(seen['traceparent']), new RegExp(`^00-${b3trace}-`))

    await get(`${bfe.url}/new`, { headers: { host: 'p.test' } })
    const fresh = up.seen.at(-1)?.headers ?? {}
    assert.match(String(fresh['traceparent']), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)

    await get(`${bfe.url}/off/x`, {
      headers: { host: 'p.test', traceparent: `00-${TRACE}-${PARENT}-01` },
    })
    const off = up.seen.at(-1)?.headers ?? {}
    assert.equal(off['traceparent'], `00-${TRACE}-${PARENT}-01`, 'passed through untouched')
    assert.equal(off['x-b3-traceid'], undefined)
    await get(`${bfe.url}/off/on/x`, { headers: { host: 'p.test' } })
    assert.match(String(up.seen.at(-1)?.headers['traceparent']), /^00-/)
  })

  it('traces HTTP/2 requests and records errors', async () => {
    const r = await h2Request(bfe.tlsPort, '/h2/path', { authority: 'p.test' })
    assert.equal(r.status, 200)
    const tp = String(up.seen.at(-1)?.headers['traceparent'])
    const spanId = tp.split('-')[2]
    await waitFor(() => collector.spans.some((s) => s.spanId === spanId), 5000, 'h2 span')
    const span = collector.spans.find((s) => s.spanId === spanId) as OtlpSpan
    assert.equal(span.name, 'p.test/h2/path')
    assert.equal(attr(span, 'network.protocol.version'), 'HTTP/2.0')

    const failed = await get(`${bfe.url}/broken`, {
      headers: { host: 'p.test', traceparent: `00-${TRACE}-00000000000000aa-01` },
    })
    assert.equal(failed.status, 502)
    await waitFor(
      () => collector.spans.some((s) => s.parentSpanId === '00000000000000aa'),
      5000,
      'error span',
    )
    const err = collector.spans.find((s) => s.parentSpanId === '00000000000000aa') as OtlpSpan
    assert.equal(attr(err, 'http.response.status_code'), 502)
    assert.equal(attr(err, 'cluster'), 'dead')
    assert.equal(err.status?.code, 2) // ERROR
    assert.ok((err.status?.message ?? '') !== '')
  })

  it('counts spans at /monitor/mod_trace', async () => {
    await waitFor(() => collector.spans.length >= 4, 5000, 'spans')
    const m = await monitorGet(bfe.server.monitorPort, '/monitor/mod_trace')
    const c = JSON.parse(m.body).CounterData as Record<string, number>
    assert.ok((c['START_SPAN_COUNT'] ?? 0) >= 4)
    assert.equal(c['FINISH_SPAN_COUNT'], c['START_SPAN_COUNT'])
  })

  it('reloads a good file and keeps the rules when the file is broken', async () => {
    const file = join(bfe.confRoot, 'mod_trace', 'trace_rule.data')
    writeFileSync(file, data('v2', false))
    const ok = await monitorGet(bfe.server.monitorPort, '/reload/mod_trace')
    assert.deepEqual(JSON.parse(ok.body), { error: null, version: 'trace_rule.data=v2' })
    await get(`${bfe.url}/quiet`, { headers: { host: 'p.test' } })
    assert.equal(up.seen.at(-1)?.headers['traceparent'], undefined)

    writeFileSync(
      file,
      JSON.stringify({ Version: 'v3', Config: { p: [{ Cond: 'default_t()', Enable: 'yes' }] } }),
    )
    const bad = await monitorGet(bfe.server.monitorPort, '/reload/mod_trace')
    assert.match(JSON.parse(bad.body).error, /trace_rule\.data.*\/Config\/p\/0\/Enable/)
    await get(`${bfe.url}/quiet`, { headers: { host: 'p.test' } })
    assert.equal(up.seen.at(-1)?.headers['traceparent'], undefined)
  })

  it('never fails or holds requests when the collector is down', async () => {
    const dead = await closedPort()
    const down = await startBfe(
      conf([up.port], dead, {
        conf: [
          '[Basic]',
          'TraceAgent = otlp',
          '[OpenTelemetry]',
          `Endpoint = http://127.0.0.1:${dead}/v1/traces`,
          'ScheduledDelay = 1',
          'MaxQueueSize = 4',
          'MaxExportBatchSize = 2',
          'ExportTimeout = 500',
        ].join('\n'),
      }),
    )
    try {
      const t0 = Date.now()
      for (let i = 0; i < 20; i++) {
        const r = await get(`${down.url}/x${i}`, { headers: { host: 'p.test' } })
        assert.equal(r.status, 200)
      }
      assert.ok(Date.now() - t0 < 10_000)
      const m = await monitorGet(down.server.monitorPort, '/monitor/mod_trace')
      assert.equal(JSON.parse(m.body).CounterData.FINISH_SPAN_COUNT, 20)
    } finally {
      await down.close()
    }
  })

  it("loads BFE's jaeger settings with a warning and refuses bad values", async () => {
    const jaeger = await startBfe(
      conf([up.port], collector.port, {
        conf: [
          '[Basic]',
          'DataPath = mod_trace/trace_rule.data',
          'ServiceName = bfe',
          'TraceAgent = jaeger',
          '[Jaeger]',
          'SamplingType = const',
          'SamplingParam = 1.0',
          'Propagation = b3',
          'CollectorEndpoint = ""',
          '[OpenTelemetry]',
          `Endpoint = http://127.0.0.1:${collector.port}/v1/traces`,
        ].join('\n'),
      }),
    )
    try {
      await get(`${jaeger.url}/j`, { headers: { host: 'p.test' } })
      const seen = up.seen.at(-1)?.headers ?? {}
      assert.match(String(seen['x-b3-traceid']), /^[0-9a-f]{32}$/)
    } finally {
      await jaeger.close()
    }
    await assert.rejects(
      startBfe(conf([up.port], collector.port, { data: data('', true) })),
      /trace_rule\.data.*\/Version.*must not be empty/,
    )
    await assert.rejects(
      startBfe(
        conf([up.port], collector.port, {
          data: JSON.stringify({
            Version: '1',
            Config: { p: [{ Cond: 'req_host_in(1)', Enable: true }] },
          }),
        }),
      ),
      /trace_rule\.data.*\/Config\/p\/0\/Cond/,
    )
    await assert.rejects(
      startBfe(conf([up.port], collector.port, { conf: '[Basic]\nTraceAgent = skywalking\n' })),
      /mod_trace\.conf.*\[Basic\] TraceAgent.*"skywalking"/,
    )
  })
})
