// The setup of BFE's documented scenario "TLS client authentication" (docs/en_us/example/
// client_auth.md in BFE's repository), shared by client-auth-scenario.test.ts (no balancer in
// front) and proxy-protocol-haproxy.test.ts (HAProxy with the PROXY protocol).
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openssl } from './certs.js'
import { testPki } from './conf.js'

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..')

/**
 * Steps 1 to 3 of the document, with its openssl commands, in `keys`: root.key/root.crt (the
 * client CA), client.key/client.crt (a certificate for client authentication signed by it).
 */
export function makeScenarioKeys(keys: string): void {
  mkdirSync(keys, { recursive: true })
  openssl(['genrsa', '-out', 'root.key', '2048'], keys)
  openssl(
    ['req', '-new', '-x509', '-days', '365', '-key', 'root.key', '-out', 'root.crt'].concat([
      '-subj',
      '/CN=root',
    ]),
    keys,
  )
  openssl(['genrsa', '-out', 'client.key', '2048'], keys)
  openssl(['req', '-new', '-out', 'client.csr', '-key', 'client.key', '-subj', '/CN=client'], keys)
  writeFileSync(join(keys, 'openssl.cnf'), 'extendedKeyUsage = clientAuth\n')
  openssl(
    ['x509', '-req', '-in', 'client.csr', '-out', 'client.crt', '-CA', 'root.crt'].concat([
      '-CAkey',
      'root.key',
      '-CAcreateserial',
      '-days',
      '365',
      '-extfile',
      'openssl.cnf',
    ]),
    keys,
  )
}

export interface ScenarioConf {
  /** The rule's SniConf: the document's is null (the VIP selects the rule). */
  sniConf: string[] | null
  /** Edits of bfe.conf after the scenario's own (ports, Layer4LoadBalancer, Modules ...). */
  editBfeConf?: (text: string) => string
  /** The upstream the example cluster points at (the layout's backend port 8181). */
  upstreamPort: number
}

/**
 * Step 5: the BFE 1.8 layout (test/fixtures/conf/bfe18) in `conf`, a server certificate for
 * example.org, root.crt from `keys` as client CA `root`, and the document's rule: VipConf
 * 127.0.0.1, h2 offered at rate 0, ClientAuth with ClientCAName "root". One process, no
 * monitor port (tests run side by side).
 */
export function writeScenarioConf(conf: string, keys: string, o: ScenarioConf): void {
  cpSync(join(ROOT, 'test/fixtures/conf/bfe18'), conf, { recursive: true })
  const cert = testPki().server('example.org', { dns: ['example.org'] })
  mkdirSync(join(conf, 'tls_conf/certs'), { recursive: true })
  writeFileSync(join(conf, 'tls_conf/certs/server.crt'), cert.certPem)
  writeFileSync(join(conf, 'tls_conf/certs/server.key'), cert.keyPem)
  cpSync(join(keys, 'root.crt'), join(conf, 'tls_conf/client_ca/root.crt'))
  writeFileSync(
    join(conf, 'tls_conf/tls_rule_conf.data'),
    JSON.stringify({
      Version: 'client-auth',
      DefaultNextProtos: ['http/1.1'],
      Config: {
        example_product: {
          VipConf: ['127.0.0.1'],
          SniConf: o.sniConf,
          CertName: 'example.org',
          NextProtos: ['h2;rate=0;isw=65535;mcs=200;level=0', 'http/1.1'],
          Grade: 'C',
          ClientAuth: true,
          ClientCAName: 'root',
        },
      },
    }),
  )
  const bfeConf = join(conf, 'bfe.conf')
  const text = readFileSync(bfeConf, 'utf8')
    .replace(/^MaxCpus = 0$/m, 'MaxCpus = 1')
    .replace(/^MonitorPort = 8421$/m, 'MonitorPort = 8421\nMonitorEnabled = false')
  writeFileSync(bfeConf, o.editBfeConf === undefined ? text : o.editBfeConf(text))
  const table = join(conf, 'cluster_conf/cluster_table.data')
  writeFileSync(
    table,
    readFileSync(table, 'utf8').replace('"Port": 8181', `"Port": ${o.upstreamPort}`),
  )
}
