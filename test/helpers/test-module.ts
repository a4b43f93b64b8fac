import { connect, type Socket } from 'node:net'
import { HeaderList } from '../../src/basic/header-list.js'
import type { BfeRequest } from '../../src/basic/request.js'
import { type BfeResponse, textResponse } from '../../src/basic/response.js'
import type { Session } from '../../src/basic/session.js'
import { CallbackPoint, CallbackPointName, HandlerResult } from '../../src/module/callback-point.js'
import type { ModuleContext } from '../../src/module/context.js'
import type { BfeModule, FilterReturn } from '../../src/module/types.js'
import { SocketWatch } from './socket-watch.js'

/** One filter invocation, as recorded by a TestModule. */
export interface FilterCall {
  module: string
  point: CallbackPoint
  /** Index of the filter at its point (a TestModule registers `filters` per point). */
  filter: number
  /** Global order of the call (shared by every TestModule). */
  seq: number
  /** Session.seq of the connection. */
  session: number
  /** Request path (request-level points only). */
  path: string | undefined
  /** Backend port chosen for this attempt (HandleForward only). */
  backendPort: number | undefined
  /** Status of the response seen (HandleReadResponse / HandleRequestFinish). */
  status: number | undefined
}

/** What the context of one filter call holds (for `act`). */
export interface FilterCtx {
  ses: Session
  req: BfeRequest | undefined
  res: BfeResponse | undefined
}

/** How one filter behaves. */
export interface Behavior {
  /** Code to return; GoOn when absent. */
  code?: HandlerResult
  /** Return a Promise that resolves after a few ms instead of a plain code. */
  async?: boolean
  /** Runs before the code is returned (inside the timer for async filters). */
  act?: (ctx: FilterCtx) => void
}

export interface TestModuleOptions {
  /** Module name; `mod_test` by default. */
  name?: string
  /** Filters registered per point (all GoOn until told otherwise); 1 by default. */
  filters?: number
  /** A call log shared with other modules, to see the order across modules. */
  log?: FilterCall[]
  /** Add `X-Mod-Test-RR: <module>` to every response seen at HandleReadResponse (filter 0). */
  tagResponses?: boolean
}

let seqCounter = 0

/**
 * A module whose filters at every callback point do what a test says (`set(point, behavior)`)
 * and record every call with its order. Registers `filters` filters at each of the nine points,
 * named `filter0`, `filter1` ...
 */
export class TestModule implements BfeModule {
  readonly name: string
  readonly calls: FilterCall[]
  readonly filters: number
  readonly tagResponses: boolean
  private readonly behaviors = new Map<string, Behavior>()

  constructor(opts: TestModuleOptions = {}) {
    this.name = opts.name ?? 'mod_test'
    this.filters = opts.filters ?? 1
    this.calls = opts.log ?? []
    this.tagResponses = opts.tagResponses ?? false
  }

  init({ callbacks: cbs }: ModuleContext): void {
    for (let i = 0; i < this.filters; i++) {
      const name = `filter${i}`
      cbs.addAcceptFilter(0, (ses) => this.run(0, i, { ses, req: undefined, res: undefined }), name)
      cbs.addAcceptFilter(1, (ses) => this.run(1, i, { ses, req: undefined, res: undefined }), name)
      for (const p of [2, 3, 4] as const) {
        cbs.addRequestFilter(
          p,
          (req) => this.run(p, i, { ses: req.session, req, res: undefined }),
          name,
        )
      }
      cbs.addForwardFilter(
        5,
        (req) => this.run(5, i, { ses: req.session, req, res: undefined }),
        name,
      )
      for (const p of [6, 7] as const) {
        cbs.addResponseFilter(p, (req, res) => this.run(p, i, { ses: req.session, req, res }), name)
      }
      cbs.addFinishFilter(8, (ses) => this.run(8, i, { ses, req: undefined, res: undefined }), name)
    }
  }

  /** Makes filter `filter` at `point` behave as told (until `reset()`). */
  set(point: CallbackPoint, behavior: Behavior, filter = 0): this {
    this.behaviors.set(`${point}:${filter}`, behavior)
    return this
  }

  /** Every filter back to GoOn; the call log emptied. */
  reset(): void {
    this.behaviors.clear()
    this.calls.length = 0
  }

  /** Calls of this module's filter `filter` at `point`. */
  callsAt(point: CallbackPoint, filter = 0): FilterCall[] {
    return this.calls.filter(
      (c) => c.module === this.name && c.point === point && c.filter === filter,
    )
  }

  count(point: CallbackPoint, filter = 0): number {
    return this.callsAt(point, filter).length
  }

  /** Point names reached by filter 0 of this module, in call order (e.g. for a single request). */
  trace(): string[] {
    return this.calls
      .filter((c) => c.module === this.name && c.filter === 0)
      .map((c) => CallbackPointName[c.point] ?? String(c.point))
  }

  private run(point: CallbackPoint, filter: number, ctx: FilterCtx): FilterReturn {
    const req = ctx.req
    this.calls.push({
      module: this.name,
      point,
      filter,
      seq: ++seqCounter,
      session: ctx.ses.seq,
      path: req?.path,
      backendPort: point === CallbackPoint.Forward ? req?.backend.backendPort : undefined,
      status: ctx.res?.statusCode,
    })
    if (this.tagResponses && point === CallbackPoint.ReadResponse && filter === 0) {
      ctx.res?.headers.set('X-Mod-Test-RR', this.name)
    }
    const b = this.behaviors.get(`${point}:${filter}`)
    if (b === undefined) return HandlerResult.GoOn
    const code = b.code ?? HandlerResult.GoOn
    if (b.async !== true) {
      b.act?.(ctx)
      return code
    }
    return new Promise<HandlerResult>((resolve) => {
      setTimeout(() => {
        b.act?.(ctx)
        resolve(code)
      }, 5)
    })
  }
}

