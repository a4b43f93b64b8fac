import { isIP } from 'node:net'
import { checkServerIdentity, type PeerCertificate } from 'node:tls'
import type { HTTPSConf } from '../config/cluster-conf-types.js'

/** The TLS options bfe-ts uses towards a backend, shared by forwarding and health checks. */
export interface BackendTlsOptions {
  rejectUnauthorized: boolean
  servername?: string
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined
  ca?: string[]
  cert?: string
  key?: string
}

/**
 * TLS client options from a cluster's HTTPSConf (config.md §4.4), as BFE's transport builds them:
 * - the name sent in SNI and checked against the certificate is `name` (RSHost for traffic), or,
 *   when empty, the address dialled (Node then checks the certificate's IP SANs);
 *   an IP address is checked but never sent in SNI (RFC 6066 forbids it);
 * - `RSCAList` replaces the system roots when not empty;
 * - `BFECertFile` + `BFEKeyFile` are presented as the client certificate when both are set;
 * - `RSInsecureSkipVerify` skips verification of chain and name.
 */
export function backendTlsOptions(h: HTTPSConf, name = h.RSHost): BackendTlsOptions {
  const o: BackendTlsOptions = { rejectUnauthorized: !h.RSInsecureSkipVerify }
  if (name !== '') {
    if (isIP(name) === 0) o.servername = name
    else o.checkServerIdentity = (_host, cert) => checkServerIdentity(name, cert)
  }
  if (h.RSCAList.length > 0) o.ca = h.RSCAList
  if (h.BFECert !== undefined && h.BFEKey !== undefined) {
    o.cert = h.BFECert
    o.key = h.BFEKey
  }
  return o
}
