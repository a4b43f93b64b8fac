/**
 * mod_hello: a small example of a bfe-ts module written in TypeScript, against the public API
 * (`bfe-ts`) only.
 *
 * - HandleFoundProduct: answers `GET /hello` (path compared after cleaning, so `//hello` and
 *   `/x/../hello` count too) itself; the request is never forwarded.
 * - HandleReadResponse: adds a header to every response, forwarded or not.
 * - Counters at `/monitor/mod_hello` on the monitor port; `/reload/mod_hello` re-reads the
 *   greeting.
 *
 * Its configuration is `<confRoot>/mod_hello/mod_hello.conf` (INI, the dialect of bfe.conf):
 *
 *   [Basic]
 *   Greeting = hello from mod_hello
 *   HeaderName = X-Hello
 *
 * Compiled to JavaScript, it is loaded by the stock `bfe` with two lines in bfe.conf:
 *
 *   ModuleFile = path/to/mod_hello/index.js
 *   Modules = mod_hello
 */
import {
  type BfeModule,
  type BfeRequest,
  type BfeResponse,
  CallbackPoint,
  cleanPath,
  HandlerResult,
  ini,
  type ModuleContext,
  textResponse,
} from 'bfe-ts'

/** The keys of mod_hello.conf with their defaults. Unknown keys are load errors. */
const confSchema = {
  Basic: {
    Greeting: ini.string('hello'),
    HeaderName: ini.string('X-Hello'),
  },
} as const

/** Creates an instance of the module; each instance has its own state. */
export function createModHello(): BfeModule {
  return {
    name: 'mod_hello',
    init(ctx: ModuleContext): void {
      // Any error thrown here (a missing file, a bad key) stops start-up, and `bfe -t` reports it.
      const counters = ctx.metrics(['HELLO_ANSWERED', 'RESPONSE_HEADER_ADDED'])
      const conf = ctx.reloadable('mod_hello', ctx.confPath, (file) => {
        const c = ctx.readConf(confSchema, file).Basic
        if (c.HeaderName === '') throw new Error(`${file}: [Basic] HeaderName must not be empty`)
        return { value: c, version: c.Greeting }
      })

      // A request filter: returns Response after putting the response in req.httpResponse.
      // It returns a plain number, so the server stays on its synchronous path.
      function answerHello(req: BfeRequest): HandlerResult {
        if (req.method !== 'GET' || cleanPath(req.path) !== '/hello') return HandlerResult.GoOn
        counters.HELLO_ANSWERED++
        req.httpResponse = textResponse(200, `${conf.value.Greeting} (product ${req.product})\n`)
        return HandlerResult.Response
      }

      // A response filter: sees backend responses, module responses and internal error responses.
      function addHeader(_req: BfeRequest, res: BfeResponse | undefined): HandlerResult {
        if (res === undefined) return HandlerResult.GoOn
        res.headers.set(conf.value.HeaderName, 'mod_hello')
        counters.RESPONSE_HEADER_ADDED++
        return HandlerResult.GoOn
      }

      ctx.callbacks.addRequestFilter(CallbackPoint.FoundProduct, answerHello)
      ctx.callbacks.addResponseFilter(CallbackPoint.ReadResponse, addHeader)
    },
  }
}

/** What `ModuleFile` loads: the default export (a module or an array of modules). */
export default createModHello()
