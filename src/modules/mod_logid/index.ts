import { randomFillSync } from 'node:crypto'
import type { BfeRequest } from '../../basic/request.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import type { BfeModule, ExplainStep } from '../../module/types.js'

/** The request header carrying the log id to the backend (and from an upstream BFE). */
export const HEADER_LOG_ID = 'X-Bfe-Log-Id'

/**
 * Random ids are drawn from a pool refilled 256 ids at a time: one syscall and one hex encoding
 * per refill, and each id a 32-character slice of the encoded pool (no call into C++ per id).
 */
const POOL_IDS = 256
const pool = Buffer.alloc(16 * POOL_IDS)
let poolHex = ''
let poolAt = POOL_IDS

/** 32 lowercase hex characters from 16 random bytes. */
export function genLogId(): string {
  if (poolAt === POOL_IDS) {
    randomFillSync(pool)
    poolHex = pool.toString('hex')
    poolAt = 0
  }
  const off = 32 * poolAt++
  return poolHex.slice(off, off + 32)
}

/** The X-Bfe-Log-Id a request keeps: the one it came with on a trusted session, else undefined. */
export function upperLogId(req: BfeRequest): string | undefined {
  if (!req.session.isTrustIp) return undefined
  const upper = req.headers.get(HEADER_LOG_ID)
  return upper === undefined || upper === '' ? undefined : upper
}

/**
 * mod_logid: every session gets a random id at HandleAccept, and every request a random log id at
 * HandleBeforeLocation, sent to the backend as X-Bfe-Log-Id (replacing one the client sent). A
 * request on a session trusted by mod_trust_clientip keeps the X-Bfe-Log-Id it came with.
 */
export function createModLogId(): BfeModule {
  return {
    name: 'mod_logid',
    explain(req, point): ExplainStep | undefined {
      if (point !== CallbackPoint.BeforeLocation) return undefined
      const kept = upperLogId(req)
      if (kept !== undefined) {
        req.logId = kept
        return {
          summary: `keeps ${HEADER_LOG_ID} ${kept} (trusted client)`,
          detail: { logId: kept, random: false },
        }
      }
      // A new id is random: explain draws none, so the header is left as it is.
      return {
        summary: `sets a new random ${HEADER_LOG_ID}`,
        detail: { logId: null, random: true },
      }
    },
    init(ctx: ModuleContext): void {
      const c = ctx.metrics(['NO_LOGID_FROM_UPPER_BFE'] as const)
      ctx.callbacks.addAcceptFilter(
        CallbackPoint.Accept,
        function sessionId(ses) {
          ses.id = genLogId()
          return HandlerResult.GoOn
        },
        'sessionId',
      )
      ctx.callbacks.addRequestFilter(
        CallbackPoint.BeforeLocation,
        function requestId(req) {
          if (req.session.isTrustIp) {
            const upper = upperLogId(req)
            if (upper !== undefined) {
              req.logId = upper
              return HandlerResult.GoOn
            }
            c.NO_LOGID_FROM_UPPER_BFE++
          }
          const id = genLogId()
          req.logId = id
          // a constant name and 32 hex digits: no field check needed when it is appended
          req.headers.set(HEADER_LOG_ID, id, true)
          return HandlerResult.GoOn
        },
        'requestId',
      )
    },
  }
}
