import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { type ParseArgsConfig, parseArgs } from 'node:util'
import type { BfeModule } from '../module/types.js'
import { describeError } from '../process/exit.js'
import { loadDecisionConf } from './decision-conf.js'
import { Explainer, formatExplanation } from './explain.js'
import {
  parseHeaderArg,
  parseRequestLine,
  type RequestSpec,
  RequestSpecError,
} from './request-spec.js'
import { schemaFor, schemaKinds } from './schemas.js'
import { formatReport, simulate } from './simulate.js'

/** The sub-commands of bfe-ts that BFE does not have. */
export const TOOLS: ReadonlySet<string> = new Set(['explain', 'simulate', 'schema'])

const USAGE = {
  explain: `Usage: bfe explain -c <conf root> [-X METHOD] [-H 'Name: value']... [--cip IP] [--vip IP] [--json] URL
       bfe explain -c <conf root> --requests <file> [--cip IP] [--json]
Prints the decision path of a request without starting a server. With --requests, explains every
request of the file in order (one JSON object per line with --json), as a fresh server would pick
backends for them sent one at a time.
`,
  simulate: `Usage: bfe simulate -c <old conf root> -n <new conf root> --requests <file> [--cip IP] [--examples N] [--json]
Replays the requests of <file> (mod_access JSON lines, or METHOD URL [Name: value]... per line)
through both configurations' decisions and reports what changes product, cluster or sub-cluster.
`,
  schema: `Usage: bfe schema [<file kind>]
Prints the JSON Schema (2020-12) of a data file kind, or lists the kinds.
`,
} as const

type Out = { write(s: string): unknown }

/** Runs `bfe <tool> ...`; resolves with the exit code. */
export async function runTool(
  tool: string,
  argv: readonly string[],
  modules: readonly BfeModule[] = [],
  out: Out = process.stdout,
  err: Out = process.stderr,
): Promise<number> {
  const code = await runToolInner(tool, argv, modules, out, err)
  // main.ts exits right after: let piped output drain first (process.exit would cut it)
  await Promise.all([flush(out), flush(err)])
  return code
}

function flush(o: Out): Promise<void> {
  return new Promise((resolve) => {
    if (o === process.stdout || o === process.stderr)
      (o as NodeJS.WriteStream).write('', () => resolve())
    else resolve()
  })
}

async function runToolInner(
  tool: string,
  argv: readonly string[],
  modules: readonly BfeModule[],
  out: Out,
  err: Out,
): Promise<number> {
  try {
    switch (tool) {
      case 'explain':
        return await explainCmd(argv, modules, out, err)
      case 'simulate':
        return await simulateCmd(argv, modules, out)
      case 'schema':
        return schemaCmd(argv, modules, out, err)
      default:
        err.write(`bfe: unknown command ${tool}\n`)
        return 2
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err.write(`bfe ${tool}: ${e.message}\n${USAGE[tool as keyof typeof USAGE] ?? ''}`)
      return 2
    }
    err.write(`bfe ${tool}: ${describeError(e)}\n`)
    return 1
  }
}

class UsageError extends Error {}

function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config)
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e))
  }
}

/** Reads a requests file: one request per line; bad lines are errors naming the line. */
export function readRequests(file: string, defaults: Partial<RequestSpec>): RequestSpec[] {
  const text = readFileSync(file, 'utf8')
  const out: RequestSpec[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    try {
      const r = parseRequestLine(lines[i] ?? '', defaults)
      if (r !== undefined) out.push(r)
    } catch (e) {
      if (e instanceof RequestSpecError) throw new Error(`${file}: line ${i + 1} ${e.message}`)
      throw e
    }
  }
  return out
}

