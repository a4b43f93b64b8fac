import {
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3'
import { resourceFromAttributes } from '@opentelemetry/resources'
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base'
import type { HeaderList } from '../../basic/header-list.js'
import type { BfeRequest } from '../../basic/request.js'
import type { Propagation, TraceSettings } from './conf.js'

// Loaded only when mod_trace is enabled: OpenTelemetry's packages take a while to import, and a
// server (or `bfe -t`) without the module should not pay for them.

const headerGetter: TextMapGetter<HeaderList> = {
  get: (h, key) => h.get(key),
  keys: (h) => {
    const out: string[] = []
    for (let i = 0; i < h.raw.length; i += 2) out.push((h.raw[i] as string).toLowerCase())
    return out
  },
}

const headerSetter: TextMapSetter<HeaderList> = {
  set: (h, key, value) => h.set(key, value),
}

/** The propagators named by `[OpenTelemetry] Propagation`, extraction in that order. */
export function makePropagator(list: readonly Propagation[]): TextMapPropagator {
  const propagators: TextMapPropagator[] = list.map((p) =>
    p === 'tracecontext'
      ? new W3CTraceContextPropagator()
      : new B3Propagator({
          injectEncoding:
            p === 'b3' ? B3InjectEncoding.SINGLE_HEADER : B3InjectEncoding.MULTI_HEADER,
        }),
  )
  return new CompositePropagator({ propagators })
}

function makeSampler(rate: number): Sampler {
  // A sampled (or not sampled) incoming trace keeps its decision; new traces use the rate.
  return new ParentBasedSampler({
    root: rate >= 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(rate),
  })
}

/** A tracer provider with a bounded batch queue: exporting never blocks a request. */
export function makeTracer(
  set: TraceSettings,
  exporter?: SpanExporter,
): { tracer: Tracer; provider: BasicTracerProvider } {
  const exp =
    exporter ??
    new OTLPTraceExporter({
      url: set.endpoint,
      timeoutMillis: set.exportTimeoutMs,
    })
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': set.serviceName }),
    sampler: makeSampler(set.sampleRate),
    spanProcessors: [
      new BatchSpanProcessor(exp, {
        maxQueueSize: set.maxQueueSize,
        maxExportBatchSize: set.maxExportBatchSize,
        scheduledDelayMillis: set.scheduledDelayMs,
        exportTimeoutMillis: set.exportTimeoutMs,
      }),
    ],
  })
  return { tracer: provider.getTracer('bfe-ts.mod_trace'), provider }
}

/** The span name: host without port, then the path (as BFE names it). */
function spanName(req: BfeRequest): string {
  return req.hostname + req.path
}

/** What the filters need from OpenTelemetry. */
export interface Tracing {
  /** Starts the server span of `req` (continuing its incoming context) and injects its context. */
  start(req: BfeRequest): Span
  /** Records the outcome of `req` on `span` and ends it. */
  finish(span: Span, req: BfeRequest): void
  /** Flushes the queue (for at most `ExportTimeout`) and stops exporting. */
  shutdown(): Promise<void>
}

export function createTracing(set: TraceSettings, exporter?: SpanExporter): Tracing {
  const propagator = makePropagator(set.propagation)
  const { tracer, provider } = makeTracer(set, exporter)
  return {
    start(req) {
      const parent = propagator.extract(ROOT_CONTEXT, req.headers, headerGetter)
      const span = tracer.startSpan(
        spanName(req),
        {
          kind: SpanKind.SERVER,
          attributes: {
            'http.request.method': req.method,
            'url.path': req.path,
            'url.query': req.rawQuery,
            'server.address': req.host,
            'network.protocol.version': req.proto,
          },
        },
        parent,
      )
      propagator.inject(trace.setSpan(ROOT_CONTEXT, span), req.headers, headerSetter)
      return span
    },
    finish(span, req) {
      const status = req.httpResponse?.statusCode
      if (status !== undefined) span.setAttribute('http.response.status_code', status)
      if (req.product !== '') span.setAttribute('product', req.product)
      const b = req.backend
      if (b.clusterName !== '' || req.clusterName !== '')
        span.setAttribute('cluster', b.clusterName || req.clusterName)
      if (b.subclusterName !== '') span.setAttribute('subcluster', b.subclusterName)
      if (b.backendAddr !== '') span.setAttribute('backend', `${b.backendAddr}:${b.backendPort}`)
      if (req.errMsg !== '') {
        span.addEvent('event', { event: req.errMsg })
        span.setStatus({ code: SpanStatusCode.ERROR, message: req.errMsg })
      } else if (status !== undefined && status >= 500) {
        span.setStatus({ code: SpanStatusCode.ERROR })
      }
      span.end()
    },
    async shutdown() {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<void>((r) => {
        timer = setTimeout(r, set.exportTimeoutMs)
      })
      await Promise.race([provider.shutdown(), late])
      clearTimeout(timer)
    },
  }
}
