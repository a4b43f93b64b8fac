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
import type { BfeResponse } from '../../basic/response.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import type { ProductRuleDecl } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'
import { confSchema, type Propagation, type TraceSettings, traceSettings } from './conf.js'

/** One rule of trace_rule.data. */
const rule = s.object({
  Cond: s.cond(),
  Enable: s.bool(false),
})
export type TraceRule = Infer<typeof rule>

export const traceRules: ProductRuleDecl<TraceRule> = {
  rule,
  versionNonEmpty: true,
  title: 'mod_trace trace_rule.data',
}

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

/**
 * mod_trace (decisions.md D10): at HandleFoundProduct the first matching rule of the request's
 * product with `Enable` starts a server span, continuing a W3C or B3 context the request carries,
 * and puts the span's context into the forwarded request's headers; at HandleRequestFinish the
 * span gets the status code, error and backend, and ends. Spans leave in batches over OTLP/HTTP.
 */
export function createModTrace(opts: { exporter?: SpanExporter } = {}): BfeModule {
  return {
    name: 'mod_trace',
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const set = traceSettings(ctx.confPath, conf)
      for (const w of set.warnings) ctx.log.warn(w)
      const table = ctx.ruleTable('mod_trace', ctx.confFile(conf.Basic.DataPath), traceRules)
      const debug = conf.Log.OpenDebug
      const counters = ctx.metrics(['START_SPAN_COUNT', 'FINISH_SPAN_COUNT'])
      const propagator = makePropagator(set.propagation)
      const { tracer, provider } = makeTracer(set, opts.exporter)
      ctx.onClose(async () => {
        let timer: NodeJS.Timeout | undefined
        const late = new Promise<void>((r) => {
          timer = setTimeout(r, set.exportTimeoutMs)
        })
        await Promise.race([provider.shutdown(), late])
        clearTimeout(timer)
      })
      const spans = new WeakMap<BfeRequest, Span>()

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function startTrace(req: BfeRequest) {
          const rules = table.value.rules(req.product)
          for (let i = 0; i < rules.length; i++) {
            const r = rules[i] as TraceRule
            if (!r.Cond.condition.test(req) || !r.Enable) continue
            counters.START_SPAN_COUNT++
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
            spans.set(req, span)
            if (debug) ctx.log.debug({ span: span.spanContext(), uri: req.rawUri }, 'start span')
            break
          }
          return HandlerResult.GoOn
        },
        'startTrace',
      )

      ctx.callbacks.addResponseFilter(
        CallbackPoint.RequestFinish,
        function finishTrace(req: BfeRequest, _res: BfeResponse | undefined) {
          const span = spans.get(req)
          if (span === undefined) return HandlerResult.GoOn
          spans.delete(req)
          const status = req.httpResponse?.statusCode
          if (status !== undefined) span.setAttribute('http.response.status_code', status)
          if (req.product !== '') span.setAttribute('product', req.product)
          const b = req.backend
          if (b.clusterName !== '' || req.clusterName !== '')
            span.setAttribute('cluster', b.clusterName || req.clusterName)
          if (b.subclusterName !== '') span.setAttribute('subcluster', b.subclusterName)
          if (b.backendAddr !== '')
            span.setAttribute('backend', `${b.backendAddr}:${b.backendPort}`)
          if (req.errMsg !== '') {
            span.addEvent('event', { event: req.errMsg })
            span.setStatus({ code: SpanStatusCode.ERROR, message: req.errMsg })
          } else if (status !== undefined && status >= 500) {
            span.setStatus({ code: SpanStatusCode.ERROR })
          }
          span.end()
          counters.FINISH_SPAN_COUNT++
          if (debug) ctx.log.debug({ uri: req.rawUri, err: req.errMsg }, 'finish span')
          return HandlerResult.GoOn
        },
        'finishTrace',
      )
    },
  }
}
