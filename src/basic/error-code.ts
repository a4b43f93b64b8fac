/**
 * Every error code bfe-ts records, in one list (BFE's names, lifecycle.md §6). Request-level codes
 * end up in `req.errCode`, session-level ones in `session.errCode`; logs and metrics show them.
 * Which status a client gets for a request-level code is decided in proxy/errors.ts.
 */
export const ErrCode = {
  // request level: routing and forwarding
  FindProduct: 'BK_FIND_PRODUCT',
  FindLocation: 'BK_FIND_LOCATION',
  NoCluster: 'BK_NO_CLUSTER',
  NoSubCluster: 'BK_NO_SUB_CLUSTER',
  GslbBlackhole: 'GSLB_BLACKHOLE',
  NoBackend: 'BK_NO_BACKEND',
  NoSubClusterCross: 'BK_NO_SUB_CLUSTER_CROSS',
  ConnectBackend: 'BK_CONNECT_BACKEND',
  WriteRequest: 'BK_WRITE_REQUEST',
  ReadRespHeader: 'BK_READ_RESP_HEADER',
  RespHeaderTimeout: 'BK_RESP_HEADER_TIMEOUT',
  TransportBroken: 'BK_TRANSPORT_BROKEN',
  RetryTooMany: 'BK_RETRY_TOOMANY',
  ClientWrite: 'CLIENT_WRITE',
  Internal: 'BFE_ERR_INTERNAL',
  // session level
  ClientTlsHandshake: 'CLIENT_TLS_HANDSHAKE',
  ClientClose: 'CLIENT_CLOSE',
  ClientLongHeader: 'CLIENT_LONG_HEADER',
  ClientLongUrl: 'CLIENT_LONG_URL',
  ClientTimeout: 'CLIENT_TIMEOUT',
  ClientBadRequest: 'CLIENT_BAD_REQUEST',
  ClientZeroContentLen: 'CLIENT_ZERO_CONTENTLEN',
  ClientExpectFail: 'CLIENT_EXPECT_FAIL',
  ClientReset: 'CLIENT_RESET',
  ClientLongFrame: 'CLIENT_LONG_FRAME',
} as const
export type ErrCode = (typeof ErrCode)[keyof typeof ErrCode]
