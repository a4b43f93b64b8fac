import type { BfeRequest } from '../basic/request.js'
import type { BfeResponse } from '../basic/response.js'
import type { Session } from '../basic/session.js'
import { HandlerResult } from './callback-point.js'
import type { AcceptFilter, FilterReturn, RequestFilter, ResponseFilter } from './types.js'

/*
 * Filter runners. Each is an index loop that stays synchronous until a filter returns a thenable;
 * only then is a Promise created, and the loop resumes after it from the next filter. The chain
 * stops at the first result that is not GoOn.
 */

export function runAcceptFilters(list: readonly AcceptFilter[], ses: Session, i = 0): FilterReturn {
  for (; i < list.length; i++) {
    const r = list[i]!(ses)
    if (typeof r !== 'number')
      return r.then((v) => (v === HandlerResult.GoOn ? runAcceptFilters(list, ses, i + 1) : v))
    if (r !== HandlerResult.GoOn) return r
  }
  return HandlerResult.GoOn
}

export function runRequestFilters(
  list: readonly RequestFilter[],
  req: BfeRequest,
  i = 0,
): FilterReturn {
  for (; i < list.length; i++) {
    const r = list[i]!(req)
    if (typeof r !== 'number')
      return r.then((v) => (v === HandlerResult.GoOn ? runRequestFilters(list, req, i + 1) : v))
    if (r !== HandlerResult.GoOn) return r
  }
  return HandlerResult.GoOn
}

export function runResponseFilters(
  list: readonly ResponseFilter[],
  req: BfeRequest,
  res: BfeResponse | undefined,
  i = 0,
): FilterReturn {
  for (; i < list.length; i++) {
    const r = list[i]!(req, res)
    if (typeof r !== 'number') {
      return r.then((v) =>
        v === HandlerResult.GoOn ? runResponseFilters(list, req, res, i + 1) : v,
      )
    }
    if (r !== HandlerResult.GoOn) return r
  }
  return HandlerResult.GoOn
}
