import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import type { BfeModule } from '../../module/types.js'

const COUNTERS = ['ALL2_X_X', 'ALL3_X_X', 'ALL4_X_X', 'ALL5_X_X'] as const

/**
 * mod_http_code: at HandleRequestFinish, counts the status class of the response the request
 * ended with (backend, module, redirect or internal response). Requests that ended without a
 * response (dropped by a filter's Close, client gone before an answer) and 1xx are not counted.
 */
export function createModHttpCode(): BfeModule {
  return {
    name: 'mod_http_code',
    init(ctx: ModuleContext): void {
      const c = ctx.metrics(COUNTERS)
      ctx.callbacks.addResponseFilter(
        CallbackPoint.RequestFinish,
        function countCode(req) {
          const res = req.httpResponse
          if (res === undefined) return HandlerResult.GoOn
          const cls = (res.statusCode / 100) | 0
          if (cls === 2) c.ALL2_X_X++
          else if (cls === 3) c.ALL3_X_X++
          else if (cls === 4) c.ALL4_X_X++
          else if (cls === 5) c.ALL5_X_X++
          return HandlerResult.GoOn
        },
        'countCode',
      )
    },
  }
}
