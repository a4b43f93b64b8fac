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
  /**
   * Counts as a backend failure for passive health checking: the backend could not be reached
   * (connect failure) or did not answer in time (response-header timeout). A failure after the
   * backend took the request (it closed or reset the connection, answered something that is not
   * HTTP) is specific to that request and does not count (docs/differences-from-bfe.md).
   */
  backendFault: boolean
  /**
   * The backend connection was closed or reset under the request (not a timeout, not a malformed
   * answer): on a reused keep-alive connection before any response byte, that is the keep-alive
   * race, safe to retry on a fresh connection for an idempotent request (retry.ts).
   */
  connectionClosed: boolean
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
 * OpenSSL's certificate verification results as Node reports them in `err.code` (tls docs, "X509
 * certificate error codes"), and Node's own name mismatch.
 */
const TLS_VERIFY_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/**
 * A failed TLS handshake with an `https` backend: the certificate did not verify, or OpenSSL failed
 * the handshake (`ERR_SSL_*`: an alert from the backend, such as a refused client certificate, or
 * a backend that does not speak TLS). BFE dials and handshakes in one step, so these are connect
 * failures there (`BK_CONNECT_BACKEND`); the backend never saw the request.
 */
function tlsHandshakeFailure(code: string): boolean {
  return TLS_VERIFY_CODES.has(code) || code.startsWith('ERR_SSL_')
}

/**
 * Classifies an upstream error raised before a response header arrived. `wroteRequest` tells
 * whether the request had been handed to a connection (so a reset is not a connect failure).
 */
export function classifyUpstreamError(err: unknown, clientBodyFailed: boolean): AttemptFailure {
  const code = errorCode(err)
  const msg = err instanceof Error ? err.message : String(err)
  if (CONNECT_CODES.has(code) || tlsHandshakeFailure(code))
    return failure(ErrCode.ConnectBackend, msg, true, false)
  if (code === 'UND_ERR_HEADERS_TIMEOUT')
    return failure(ErrCode.RespHeaderTimeout, msg, true, false)
  if (clientBodyFailed || code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH')
    return failure(ErrCode.WriteRequest, msg, false, false)
  if (
    code.startsWith('HPE_') ||
    code === 'UND_ERR_INFO' ||
    code === 'BFE_BAD_RESPONSE' ||
    (err instanceof Error && err.name === 'HTTPParserError')
  ) {
    return failure(ErrCode.ReadRespHeader, msg, false, false)
  }
  if (code === 'EPIPE') return failure(ErrCode.WriteRequest, msg, false, true)
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'ECONNABORTED') {
    // undici's "bad response" (bytes that are not a response, an unexpected 101) is a
    // SocketError too, but it is no connection close.
    const closed = !(code === 'UND_ERR_SOCKET' && /^bad /.test(msg))
    return failure(ErrCode.ReadRespHeader, msg, false, closed)
  }
  return failure(ErrCode.TransportBroken, msg, false, false)
}

function failure(
  code: ErrCode,
  msg: string,
  backendFault: boolean,
  connectionClosed: boolean,
): AttemptFailure {
  return { code, msg, backendFault, connectionClosed }
}

function errorCode(err: unknown): string {
  if (typeof err !== 'object' || err === null) return ''
  const c = (err as { code?: unknown }).code
  if (typeof c === 'string') return c
  const cause = (err as { cause?: unknown }).cause
  return cause === undefined ? '' : errorCode(cause)
}
