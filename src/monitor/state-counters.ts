/**
 * Counter groups of the protocol layers that BFE shows as their own endpoints (`http_state`,
 * `websocket_state`, `stream_state`, `proxy_protocol_state`, `spdy_state`), every name at 0 from
 * start-up. One `StateCounters` object per server (`BfeServer.counters.state`); the code of each
 * protocol increments its group in place.
 */

/** `/monitor/http_state`: the backend side of HTTP forwarding. */
export interface HttpStateCounters {
  HTTP_BACKEND_CONN_ALL: number
  HTTP_BACKEND_CONN_SUCC: number
  HTTP_BACKEND_REQ_ALL: number
  HTTP_BACKEND_REQ_SUCC: number
  HTTP_CANCEL_ON_CLIENT_CLOSE: number
  HTTP_PANIC_BACKEND_READ: number
  HTTP_PANIC_BACKEND_WRITE: number
  HTTP_PANIC_CLIENT_FLUSH_LOOP: number
  HTTP_PANIC_CLIENT_WATCH_LOOP: number
}

/** `/monitor/websocket_state`. */
export interface WebSocketStateCounters {
  /** Bytes from clients to backends through tunnels. */
  WEB_SOCKET_BYTES_RECV: number
  /** Bytes from backends to clients through tunnels. */
  WEB_SOCKET_BYTES_SENT: number
  /** The backend answered the handshake with something other than a WebSocket 101. */
  WEB_SOCKET_ERR_BACKEND_REJECT: number
  /** The balancer found no backend for an attempt. */
  WEB_SOCKET_ERR_BALANCE: number
  /** Dialling a backend failed (refused, timed out, TLS). */
  WEB_SOCKET_ERR_CONNECT: number
  /** The handshake with a connected backend failed (write, read, reject, timeout). */
  WEB_SOCKET_ERR_HANDSHAKE: number
  /** A handshake ended without a backend to talk to (every attempt failed). */
  WEB_SOCKET_ERR_PROXY: number
  /** A tunnel ended with an error on either side. */
  WEB_SOCKET_ERR_TRANSFER: number
  /** An unexpected exception while setting up a tunnel. */
  WEB_SOCKET_PANIC_CONN: number
}

/** `/monitor/stream_state` (TLS stream proxy). */
export interface StreamStateCounters {
  /** Bytes from clients relayed to backends. */
  STREAM_BYTES_RECV: number
  /** Bytes from backends relayed to clients. */
  STREAM_BYTES_SENT: number
  /** An attempt found no backend (product, route, cluster or balancer failed). */
  STREAM_ERR_BALANCE: number
  /** An attempt could not connect to its backend in time. */
  STREAM_ERR_CONNECT: number
  /** Every attempt failed: the client connection is closed. */
  STREAM_ERR_PROXY: number
  /** A tunnel ended with an error on either side. */
  STREAM_ERR_TRANSFER: number
  /** An unexpected exception while serving a stream connection. */
  STREAM_PANIC_CONN: number
}

/** `/monitor/proxy_protocol_state` (PROXY protocol header on accepted connections). */
export interface ProxyProtocolStateCounters {
  /** The header could not be read: closed, timed out or over MaxProxyHeaderBytes. */
  PROXY_ERR_READ_HEADER: number
  /** No PROXY signature (a plain connection, served as is). */
  PROXY_ERR_NO_PROXY_PROTOCOL: number
  PROXY_MATCHED_V1_SIGNATURE: number
  PROXY_MATCHED_V2_SIGNATURE: number
  PROXY_ERR_INVALID_HEADER: number
  PROXY_NORMAL_V1_HEADER: number
  PROXY_NORMAL_V2_HEADER: number
}

/**
 * `/monitor/spdy_state`. SPDY is out of scope (decisions.md D19): BFE's names, always 0, so a
 * dashboard built for BFE finds them.
 */
export interface SpdyStateCounters {
  SPDY_TIMEOUT_CONN: number
  SPDY_TIMEOUT_READ_STREAM: number
  SPDY_TIMEOUT_WRITE_STREAM: number
  SPDY_ERR_GOT_RESET: number
  SPDY_ERR_FLOW_CONTROL: number
  SPDY_ERR_STREAM_ALREADY_CLOSED: number
  SPDY_ERR_STREAM_CANCEL: number
  SPDY_ERR_INVALID_DATA_STREAM: number
  SPDY_ERR_INVALID_SYN_STREAM: number
  SPDY_ERR_MAX_STREAM_PER_CONN: number
  SPDY_ERR_BAD_REQUEST: number
  SPDY_ERR_NEW_FRAMER: number
  SPDY_UNKNOWN_FRAME: number
  SPDY_PANIC_CONN: number
  SPDY_PANIC_STREAM: number
  SPDY_REQ_HEADER_COMPRESS_SIZE: number
  SPDY_REQ_HEADER_ORIGINAL_SIZE: number
  SPDY_RES_HEADER_COMPRESS_SIZE: number
  SPDY_RES_HEADER_ORIGINAL_SIZE: number
  SPDY_CONN_OVERLOAD: number
  SPDY_REQ_OVERLOAD: number
}

