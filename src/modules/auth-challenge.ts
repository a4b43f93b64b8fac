import type { BfeRequest } from '../basic/request.js'
import { internalResponse } from '../basic/response.js'
import { HandlerResult } from '../module/callback-point.js'

/**
 * Answers `req` with 401 and `WWW-Authenticate: <challenge>` (a rule's `Basic realm=...` or
 * `Bearer realm=...`): the refusal of the authentication modules, from their filters and their
 * explain hooks alike.
 */
export function challenge401(req: BfeRequest, challenge: string): HandlerResult {
  const res = internalResponse(401)
  res.headers.set('WWW-Authenticate', challenge)
  req.httpResponse = res
  return HandlerResult.Response
}
