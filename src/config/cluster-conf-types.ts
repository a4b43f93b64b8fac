/**
 * One cluster's settings from cluster_conf.data, every field present with BFE's default applied.
 * Field names are BFE's. Loaded by config/cluster-conf.ts, read by balance/ and proxy/.
 */
export interface BackendConf {
  Protocol: string
  TimeoutConnSrv: number
  TimeoutResponseHeader: number
  MaxIdleConnsPerHost: number
  MaxConnsPerHost: number
  RetryLevel: number
  SlowStartTime: number
  OutlierDetectionHttpCode: string
  FCGIConf: { Root: string; EnvVars: Record<string, string> }
}

export interface CheckConf {
  Schem: string
  Uri: string
  Host: string
  HostType: string
  StatusCode: number
  StatusCodeRange: string
  FailNum: number
  SuccNum: number
  /** ms; undefined = no timeout (http) or the kind's default. */
  CheckTimeout: number | undefined
  CheckInterval: number
  /** Our own key (decisions.md D14): probe healthy backends too, every CheckInterval ms. */
  ActiveCheck: boolean
}

export interface HashConf {
  HashStrategy: number
  HashHeader: string
  SessionSticky: boolean
}

export interface GslbBasic {
  CrossRetry: number
  RetryMax: number
  BalanceMode: string
  EPPAddr: string[]
  HashConf: HashConf
}

export interface ClusterBasic {
  TimeoutReadClient: number
  TimeoutWriteClient: number
  TimeoutReadClientAgain: number
  ReqWriteBufferSize: number
  ReqFlushInterval: number
  ResFlushInterval: number
  CancelOnClientClose: boolean
  DisableHostHeader: boolean
  DisableHealthCheck: boolean
}

export interface HTTPSConf {
  RSHost: string
  RSInsecureSkipVerify: boolean
  /** PEM contents of the CA files (read at load time). Empty = system roots. */
  RSCAList: string[]
  /** PEM contents of the client certificate and key for mTLS, undefined when not set. */
  BFECert: string | undefined
  BFEKey: string | undefined
}

export interface ClusterConf {
  name: string
  BackendConf: BackendConf
  CheckConf: CheckConf
  GslbBasic: GslbBasic
  ClusterBasic: ClusterBasic
  HTTPSConf: HTTPSConf
}

/** Hash strategies of HashConf.HashStrategy. */
export const HashStrategy = {
  ClientIdOnly: 0,
  ClientIpOnly: 1,
  ClientIdPreferred: 2,
  RequestURI: 3,
} as const
