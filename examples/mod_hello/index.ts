/**
 * mod_hello: a small example of a bfe-ts module written in TypeScript.
 *
 * - HandleFoundProduct: answers `GET /hello` itself (the request is never forwarded).
 * - HandleReadResponse: adds a header to every response, forwarded or not.
 * - A monitor handler `mod_hello` returns the module's counters.
 *
 * Its configuration is `<confRoot>/mod_hello/mod_hello.conf` (INI, the dialect of bfe.conf):
 *
 *   [Basic]
 *   Greeting = hello from mod_hello
 *   HeaderName = X-Hello
 *
 * Enable it with `Modules = mod_hello` in bfe.conf and pass it to `BfeServer.load()`.
 */
import { join } from 'node:path'
import type { BfeRequest } from '../../src/basic/request.js'
import { type BfeResponse, textResponse } from '../../src/basic/response.js'
import { readDataFile } from '../../src/config/data-file.js'
import { ini, parseIni } from '../../src/config/ini.js'
import { CallbackPoint, HandlerResult } from '../../src/module/callback-point.js'
import type { BfeModule, Callbacks, WebHandlers } from '../../src/module/types.js'

/** The keys of mod_hello.conf with their defaults. Unknown keys are load errors. */
const confSchema = {
  Basic: {
    Greeting: ini.string('hello'),
    HeaderName: ini.string('X-Hello'),
  },
} as const

/** What `/monitor/mod_hello` shows (counter names in BFE's upper-case style). */
export interface HelloCounters {
  HELLO_ANSWERED: number
  RESPONSE_HEADER_ADDED: number
}

export interface ModHello extends BfeModule {
  readonly counters: HelloCounters
}

/** Creates an instance of the module; each instance has its own counters. */
export function createModHello(): ModHello {
  const counters: HelloCounters = { HELLO_ANSWERED: 0, RESPONSE_HEADER_ADDED: 0 }
  // Set by init(); the filters read them on every request.
  let greeting = ''
  let headerName = ''

  // A request filter: returns Response after putting the response in req.httpResponse.
  // It returns a plain number, so the server stays on its synchronous path.
  function answerHello(req: BfeRequest): HandlerResult {
    if (req.path !== '/hello' || req.method !== 'GET') return HandlerResult.GoOn
    counters.HELLO_ANSWERED++
    req.httpResponse = textResponse(200, `${greeting} (product ${req.product})\n`)
    return HandlerResult.Response
  }

  // A response filter: sees backend responses, module responses and internal error responses.
  function addHeader(_req: BfeRequest, res: BfeResponse | undefined): HandlerResult {
    if (res === undefined) return HandlerResult.GoOn
    res.headers.set(headerName, 'mod_hello')
    counters.RESPONSE_HEADER_ADDED++
    return HandlerResult.GoOn
  }

  return {
    name: 'mod_hello',
    counters,
    init(cbs: Callbacks, web: WebHandlers, confRoot: string): void {
      // Any error thrown here (a missing file, a bad key) stops start-up, and `bfe -t` reports it.
      const file = join(confRoot, 'mod_hello', 'mod_hello.conf')
      const conf = parseIni(file, readDataFile(file), confSchema).values.Basic
      greeting = conf.Greeting
      headerName = conf.HeaderName

      cbs.addRequestFilter(CallbackPoint.FoundProduct, answerHello)
      cbs.addResponseFilter(CallbackPoint.ReadResponse, addHeader)
      web.registerMonitor('mod_hello', () => ({ ...counters }))
    },
  }
}

/** The instance to pass to `BfeServer.load({ modules: [modHello] })`. */
export const modHello: ModHello = createModHello()