async function explainCmd(
  argv: readonly string[],
  modules: readonly BfeModule[],
  out: Out,
  err: Out,
): Promise<number> {
  const { values, positionals } = parse({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      c: { type: 'string', short: 'c' },
      X: { type: 'string', short: 'X' },
      H: { type: 'string', short: 'H', multiple: true },
      cip: { type: 'string' },
      vip: { type: 'string' },
      json: { type: 'boolean' },
      requests: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  } as const)
  if (values.help === true) {
    out.write(USAGE.explain)
    return 0
  }
  const confRoot = resolve(values.c ?? './conf')
  const json = values.json === true
  const defaults = { cip: values.cip, vip: values.vip }
  let specs: RequestSpec[]
  if (values.requests !== undefined) {
    if (positionals.length > 0) throw new UsageError('give either a URL or --requests')
    specs = readRequests(values.requests, defaults)
  } else {
    const url = positionals[0]
    if (url === undefined || positionals.length > 1) throw new UsageError('needs one URL')
    let headers: [string, string][]
    try {
      headers = (values.H ?? []).map(parseHeaderArg)
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e))
    }
    specs = [{ method: values.X ?? 'GET', url, headers, cip: values.cip, vip: values.vip }]
  }
  const dc = await loadDecisionConf(confRoot, modules)
  const ex = new Explainer(dc)
  let failed = false
  try {
    for (const spec of specs) {
      const e = ex.explain(spec)
      if (e.error !== null) failed = true
      if (json)
        out.write(`${JSON.stringify(e, nullForUndefined, specs.length === 1 ? 2 : undefined)}\n`)
      else out.write(`${formatExplanation(e)}${specs.length > 1 ? '\n' : ''}`)
      if (specs.length === 1 && e.error !== null)
        err.write(`bfe explain: ${e.error.code}: ${e.error.message}\n`)
    }
  } finally {
    ex.close()
  }
  // One request that would fail (no product, no route ...): exit 1 with the reason.
  return specs.length === 1 && failed ? 1 : 0
}

/** `matched: undefined` (a rule not evaluated) is printed as null rather than left out. */
function nullForUndefined(_key: string, v: unknown): unknown {
  return v === undefined ? null : v
}

async function simulateCmd(
  argv: readonly string[],
  modules: readonly BfeModule[],
  out: Out,
): Promise<number> {
  const { values } = parse({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      c: { type: 'string', short: 'c' },
      n: { type: 'string', short: 'n' },
      requests: { type: 'string' },
      cip: { type: 'string' },
      vip: { type: 'string' },
      examples: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  } as const)
  if (values.help === true) {
    out.write(USAGE.simulate)
    return 0
  }
  if (values.c === undefined || values.n === undefined || values.requests === undefined)
    throw new UsageError('needs -c <old conf>, -n <new conf> and --requests <file>')
  const max = values.examples === undefined ? 5 : Number(values.examples)
  if (!Number.isSafeInteger(max) || max < 0)
    throw new UsageError('--examples must be a number >= 0')
  const specs = readRequests(values.requests, { cip: values.cip, vip: values.vip })
  const oldConf = await loadDecisionConf(resolve(values.c), modules)
  const newConf = await loadDecisionConf(resolve(values.n), modules)
  const report = simulate(oldConf, newConf, specs, max)
  out.write(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report))
  return 0
}

function schemaCmd(
  argv: readonly string[],
  modules: readonly BfeModule[],
  out: Out,
  err: Out,
): number {
  const { positionals, values } = parse({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: { help: { type: 'boolean', short: 'h' } },
  } as const)
  if (values.help === true) {
    out.write(USAGE.schema)
    return 0
  }
  const kind = positionals[0]
  if (kind === undefined) {
    out.write(`${schemaKinds(modules).join('\n')}\n`)
    return 0
  }
  const doc = schemaFor(kind, modules)
  if (doc === undefined) {
    err.write(
      `bfe schema: unknown file kind "${kind}"; kinds:\n  ${schemaKinds(modules).join('\n  ')}\n`,
    )
    return 1
  }
  out.write(`${JSON.stringify(doc, null, 2)}\n`)
  return 0
}
