import { ErrCode } from '../basic/error-code.js'
import type { AttemptFailure } from './errors.js'

/** BFE's bound on forwarding attempts per request (balancing included). */
export const MAX_ATTEMPTS = 20

/** What the retry decision looks at, besides the failure itself. */
export interface RetryFacts {
  /** The cluster's BackendConf.RetryLevel (0: connect failures only, 1: also idempotent GETs). */
  retryLevel: number
  method: string
  /** The request carries a body. */
  hasBody: boolean
  /** Some of that body has already been read (and sent): it cannot be sent again. */
  bodyStarted: boolean
  /**
   * The attempt went out on a reused keep-alive connection and no byte of a response arrived
   * before the connection closed.
   */
  reusedNoResponse: boolean
}

/** Methods RFC 9110 §9.2.2 calls idempotent. */
const IDEMPOTENT: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PUT',
  'DELETE',
])

/**
 * May a failed attempt be tried again (balancing.md §4)? A connect failure always may; any
 * other failure only at RetryLevel 1 for a GET without a body. A body that has started to flow
 * can never be replayed.
 *
 * Ours, whatever RetryLevel: a reused keep-alive connection that the backend closed before any
 * byte of the response (the backend timed the idle connection out as the request went out) may
 * be retried for an idempotent method without a body; the backend never saw the request.
 */
export function retryAllowed(f: AttemptFailure, facts: RetryFacts): boolean {
  if (facts.hasBody && facts.bodyStarted) return false
  if (f.code === ErrCode.ConnectBackend) return true
  if (
    !facts.hasBody &&
    f.connectionClosed &&
    facts.reusedNoResponse &&
    IDEMPOTENT.has(facts.method)
  )
    return true
  return facts.retryLevel === 1 && facts.method === 'GET' && !facts.hasBody
}
