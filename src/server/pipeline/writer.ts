import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import type { SwitchResponse } from '../../proxy/tunnel.js'

/**
 * How the pipeline answers a request, whatever the protocol: each engine (HTTP/1.1, HTTP/2)
 * implements it over its native response object. Header lists are flat `[name, value, ...]`
 * arrays; a writer drops what its protocol forbids (connection-level headers on HTTP/2).
 */
export interface ResponseWriter {
  /** Status and headers have been sent. */
  readonly headersSent: boolean
  /**
   * The client connection is meant to stay open after this response (HTTP/1 keep-alive asked
   * for and allowed, HTTP/2): the backend request's writes may then wait for the end of the
   * loop turn (util/write-batch.ts), which pays only while connections carry request after request.
   */
  readonly persistent: boolean
  /** `100 Continue` for a client that sent `Expect: 100-continue` (HTTP/1 only). */
  writeContinue(): void
  /** Arms the request-body read deadline (the cluster's TimeoutReadClient), disarmed at body end. */
  bodyDeadline(ms: number): void
  /**
   * Arms (epoch ms `at`) or disarms (0) the deadline for the backend's response header (the
   * cluster's TimeoutResponseHeader); when it passes, the writer calls the pipeline's
   * `headerTimeout()`. The writer keeps it with its connection's or stream's deadlines, so a
   * request costs no timer and no extra clock read.
   */
  headerDeadline(at: number): void
  /** Arms the response write deadline (the cluster's TimeoutWriteClient) at epoch ms `at`. */
  writeDeadline(at: number): void
  /** Keep-alive idle time after this request (the cluster's TimeoutReadClientAgain). */
  idleTimeout(ms: number): void
  /** Close the connection once this response is written (HTTP/1: `Connection: close`; HTTP/2: GOAWAY). */
  closeAfter(): void
  /**
   * Sends status and headers; the body follows with write/end. The first `checked` elements of
   * `headers` are known to be valid field syntax (HeaderList.checked); the rest are checked.
   */
  head(status: number, headers: string[], checked?: number): void
  /** A body chunk; false when the client is not draining (wait for `onceDrain`). */
  write(chunk: Buffer): boolean
  onceDrain(fn: () => void): void
  /** Ends the body (with trailers if the protocol can carry them). */
  end(trailers?: string[]): void
  /** Sends a complete response with an in-memory body (the writer leaves it out for HEAD). */
  respond(status: number, headers: string[], body: string | Buffer | undefined): void
  /** Sends status and headers, then streams `body`. */
  respondStream(status: number, headers: string[], body: Readable): void
  /** The response cannot be completed (the backend broke mid-body): the client must see a truncated response. */
  abort(): void
  /** Drops the connection now, without a response. */
  drop(): void
  /** Everything is done (HandleRequestFinish ran); `close` ends the connection. */
  done(close: boolean): void
  /**
   * WebSocket (HTTP/1.1 only; absent on writers that cannot switch): sends the backend's 101 and
   * joins the client connection to `upstream`, `upstreamHead` (bytes the backend sent after its
   * 101) first. Request deadlines stop. `ended` runs once both connections have closed.
   */
  switchProtocols?(
    res: SwitchResponse,
    upstream: Socket,
    upstreamHead: Buffer,
    ended: (err: Error | undefined) => void,
  ): void
}

/** Byte length of an in-memory body. */
export function bodyLength(body: string | Buffer | undefined): number {
  if (body === undefined) return 0
  return typeof body === 'string' ? Buffer.byteLength(body) : body.length
}

/** Statuses that never carry a body (1xx, 204, 304). */
export function noBodyStatus(code: number): boolean {
  return code === 204 || code === 304 || (code >= 100 && code < 200)
}
