// Issue 16's parser choice: one typical keep-alive request head (what wrk sends, plus the fields of
// a browser request) parsed into method, target and a flat field list, with
//   - Node's own llhttp binding (`_http_common`'s HTTPParser, what src/server/engines/http1 uses),
//   - llhttp compiled to WebAssembly as undici ships it (node_modules/undici/lib/llhttp), driven
//     the way undici's client-h1.js drives it: the bytes copied into wasm memory, a callback per
//     span, strings made from the spans.
import { createRequire } from 'node:module'
import { bench, do_not_optimize, group, summary } from 'mitata'
import {
  HTTPParser,
  kOnHeadersComplete,
  kOnMessageComplete,
  LENIENT_NONE,
  METHODS,
  PARSER_RESOURCE,
} from '../../src/server/engines/http1/parser.js'
import { runIfMain } from './util.js'

const require = createRequire(import.meta.url)

/** The part of the WebAssembly global used here (the project's lib settings do not declare it). */
interface WasmApi {
  Module: new (bytes: Buffer) => object
  Instance: new (
    mod: object,
    imports: Record<string, Record<string, (...a: number[]) => number>>,
  ) => { exports: unknown }
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly

const HEADS = {
  'wrk (2 fields)': 'GET / HTTP/1.1\r\nHost: localhost:19104\r\n\r\n',
  'browser (10 fields)':
    'GET /api/items/42?q=1 HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: session=0123456789abcdef; theme=dark; lang=en\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nCache-Control: max-age=0\r\n\r\n',
}

let seen = 0

/** Node's binding: the fields arrive as one array of strings with the head. */
function nodeParser(): (b: Buffer) => void {
  const p = new HTTPParser()
  p[kOnHeadersComplete] = (
    _maj: number,
    _min: number,
    fields: string[],
    method: number,
    url: string,
  ): number => {
    seen += fields.length + (METHODS[method] as string).length + url.length
    return 0
  }
  p[kOnMessageComplete] = () => {}
  p.initialize(HTTPParser.REQUEST, PARSER_RESOURCE, 64 * 1024, LENIENT_NONE)
  return (b) => {
    p.execute(b)
  }
}

interface LlhttpWasm {
  memory: { buffer: ArrayBuffer }
  malloc(n: number): number
  llhttp_alloc(type: number): number
  llhttp_execute(p: number, at: number, len: number): number
  llhttp_get_method(p: number): number
}

/** undici's wasm build, driven as undici drives it (span callbacks, strings made per span). */
function wasmParser(): (b: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0)
  let base = 0
  let fields: string[] = []
  let url = ''
  const span = (at: number, len: number): string =>
    buf.toString('latin1', at - base, at - base + len)
  const mod = new WA.Module(require('undici/lib/llhttp/llhttp-wasm.js') as Buffer)
  let inst: LlhttpWasm | undefined
  let ptr = 0
  const instance = new WA.Instance(mod, {
    env: {
      wasm_on_url: (_p: number, at: number, len: number) => {
        url = span(at, len)
        return 0
      },
      wasm_on_status: () => 0,
      wasm_on_message_begin: () => {
        fields = []
        return 0
      },
      wasm_on_header_field: (_p: number, at: number, len: number) => {
        fields.push(span(at, len))
        return 0
      },
      wasm_on_header_value: (_p: number, at: number, len: number) => {
        fields.push(span(at, len))
        return 0
      },
      wasm_on_headers_complete: () => {
        const m = (inst as LlhttpWasm).llhttp_get_method(ptr)
        seen += fields.length + (METHODS[m] ?? '').length + url.length
        return 0
      },
      wasm_on_body: () => 0,
      wasm_on_message_complete: () => 0,
    },
  })
  inst = instance.exports as unknown as LlhttpWasm
  const w = inst
  ptr = w.llhttp_alloc(1)
  const size = 64 * 1024
  base = w.malloc(size)
  return (b) => {
    new Uint8Array(w.memory.buffer, base, b.length).set(b)
    buf = b
    w.llhttp_execute(ptr, base, b.length)
  }
}

for (const [name, text] of Object.entries(HEADS)) {
  const head = Buffer.from(text, 'latin1')
  group(`parse a request head: ${name}`, () => {
    summary(() => {
      const n = nodeParser()
      bench("Node's llhttp binding (_http_common HTTPParser)", () => {
        n(head)
        do_not_optimize(seen)
      })
      const w = wasmParser()
      bench("llhttp wasm (undici's build)", () => {
        w(head)
        do_not_optimize(seen)
      })
    })
  })
}

await runIfMain(import.meta.url)
