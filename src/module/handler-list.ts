import type { BfeRequest } from '../basic/request.js'
import type { BfeResponse } from '../basic/response.js'
import type { Session } from '../basic/session.js'
import { HandlerResult } from './callback-point.js'
import type { AcceptFilter, FilterReturn, RequestFilter, ResponseFilter } from './types.js'

/** Which filter threw: set on the error object by the runners (read on the error path only). */
export const kFailedFilter: unique symbol = Symbol('bfe.failedFilter')
export interface FailedFilter {
  readonly list: readonly unknown[]
  readonly index: number
}

/** Marks `err` with the filter that threw or rejected (first mark wins), and returns it. */
function mark(err: unknown, list: readonly unknown[], index: number): unknown {
  if (typeof err === 'object' && err !== null && !(kFailedFilter in err))
    (err as { [kFailedFilter]?: FailedFilter })[kFailedFilter] = { list, index }
  return err
}

/*
 * Filter runners. Each is an index loop that stays synchronous until a filter returns a thenable;
 * only then is a Promise created, and the loop resumes after it from the next filter. The chain
 * stops at the first result that is not GoOn. An error thrown (or a rejection) is marked with
 * the filter it came from, so the log can name the module and the filter.
 */

export function runAcceptFilters(list: readonly AcceptFilter[], ses: Session, i = 0): FilterReturn {
  try {
    for (; i < list.length; i++) {
      const r = list[i]!(ses)
      if (typeof r !== 'number') {
        const at = i
        return r.then(
          (v) => (v === HandlerResult.GoOn ? runAcceptFilters(list, ses, at + 1) : v),
          (err: unknown) => Promise.reject(mark(err, list, at)),
        )
      }
      if (r !== HandlerResult.GoOn) return r
    }
  } catch (err) {
    throw mark(err, list, i)
  }
  return HandlerResult.GoOn
}

export function runRequestFilters(
  list: readonly RequestFilter[],
  req: BfeRequest,
  i = 0,
): FilterReturn {
  try {
    for (; i < list.length; i++) {
      const r = list[i]!(req)
      if (typeof r !== 'number') {
        const at = i
        return r.then(
          (v) => (v === HandlerResult.GoOn ? runRequestFilters(list, req, at + 1) : v),
          (err: unknown) => Promise.reject(mark(err, list, at)),
        )
      }
      if (r !== HandlerResult.GoOn) return r
    }
  } catch (err) {
    throw mark(err, list, i)
  }
  return HandlerResult.GoOn
}

export function runResponseFilters(
  list: readonly ResponseFilter[],
  req: BfeRequest,
  res: BfeResponse | undefined,
  i = 0,
): FilterReturn {
  try {
    for (; i < list.length; i++) {
      const r = list[i]!(req, res)
      if (typeof r !== 'number') {
        const at = i
        return r.then(
          (v) => (v === HandlerResult.GoOn ? runResponseFilters(list, req, res, at + 1) : v),
          (err: unknown) => Promise.reject(mark(err, list, at)),
        )
      }
      if (r !== HandlerResult.GoOn) return r
    }
  } catch (err) {
    throw mark(err, list, i)
  }
  return HandlerResult.GoOn
}
