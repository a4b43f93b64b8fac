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
}

/**
 * May a failed attempt be tried again on another backend (balancing.md §7)? A connect failure
 * always may; any other failure only at RetryLevel 1 for a GET without a body. A body that has
 * started to flow can never be replayed.
 */
export function retryAllowed(f: AttemptFailure, facts: RetryFacts): boolean {
  if (facts.hasBody && facts.bodyStarted) return false
  if (f.code === ErrCode.ConnectBackend) return true
  return facts.retryLevel === 1 && facts.method === 'GET' && !facts.hasBody
}
