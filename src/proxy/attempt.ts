import type { Readable } from 'node:stream'
import type { HeaderRun } from '../basic/header-list.js'

/**
 * One attempt to a backend as the pipeline drives it: an HTTP request (`ForwardAttempt`) or a
 * WebSocket handshake (`TunnelAttempt`, proxy/tunnel.ts).
 */
export interface UpstreamAttempt {
  /** The backend's response header has arrived. */
  readonly gotHeaders: boolean
  /** The attempt has ended: its response is complete, or it failed or was aborted. */
  readonly finished: boolean
  /** Stops the attempt; the sink hears `upstreamError` unless the attempt had already ended. */
  abort(err: Error): void
  /** Lets a held response body flow again. */
  resume(): void
}

/** What the request pipeline hears from one attempt to a backend. */
export interface ForwardSink {
  /**
   * The backend's final response header (1xx are skipped), hop-by-hop headers removed. Return
   * false to hold the body until `attempt.resume()`. `checked`: how many leading elements of
   * `headers` a strict parser produced unchanged (HeaderList.checked); 0 when unknown.
   */
  upstreamHeaders(
    attempt: UpstreamAttempt,
    status: number,
    headers: string[],
    checked?: number,
  ): boolean
  /** A body chunk. Return false when the client cannot take more now (then `resume()` later). */
  upstreamData(attempt: UpstreamAttempt, chunk: Buffer): boolean
  /** The body is complete; trailers as a flat list (usually empty). */
  upstreamEnd(attempt: UpstreamAttempt, trailers: string[]): void
  /** The attempt failed; `gotHeaders` tells whether the response had started. */
  upstreamError(attempt: UpstreamAttempt, err: Error, gotHeaders: boolean): void
}

/** The request as it goes to a backend. */
export interface ForwardRequest {
  method: string
  /** Origin-form request-target. */
  path: string
  headers: string[]
  /**
   * How many leading elements of `headers` are known to be valid field syntax (copies of fields
   * a strict parser produced): the HTTP/1.1 pool checks only the others. Absent: none.
   */
  checked?: number
  /** A run of fields that `headers` may hold (HeaderList.run), written as its ready text. */
  run?: HeaderRun | undefined
  body: Readable | null
  /**
   * The request's writes to the backend may wait for the end of the loop turn
   * (util/write-batch.ts): the pipeline sets it for clients on persistent connections.
   */
  holdWrites?: boolean
}

/**
 * What every HTTP attempt to a backend shares, whichever client carries it (undici's pools in
 * forward.ts, our HTTP/1.1 pools in h1-pool.ts): the pipeline reads these fields to decide on the
 * keep-alive race retry (retry.ts).
 */
export class ForwardAttempt implements UpstreamAttempt {
  protected readonly sink: ForwardSink
  gotHeaders: boolean
  finished: boolean
  /**
   * The request went out on a connection that had carried earlier requests (false for a
   * connection opened for this request).
   */
  reused: boolean
  /**
   * Milliseconds the attempt's connection took to connect (0 on a reused connection), -1 when
   * not measured (the undici transports).
   */
  connectMs: number
  /** Some byte of a response (an interim 1xx included) has arrived. */
  responseStarted: boolean
  /** The final status, once the header has arrived (0 before). */
  status: number

  constructor(sink: ForwardSink) {
    this.sink = sink
    this.gotHeaders = false
    this.finished = false
    this.reused = false
    this.connectMs = -1
    this.responseStarted = false
    this.status = 0
  }

  /** Stops the attempt; the sink hears `upstreamError` unless the attempt had already ended. */
  abort(_err: Error): void {}

  /** Holds the backend's body (backpressure). */
  pause(): void {}

  /** Lets the body flow again. */
  resume(): void {}
}