/** An `act` that answers the request with a module-made response. */
export function respond(
  status: number,
  body: string,
  headers: string[] = [],
): (ctx: FilterCtx) => void {
  return ({ req }) => {
    if (req === undefined) return
    const res = textResponse(status, body)
    for (let i = 0; i + 1 < headers.length; i += 2) res.headers.set(headers[i]!, headers[i + 1]!)
    req.httpResponse = res
  }
}

/** An `act` that asks for a redirect (written when the filter returns Redirect). */
export function redirectTo(
  url: string,
  code: number,
  headers?: string[],
): (ctx: FilterCtx) => void {
  return ({ req }) => {
    if (req === undefined) return
    req.redirect = {
      url,
      code,
      headers: headers === undefined ? undefined : new HeaderList(headers),
    }
  }
}

/** Polls `pred` every 10 ms until it holds; rejects after `timeoutMs`. */
export async function waitFor(
  pred: () => boolean,
  timeoutMs = 2000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A parsed HTTP/1.x response read off a raw socket. */
export interface RawResponse {
  status: number
  /** The status line and headers exactly as received (without the blank line). */
  head: string
  /** Header values by lower-case name (repeated headers joined with `, `). */
  headers: Map<string, string>
  body: string
}

/**
 * A raw client connection for keep-alive, pipelining and close checks: write bytes, read whole
 * responses in order (Content-Length, chunked, or until close), watch for the close.
 */
export class RawClient extends SocketWatch {
  /** Every byte received (for "no bytes at all" checks). */
  received = 0
  private buf: Buffer = Buffer.alloc(0)

  private constructor(socket: Socket) {
    super(socket)
    socket.on('data', (c: Buffer) => {
      this.received += c.length
      this.buf = Buffer.concat([this.buf, c])
      this.wake()
    })
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1')
      s.on('error', () => {})
      s.once('connect', () => resolve(new RawClient(s)))
      s.once('close', () => reject(new Error('connection closed before connect')))
    })
  }

  write(data: string | Buffer): void {
    this.socket.write(data)
  }

  /** Bytes received but not consumed as responses yet. */
  pending(): string {
    return this.buf.toString('latin1')
  }

  /** Reads the next response (a 1xx counts as one). `head` = the request was HEAD. */
  async response(opts: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    const end = Date.now() + (opts.timeoutMs ?? 2000)
    for (;;) {
      const r = this.tryParse(opts.head === true)
      if (r !== undefined) return r
      if (this.closed)
        throw new Error(`connection closed; unparsed bytes: ${JSON.stringify(this.pending())}`)
      const left = end - Date.now()
      if (left <= 0) throw new Error(`no complete response; got ${JSON.stringify(this.pending())}`)
      await this.wait(left)
    }
  }

  private tryParse(head: boolean): RawResponse | undefined {
    const text = this.buf.toString('latin1')
    const hEnd = text.indexOf('\r\n\r\n')
    if (hEnd === -1) return undefined
    const headText = text.slice(0, hEnd)
    const lines = headText.split('\r\n')
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')
    if (m === null) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`)
    const status = Number(m[1])
    const headers = new Map<string, string>()
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':')
      if (i === -1) continue
      const k = l.slice(0, i).trim().toLowerCase()
      const v = l.slice(i + 1).trim()
      const old = headers.get(k)
      headers.set(k, old === undefined ? v : `${old}, ${v}`)
    }
    const start = hEnd + 4
    let bodyEnd: number
    let body: string
    const te = headers.get('transfer-encoding')
    const cl = headers.get('content-length')
    if (head || status < 200 || status === 204 || status === 304) {
      bodyEnd = start
      body = ''
    } else if (te !== undefined && /chunked/i.test(te)) {
      let p = start
      const parts: string[] = []
      for (;;) {
        const le = text.indexOf('\r\n', p)
        if (le === -1) return undefined
        const size = Number.parseInt(text.slice(p, le), 16)
        if (Number.isNaN(size)) throw new Error('bad chunk size')
        if (size === 0) {
          const tEnd = text.indexOf('\r\n\r\n', le)
          const direct = text.startsWith('\r\n', le + 2)
          if (direct) {
            bodyEnd = le + 4
          } else if (tEnd !== -1) {
            bodyEnd = tEnd + 4
          } else {
            return undefined
          }
          break
        }
        if (text.length < le + 2 + size + 2) return undefined
        parts.push(text.slice(le + 2, le + 2 + size))
        p = le + 2 + size + 2
      }
      body = parts.join('')
    } else if (cl !== undefined) {
      const n = Number(cl)
      if (text.length < start + n) return undefined
      bodyEnd = start + n
      body = text.slice(start, bodyEnd)
    } else {
      if (!this.closed) return undefined
      bodyEnd = text.length
      body = text.slice(start)
    }
    this.buf = this.buf.subarray(Buffer.byteLength(text.slice(0, bodyEnd), 'latin1'))
    return { status, head: headText, headers, body }
  }
}

/** A minimal HTTP/1.1 request text. */
export function reqText(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body = '',
  proto = 'HTTP/1.1',
): string {
  const h: Record<string, string> = { host: 'p.test', ...headers }
  if (body !== '' && h['content-length'] === undefined)
    h['content-length'] = String(Buffer.byteLength(body))
  const lines = Object.entries(h).map(([k, v]) => `${k}: ${v}`)
  return `${method} ${path} ${proto}\r\n${lines.join('\r\n')}\r\n\r\n${body}`
}
