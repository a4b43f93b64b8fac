import type { Span } from '@opentelemetry/api'
import type { SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { BfeRequest } from '../../basic/request.js'
import type { BfeResponse } from '../../basic/response.js'
import { type Infer, s } from '../../config/schema.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import { type ProductRuleDecl, productRuleFile } from '../../module/rule-table.js'
import type { BfeModule } from '../../module/types.js'
import { confSchema, traceSettings } from './conf.js'

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

/**
 * mod_trace (decisions.md D10): at HandleFoundProduct the first matching rule of the request's
 * product with `Enable` starts a server span, continuing a W3C or B3 context the request carries,
 * and puts the span's context into the forwarded request's headers; at HandleRequestFinish the
 * span gets the status code, error and backend, and ends. Spans leave in batches over OTLP/HTTP.
 */
export function createModTrace(opts: { exporter?: SpanExporter } = {}): BfeModule {
  return {
    name: 'mod_trace',
    dataFiles: [productRuleFile('mod_trace/trace_rule.data', traceRules)],
    async init(ctx: ModuleContext): Promise<void> {
      const conf = ctx.readConf(confSchema)
      const set = traceSettings(ctx.confPath, conf)
      const table = ctx.ruleTable('mod_trace', ctx.confFile(conf.Basic.DataPath), traceRules)
      for (const w of set.warnings) ctx.log.warn(w)
      const debug = conf.Log.OpenDebug
      const counters = ctx.metrics(['START_SPAN_COUNT', 'FINISH_SPAN_COUNT'])
      const { createTracing } = await import('./otel.js')
      const tracing = createTracing(set, opts.exporter)
      ctx.onClose(() => tracing.shutdown())
      const spans = new WeakMap<BfeRequest, Span>()

      ctx.callbacks.addRequestFilter(
        CallbackPoint.FoundProduct,
        function startTrace(req: BfeRequest) {
          const rules = table.value.rules(req.product)
          for (let i = 0; i < rules.length; i++) {
            const r = rules[i] as TraceRule
            if (!r.Cond.condition.test(req) || !r.Enable) continue
            counters.START_SPAN_COUNT++
            const span = tracing.start(req)
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
          tracing.finish(span, req)
          counters.FINISH_SPAN_COUNT++
          if (debug) ctx.log.debug({ uri: req.rawUri, err: req.errMsg }, 'finish span')
          return HandlerResult.GoOn
        },
        'finishTrace',
      )
    },
  }
}
