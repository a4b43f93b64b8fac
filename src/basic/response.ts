import type { Readable, Transform } from 'node:stream'
import { HeaderList } from './header-list.js'

/** Body of a response: nothing, bytes in memory, or a stream (a backend body). */
export type ResponseBody = undefined | string | Buffer | Readable

/** A response on its way to the client: from a backend, a module, or BFE itself. */
export class BfeResponse {
  statusCode: number
  headers: HeaderList
  body: ResponseBody
  /** True when BFE or a module made this response (not a backend). */
  internal: boolean
  /** Body transforms added by modules (module/body.ts `transformResponseBody`), in order. */
  transforms: (() => Transform)[] | undefined

  constructor(statusCode: number, headers?: HeaderList, body?: ResponseBody, internal = true) {
    this.statusCode = statusCode
    this.headers = headers ?? new HeaderList()
    this.body = body
    this.internal = internal
    this.transforms = undefined
  }
}

/**
 * A BFE "internal response": status N, `Server: bfe`, empty body. The HTTP/1 writer adds
 * `Content-Type: text/plain; charset=utf-8`, `Date` and `Content-Length: 0`.
 */
export function internalResponse(statusCode: number): BfeResponse {
  return new BfeResponse(statusCode, new HeaderList(['Server', 'bfe']), undefined, true)
}

/** A module-built response with a body (text or bytes). */
export function textResponse(
  statusCode: number,
  body: string | Buffer,
  contentType = 'text/plain; charset=utf-8',
): BfeResponse {
  return new BfeResponse(
    statusCode,
    new HeaderList(['Server', 'bfe', 'Content-Type', contentType]),
    body,
    true,
  )
}
