import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ROOT_CONTEXT, trace } from '@opentelemetry/api'
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base'
import { HeaderList } from '../../basic/header-list.js'
import { parseIni } from '../../config/ini.js'
import { confSchema, traceSettings } from './conf.js'
import { makePropagator, makeTracer } from './otel.js'

function settings(text: string) {
  return traceSettings('mod_trace.conf', parseIni('mod_trace.conf', text, confSchema).values)
}

test('conf: OTLP defaults and BFE agents mapped onto OpenTelemetry', () => {
  const d = settings('[Basic]\nDataPath = x\n')
  assert.equal(d.endpoint, 'http://127.0.0.1:4318/v1/traces')
  assert.deepEqual(d.propagation, ['tracecontext'])
  assert.equal(d.sampleRate, 1)
  assert.deepEqual(d.warnings, [])

  const z = settings('[Basic]\nTraceAgent = zipkin\n[Zipkin]\nSampleRate = 0.25\n')
  assert.equal(z.sampleRate, 0.25)
  assert.deepEqual(z.propagation, ['tracecontext', 'b3multi'])
  assert.match(z.warnings.join('\n'), /zipkin agent is not reproduced/)

  const j = settings(
    '[Basic]\nTraceAgent = jaeger\n[Jaeger]\nSamplingType = const\nSamplingParam = 0\nPropagation = b3\n',
  )
  assert.equal(j.sampleRate, 0)
  assert.deepEqual(j.propagation, ['tracecontext', 'b3multi'])

  const o = settings('[OpenTelemetry]\nPropagation = b3, tracecontext\nSampleRate = 0.5\n')
  assert.deepEqual(o.propagation, ['b3', 'tracecontext'])
  assert.equal(o.sampleRate, 0.5)
})

test('conf: bad values are refused, naming the key', () => {
  assert.throws(() => settings('[Basic]\nTraceAgent = skywalking\n'), /\[Basic\] TraceAgent/)
  assert.throws(() => settings('[OpenTelemetry]\nSampleRate = 2\n'), /\[OpenTelemetry\] SampleRate/)
  assert.throws(() => settings('[OpenTelemetry]\nPropagation = jaeger\n'), /Propagation.*"jaeger"/)
  assert.throws(() => settings('[OpenTelemetry]\nPropagation = b3,b3multi\n'), /one B3 encoding/)
  assert.throws(() => settings('[OpenTelemetry]\nEndpoint = ftp://x/\n'), /Endpoint/)
  assert.throws(
    () => settings('[OpenTelemetry]\nMaxQueueSize = 10\nMaxExportBatchSize = 20\n'),
    /MaxExportBatchSize/,
  )
  assert.throws(() => settings('[Zipkin]\nNoSuchKey = 1\n'), /NoSuchKey/)
})

test('spans continue an incoming W3C context and B3 headers are injected', async () => {
  const exporter = new InMemorySpanExporter()
  const set = settings('[OpenTelemetry]\nPropagation = tracecontext,b3multi\nScheduledDelay = 1\n')
  const { tracer, provider } = makeTracer(set, exporter)
  const prop = makePropagator(set.propagation)
  const getter = { get: (h: HeaderList, k: string) => h.get(k), keys: () => [] }
  const setter = { set: (h: HeaderList, k: string, v: string) => h.set(k, v) }
  const traceId = '4bf92f3577b34da6a1c9c0e1f2d3e4f5'
  const incoming = new HeaderList(['traceparent', `00-${traceId}-00f067aa0ba902b7-01`])
  const parent = prop.extract(ROOT_CONTEXT, incoming, getter)
  const span = tracer.startSpan('x', {}, parent)
  prop.inject(trace.setSpan(ROOT_CONTEXT, span), incoming, setter)
  assert.equal(span.spanContext().traceId, traceId)
  assert.match(incoming.get('traceparent') ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))
  assert.notEqual(incoming.get('traceparent'), `00-${traceId}-00f067aa0ba902b7-01`)
  assert.equal(incoming.get('x-b3-traceid'), traceId)
  assert.equal(incoming.get('x-b3-spanid'), span.spanContext().spanId)
  span.end()
  await provider.forceFlush()
  const [done] = exporter.getFinishedSpans()
  assert.equal(done?.parentSpanContext?.spanId, '00f067aa0ba902b7')
  await provider.shutdown()
})

test('sampling rate 0 records nothing for new traces', async () => {
  const exporter = new InMemorySpanExporter()
  const { tracer, provider } = makeTracer(settings('[OpenTelemetry]\nSampleRate = 0\n'), exporter)
  tracer.startSpan('y').end()
  await provider.forceFlush()
  assert.equal(exporter.getFinishedSpans().length, 0)
  await provider.shutdown()
})
