import { Session } from 'node:inspector'
import { getHeapSnapshot } from 'node:v8'

/** What a `/debug/<name>` handler answers. */
export interface DebugAnswer {
  readonly contentType: string
  readonly body: string
  /** Offered file name (Content-Disposition), for profiles and snapshots. */
  readonly fileName?: string
}

/** Longest CPU profile `/debug/profile?seconds=N` records. */
export const MAX_PROFILE_SECONDS = 60
/** `/debug/profile` without `seconds` (Go's pprof takes 30). */
export const DEFAULT_PROFILE_SECONDS = 30

/**
 * BFE's `/debug/*` (Go's pprof) mapped to Node diagnostics (decisions.md D12):
 * - `cmdline`: the command line, arguments separated by NUL bytes (as Go's pprof);
 * - `heap`: a V8 heap snapshot (`.heapsnapshot`, open it in Chrome DevTools → Memory);
 * - `profile?seconds=N`: a V8 CPU profile over N seconds (1..60, default 30; `.cpuprofile`,
 *   open it in DevTools → Performance or speedscope);
 * - `memory`: process.memoryUsage() and the V8 heap statistics.
 * One heap snapshot or CPU profile at a time: a second request gets an error.
 */
export const DEBUG_NAMES: readonly string[] = ['cmdline', 'heap', 'memory', 'profile']

let busy = false

export async function runDebug(name: string, query: URLSearchParams): Promise<DebugAnswer> {
  switch (name) {
    case 'cmdline':
      return { contentType: 'text/plain; charset=utf-8', body: process.argv.join('\u0000') }
    case 'memory':
      return {
        contentType: 'application/json; charset=utf-8',
        body: JSON.stringify(process.memoryUsage()),
      }
    case 'heap':
      return exclusive(async () => ({
        contentType: 'application/json',
        body: await readAll(getHeapSnapshot()),
        fileName: `bfe-${process.pid}.heapsnapshot`,
      }))
    case 'profile': {
      const raw = query.get('seconds')
      const n = raw === null || raw === '' ? DEFAULT_PROFILE_SECONDS : Number(raw)
      if (!Number.isInteger(n) || n < 1 || n > MAX_PROFILE_SECONDS)
        throw new Error(`seconds must be an integer from 1 to ${MAX_PROFILE_SECONDS}, got ${raw}`)
      return exclusive(async () => ({
        contentType: 'application/json',
        body: await cpuProfile(n * 1000),
        fileName: `bfe-${process.pid}.cpuprofile`,
      }))
    }
    case 'symbol':
    case 'trace':
    case 'goroutine':
    case 'allocs':
    case 'block':
    case 'mutex':
    case 'threadcreate':
      throw new Error(
        `${name} is a Go profile with no Node equivalent; use /debug/profile or /debug/heap`,
      )
    default:
      throw new Error(`handler not exist, type[debug], command[${name}]`)
  }
}

async function exclusive(run: () => Promise<DebugAnswer>): Promise<DebugAnswer> {
  if (busy) throw new Error('another heap snapshot or CPU profile is running')
  busy = true
  try {
    return await run()
  } finally {
    busy = false
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const parts: string[] = []
  stream.setEncoding('utf8')
  for await (const chunk of stream) parts.push(chunk as string)
  return parts.join('')
}

function post<T>(s: Session, method: string): Promise<T> {
  return new Promise((resolve, reject) => {
    s.post(method, (err, res) => (err === null ? resolve(res as T) : reject(err)))
  })
}

async function cpuProfile(ms: number): Promise<string> {
  const s = new Session()
  s.connect()
  try {
    await post(s, 'Profiler.enable')
    await post(s, 'Profiler.start')
    await new Promise((r) => setTimeout(r, ms))
    const res = await post<{ profile: unknown }>(s, 'Profiler.stop')
    return JSON.stringify(res.profile)
  } finally {
    s.disconnect()
  }
}
