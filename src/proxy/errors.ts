import { ErrCode } from '../basic/error-code.js'

/*
 * The one place that decides which status a client sees for each request error code
 * (decisions.md D8), and how an upstream error is classified.
 */

/**
 * Status a client gets for a request that failed with `code` (D8): 502 for transport failures,
 * 504 for a response-header timeout, 503 when no backend could be chosen; lookup failures and
 * everything else keep BFE's 500. `compat` (`CompatErrorStatus = true`) gives 500 for all.
 */
export function statusForError(code: string, compat: boolean): number {
  if (compat) return 500
  switch (code) {
    case ErrCode.ConnectBackend:
    case ErrCode.WriteRequest:
    case ErrCode.ReadRespHeader:
    case ErrCode.TransportBroken:
      return 502
    case ErrCode.RespHeaderTimeout:
      return 504
    case ErrCode.NoSubCluster:
    case ErrCode.GslbBlackhole:
    case ErrCode.NoBackend:
    case ErrCode.NoSubClusterCross:
      return 503
    default:
      return 500
  }
}

/** True for codes after which BFE closes the client connection once the reply is written. */
export function closesConnection(code: string): boolean {
  return code === ErrCode.FindProduct || code === ErrCode.FindLocation || code === ErrCode.NoCluster
}

/** What went wrong on one attempt to a backend, as the retry logic needs it. */
export interface AttemptFailure {
  code: ErrCode
  msg: string
  /** Counts as a backend failure for passive health checking. */
  backendFault: boolean
}

const CONNECT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
])

/**
 * Classifies an upstream error raised before a response header arrived. `wroteRequest` tells
 * whether the request had been handed to a connection (so a reset is not a connect failure).
 */
export function classifyUpstreamError(err: unknown, clientBodyFailed: boolean): AttemptFailure {
  const code = errorCode(err)
  const msg = err instanceof Error ? err.message : String(err)
  if (CONNECT_CODES.has(code)) return { code: ErrCode.ConnectBackend, msg, backendFault: true }
  if (code === 'UND_ERR_HEADERS_TIMEOUT')
    return { code: ErrCode.RespHeaderTimeout, msg, backendFault: true }
  if (clientBodyFailed || code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    return { code: ErrCode.WriteRequest, msg, backendFault: !clientBodyFailed }
  }
  if (
    code.startsWith('HPE_') ||
    code === 'UND_ERR_INFO' ||
    (err instanceof Error && err.name === 'HTTPParserError')
  ) {
    return { code: ErrCode.ReadRespHeader, msg, backendFault: true }
  }
  if (code === 'EPIPE') return { code: ErrCode.WriteRequest, msg, backendFault: true }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') {
    return { code: ErrCode.ReadRespHeader, msg, backendFault: true }
  }
  return { code: ErrCode.TransportBroken, msg, backendFault: false }
}

function errorCode(err: unknown): string {
  if (typeof err !== 'object' || err === null) return ''
  const c = (err as { code?: unknown }).code
  if (typeof c === 'string') return c
  const cause = (err as { cause?: unknown }).cause
  return cause === undefined ? '' : errorCode(cause)
}
