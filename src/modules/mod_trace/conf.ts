import { BfeConfError } from '../../basic/errors.js'
import { bound } from '../../config/bounds.js'
import { type IniValues, ini } from '../../config/ini.js'

/**
 * mod_trace.conf: BFE's sections (accepted so BFE's files load unchanged; D10: their agents are
 * not reproduced) and our `[OpenTelemetry]` section for the OTLP/HTTP exporter.
 */
export const confSchema = {
  Basic: {
    DataPath: ini.string('mod_trace/trace_rule.data'),
    ServiceName: ini.string('bfe'),
    TraceAgent: ini.string('otlp'),
  },
  Log: { OpenDebug: ini.bool(false) },
  Zipkin: {
    HTTPEndpoint: ini.string(''),
    SameSpan: ini.bool(false),
    ID128Bit: ini.bool(true),
    SampleRate: ini.string(''),
  },
  Jaeger: {
    SamplingServerURL: ini.string(''),
    SamplingType: ini.string(''),
    SamplingParam: ini.string(''),
    LocalAgentHostPort: ini.string(''),
    Propagation: ini.string(''),
    Gen128Bit: ini.bool(true),
    TraceContextHeaderName: ini.string(''),
    CollectorEndpoint: ini.string(''),
    CollectorUser: ini.string(''),
    CollectorPassword: ini.string(''),
  },
  Elastic: {
    ServerURL: ini.string(''),
    SecretToken: ini.string(''),
  },
  OpenTelemetry: {
    Endpoint: ini.string('http://127.0.0.1:4318/v1/traces'),
    Propagation: ini.string(''),
    SampleRate: ini.string(''),
    MaxQueueSize: ini.int(2048, bound(1, 1_000_000)),
    MaxExportBatchSize: ini.int(512, bound(1, 100_000)),
    ScheduledDelay: ini.int(5000, bound(1, 600_000, 'ms')),
    ExportTimeout: ini.int(10_000, bound(1, 600_000, 'ms')),
  },
} as const

export type TraceConfValues = IniValues<typeof confSchema>

export const AGENTS = ['otlp', 'zipkin', 'jaeger', 'elastic'] as const
export const PROPAGATIONS = ['tracecontext', 'b3', 'b3multi'] as const
export type Propagation = (typeof PROPAGATIONS)[number]

/** What the tracer is built from, after BFE's legacy settings are mapped. */
export interface TraceSettings {
  serviceName: string
  endpoint: string
  sampleRate: number
  propagation: Propagation[]
  maxQueueSize: number
  maxExportBatchSize: number
  scheduledDelayMs: number
  exportTimeoutMs: number
  /** Load warnings (a legacy agent, settings that have no effect). */
  warnings: string[]
}

function rate(file: string, field: string, text: string): number {
  const v = Number(text.trim())
  if (text.trim() === '' || !Number.isFinite(v) || v < 0 || v > 1)
    throw new BfeConfError(file, field, `must be a number in [0, 1], got "${text}"`)
  return v
}

/** Checks the values and maps BFE's agent settings onto OpenTelemetry. Throws BfeConfError. */
export function traceSettings(file: string, c: TraceConfValues): TraceSettings {
  const warnings: string[] = []
  const agent = c.Basic.TraceAgent.trim().toLowerCase()
  if (!(AGENTS as readonly string[]).includes(agent))
    throw new BfeConfError(
      file,
      '[Basic] TraceAgent',
      `"${c.Basic.TraceAgent}" is not one of ${AGENTS.join(', ')}`,
    )
  const o = c.OpenTelemetry
  let url: URL
  try {
    url = new URL(o.Endpoint)
  } catch {
    throw new BfeConfError(file, '[OpenTelemetry] Endpoint', `"${o.Endpoint}" is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new BfeConfError(file, '[OpenTelemetry] Endpoint', 'must be an http:// or https:// URL')
  if (o.MaxExportBatchSize > o.MaxQueueSize)
    throw new BfeConfError(
      file,
      '[OpenTelemetry] MaxExportBatchSize',
      `must not be above MaxQueueSize (${o.MaxQueueSize})`,
    )

  let sampleRate = 1
  let propagation: Propagation[] = ['tracecontext']
  if (agent === 'zipkin') {
    if (c.Zipkin.SampleRate !== '')
      sampleRate = rate(file, '[Zipkin] SampleRate', c.Zipkin.SampleRate)
    propagation = ['tracecontext', 'b3multi']
  } else if (agent === 'jaeger') {
    const type = c.Jaeger.SamplingType.trim().toLowerCase()
    const param = c.Jaeger.SamplingParam
    if (type === 'const' && param !== '') {
      sampleRate = Number(param) === 0 ? 0 : 1
    } else if ((type === 'probabilistic' || type === 'remote') && param !== '') {
      sampleRate = rate(file, '[Jaeger] SamplingParam', param)
    } else if (type === 'ratelimiting') {
      warnings.push(
        `${file}: [Jaeger] SamplingType rateLimiting has no OpenTelemetry equivalent here; every trace is sampled`,
      )
    }
    const prop = c.Jaeger.Propagation.trim().toLowerCase()
    if (prop === 'b3') propagation = ['tracecontext', 'b3multi']
    else if (prop === 'jaeger' || prop === '')
      warnings.push(
        `${file}: [Jaeger] Propagation jaeger (uber-trace-id) is not supported; W3C traceparent is used`,
      )
  }
  if (agent !== 'otlp')
    warnings.push(
      `${file}: [Basic] TraceAgent ${agent}: BFE's ${agent} agent is not reproduced (decisions.md D10); spans are exported with OTLP/HTTP to ${o.Endpoint}`,
    )
  if (o.SampleRate !== '') sampleRate = rate(file, '[OpenTelemetry] SampleRate', o.SampleRate)
  if (o.Propagation.trim() !== '') {
    propagation = []
    for (const raw of o.Propagation.split(',')) {
      const p = raw.trim().toLowerCase()
      if (p === '') continue
      if (!(PROPAGATIONS as readonly string[]).includes(p))
        throw new BfeConfError(
          file,
          '[OpenTelemetry] Propagation',
          `"${raw.trim()}" is not one of ${PROPAGATIONS.join(', ')}`,
        )
      if (!propagation.includes(p as Propagation)) propagation.push(p as Propagation)
    }
    if (propagation.includes('b3') && propagation.includes('b3multi'))
      throw new BfeConfError(
        file,
        '[OpenTelemetry] Propagation',
        'names both b3 and b3multi; choose one B3 encoding',
      )
  }
  return {
    serviceName: c.Basic.ServiceName === '' ? 'bfe' : c.Basic.ServiceName,
    endpoint: url.href,
    sampleRate,
    propagation,
    maxQueueSize: o.MaxQueueSize,
    maxExportBatchSize: o.MaxExportBatchSize,
    scheduledDelayMs: o.ScheduledDelay,
    exportTimeoutMs: o.ExportTimeout,
    warnings,
  }
}