/**
 * The protocol-layer groups of one server. Who increments what:
 * - `http`: the pipeline (backend requests, cancels) and TransportPools (backend connections);
 * - `websocket`: the WebSocket tunnel (bytes both ways, handshake/balance/connect/transfer
 *   errors); the upgrade also moves the connection in proxy_state with
 *   `countConnProtocol(counters, secure ? 'wss' : 'ws', conn.proto)` (server/runtime.ts);
 * - `stream`: the TLS stream tunnel (bytes, balance/connect/proxy/transfer errors);
 * - `proxyProtocol`: the PROXY header reader of the acceptor (signature matched, header read,
 *   invalid, missing);
 * - `spdy`: nobody (out of scope).
 */
export interface StateCounters {
  readonly http: HttpStateCounters
  readonly websocket: WebSocketStateCounters
  readonly stream: StreamStateCounters
  readonly proxyProtocol: ProxyProtocolStateCounters
  readonly spdy: SpdyStateCounters
}

export function newWebSocketStateCounters(): WebSocketStateCounters {
  return {
    WEB_SOCKET_BYTES_RECV: 0,
    WEB_SOCKET_BYTES_SENT: 0,
    WEB_SOCKET_ERR_BACKEND_REJECT: 0,
    WEB_SOCKET_ERR_BALANCE: 0,
    WEB_SOCKET_ERR_CONNECT: 0,
    WEB_SOCKET_ERR_HANDSHAKE: 0,
    WEB_SOCKET_ERR_PROXY: 0,
    WEB_SOCKET_ERR_TRANSFER: 0,
    WEB_SOCKET_PANIC_CONN: 0,
  }
}

export function newStreamStateCounters(): StreamStateCounters {
  return {
    STREAM_BYTES_RECV: 0,
    STREAM_BYTES_SENT: 0,
    STREAM_ERR_BALANCE: 0,
    STREAM_ERR_CONNECT: 0,
    STREAM_ERR_PROXY: 0,
    STREAM_ERR_TRANSFER: 0,
    STREAM_PANIC_CONN: 0,
  }
}

export function newProxyProtocolStateCounters(): ProxyProtocolStateCounters {
  return {
    PROXY_ERR_READ_HEADER: 0,
    PROXY_ERR_NO_PROXY_PROTOCOL: 0,
    PROXY_MATCHED_V1_SIGNATURE: 0,
    PROXY_MATCHED_V2_SIGNATURE: 0,
    PROXY_ERR_INVALID_HEADER: 0,
    PROXY_NORMAL_V1_HEADER: 0,
    PROXY_NORMAL_V2_HEADER: 0,
  }
}

export function newStateCounters(): StateCounters {
  return {
    http: {
      HTTP_BACKEND_CONN_ALL: 0,
      HTTP_BACKEND_CONN_SUCC: 0,
      HTTP_BACKEND_REQ_ALL: 0,
      HTTP_BACKEND_REQ_SUCC: 0,
      HTTP_CANCEL_ON_CLIENT_CLOSE: 0,
      HTTP_PANIC_BACKEND_READ: 0,
      HTTP_PANIC_BACKEND_WRITE: 0,
      HTTP_PANIC_CLIENT_FLUSH_LOOP: 0,
      HTTP_PANIC_CLIENT_WATCH_LOOP: 0,
    },
    websocket: newWebSocketStateCounters(),
    stream: newStreamStateCounters(),
    proxyProtocol: newProxyProtocolStateCounters(),
    spdy: {
      SPDY_TIMEOUT_CONN: 0,
      SPDY_TIMEOUT_READ_STREAM: 0,
      SPDY_TIMEOUT_WRITE_STREAM: 0,
      SPDY_ERR_GOT_RESET: 0,
      SPDY_ERR_FLOW_CONTROL: 0,
      SPDY_ERR_STREAM_ALREADY_CLOSED: 0,
      SPDY_ERR_STREAM_CANCEL: 0,
      SPDY_ERR_INVALID_DATA_STREAM: 0,
      SPDY_ERR_INVALID_SYN_STREAM: 0,
      SPDY_ERR_MAX_STREAM_PER_CONN: 0,
      SPDY_ERR_BAD_REQUEST: 0,
      SPDY_ERR_NEW_FRAMER: 0,
      SPDY_UNKNOWN_FRAME: 0,
      SPDY_PANIC_CONN: 0,
      SPDY_PANIC_STREAM: 0,
      SPDY_REQ_HEADER_COMPRESS_SIZE: 0,
      SPDY_REQ_HEADER_ORIGINAL_SIZE: 0,
      SPDY_RES_HEADER_COMPRESS_SIZE: 0,
      SPDY_RES_HEADER_ORIGINAL_SIZE: 0,
      SPDY_CONN_OVERLOAD: 0,
      SPDY_REQ_OVERLOAD: 0,
    },
  }
}
