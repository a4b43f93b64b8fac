import { createRequire } from 'node:module'

/*
 * Node's own HTTP/1 parser binding (llhttp compiled into Node, the parser node:http uses), loaded
 * from the public legacy module `_http_common`. Used by the HTTP/1 engine for request heads and by
 * the upstream pool (proxy/h1-client.ts) for response heads. Nothing here parses HTTP by hand.
 */

/** The llhttp parser object of `_http_common` (native; callbacks are indexed properties). */
export interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  /** Bytes consumed, or an Error with `code` (`HPE_*`) and `bytesParsed`. */
  execute(data: Buffer): number | ParseError
  /** End of input (a response read to EOF): the message completes, or an Error. */
  finish(): number | ParseError | undefined
  remove(): void
  free(): void
  /** Reads `handle` natively: each read is parsed, then `kOnExecute` gets the result. */
  consume(handle: object): void
  unconsume(): void
  /** A copy of the read being parsed natively (inside `kOnExecute`). */
  getCurrentBuffer(): Buffer
  [slot: number]: unknown
}

export interface ParseError extends Error {
  code?: string
  bytesParsed?: number
  reason?: string
}

interface HttpCommon {
  HTTPParser: {
    new (): NativeParser
    readonly REQUEST: number
    readonly RESPONSE: number
    readonly kOnMessageBegin: number
    readonly kOnHeaders: number
    readonly kOnHeadersComplete: number
    readonly kOnBody: number
    readonly kOnMessageComplete: number
    readonly kOnExecute: number
    readonly kLenientNone: number
  }
  methods: readonly string[]
}

const common = createRequire(import.meta.url)('_http_common') as HttpCommon

export const HTTPParser = common.HTTPParser
/** llhttp's method names by index (the `method` argument of the headers-complete callback). */
export const METHODS = common.methods

/**
 * Not a callback of ours, but set (to undefined) on every parser: the binding looks the slot up
 * at every message, and an absent slot sends that lookup through the prototype chain.
 */
export const kOnMessageBegin = HTTPParser.kOnMessageBegin
export const kOnHeaders = HTTPParser.kOnHeaders
export const kOnHeadersComplete = HTTPParser.kOnHeadersComplete
export const kOnBody = HTTPParser.kOnBody
export const kOnMessageComplete = HTTPParser.kOnMessageComplete
export const kOnExecute = HTTPParser.kOnExecute
export const LENIENT_NONE = HTTPParser.kLenientNone

/**
 * The async resource node:http gives each parser (for async_hooks); ours are not traced, one
 * shared object serves every parser.
 */
export const PARSER_RESOURCE = Object.freeze({})

/** Header fields llhttp hands over per callback; more arrive through `kOnHeaders` first. */
export const PARSER_FLUSH_FIELDS = 32

/**
 * The fields of a complete head: those llhttp flushed early through `kOnHeaders` (heads of more
 * than PARSER_FLUSH_FIELDS fields), kept in `holder.fields`, followed by the final ones. Clears
 * the holder.
 */
export function completeFields(
  holder: { fields: string[] | undefined },
  last: string[] | undefined,
): string[] {
  const early = holder.fields
  if (early === undefined) return last ?? []
  holder.fields = undefined
  if (last !== undefined) for (const f of last) early.push(f)
  return early
}

export function isParseError(r: unknown): r is ParseError {
  return typeof r === 'object' && r !== null
}
