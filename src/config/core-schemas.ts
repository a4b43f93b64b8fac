import { PORT, SIGNED_WEIGHT, WEIGHT } from './bounds.js'
import { CLUSTER_CONF_BOUNDS as B } from './cluster-conf-bounds.js'
import type { JsonNode } from './json-node.js'
import { type DecodeCx, type Schema, s } from './schema.js'

/**
 * The shape of every core JSON data file, declared once with the `s.*` builders. Each loader
 * validates the file with its declaration first (`checkShape`: field types, required fields,
 * ranges, names, with BFE's decoding rules), then applies the checks between fields and files
 * that a JSON Schema cannot say; `bfe schema <kind>` prints the JSON Schema of the same
 * declaration, so the two cannot drift apart.
 */

const version = (description = 'Version of the data, shown by reloads') => s.string({ description })

const hostList = s.array(s.string({ description: 'a host name, *.suffix or *' }), { default: [] })

/** server_data_conf/host_rule.data */
export const hostRuleSchema = s.object(
  {
    Version: version(),
    DefaultProduct: s.string({
      default: '',
      description: 'Product of requests no host rule or VIP matches ("" or null: none)',
    }),
    Hosts: s.map(hostList, 'host tag', { description: 'host tag -> host names' }),
    HostTags: s.map(s.array(s.name('host tag'), { default: [] }), 'product', {
      description: 'product -> host tags',
    }),
  },
  'Product lookup by Host',
)

/** server_data_conf/vip_rule.data */
export const vipRuleSchema = s.object(
  {
    Version: s.string({ nonEmpty: true }),
    Vips: s.map(s.array(s.string({ description: 'an IP address' }), { default: [] }), 'product', {
      required: false,
      description: 'product -> VIPs',
    }),
  },
  'Product lookup by virtual IP',
)

const basicRule = s.object({
  Hostname: s.array(s.string(), {
    default: [],
    description: 'Host names (exact, *.suffix, *); empty = any',
  }),
  Path: s.array(s.string(), {
    default: [],
    description: 'Paths: exact, or a prefix ending in *; empty = any',
  }),
  ClusterName: s.name('cluster', 'Cluster, or ADVANCED_MODE to hand over to ProductRule'),
})

const advancedRule = s.object({
  Cond: s.string({
    description: 'A BFE condition expression, e.g. req_path_prefix_in("/api/", false)',
  }),
  ClusterName: s.name('cluster'),
})

/** server_data_conf/route_rule.data */
export const routeRuleSchema = s.object(
  {
    Version: version(),
    BasicRule: s.map(s.array(basicRule, { default: [] }), 'product', {
      required: false,
      description: 'product -> host/path rules, looked up first',
    }),
    ProductRule: s.map(s.array(advancedRule, { default: [] }), 'product', {
      required: false,
      description: 'product -> condition rules, in order; the first match wins',
    }),
  },
  'Cluster lookup by rules',
)

const opt = <T>(inner: Schema<T>) => s.optional(inner)

/** server_data_conf/cluster_conf.data */
export const clusterConfSchema = s.object(
  {
    Version: version(),
    Config: s.map(
      opt(
        s.object({
          BackendConf: opt(
            s.object({
              Protocol: s.string({ default: 'http', description: 'http, https, h2c, ws or tcp' }),
              TimeoutConnSrv: s.int({ default: 2000, bound: B.TimeoutConnSrv }),
              TimeoutResponseHeader: s.int({ default: 60000, bound: B.TimeoutResponseHeader }),
              MaxIdleConnsPerHost: s.int({ default: 2, bound: B.MaxIdleConnsPerHost }),
              MaxConnsPerHost: s.int({ default: 0, bound: B.MaxConnsPerHost }),
              RetryLevel: s.int({ default: 0, oneOf: [0, 1] }),
              SlowStartTime: s.int({ default: 0, bound: B.SlowStartTime }),
              OutlierDetectionHttpCode: s.string({ default: '', description: 'e.g. 5xx|429' }),
              FCGIConf: opt(
                s.object({
                  Root: s.string({ default: '' }),
                  EnvVars: s.map(s.string(), 'variable', { required: false }),
                }),
              ),
            }),
          ),
          CheckConf: opt(
            s.object({
              Schem: s.string({ default: 'http', description: 'http, https, tls or tcp' }),
              Uri: s.string({ default: '/health_check' }),
              Host: s.string({ default: '' }),
              HostType: s.string({ default: 'HOST', description: 'HOST or Instance_IP' }),
              StatusCode: s.int({ default: 0, bound: B.StatusCode }),
              StatusCodeRange: s.string({ default: '' }),
              FailNum: s.int({ default: 5, bound: B.FailNum }),
              SuccNum: s.int({ default: 1, bound: B.SuccNum }),
              CheckTimeout: opt(s.int({ bound: B.CheckTimeout })),
              CheckInterval: s.int({ default: 1000, bound: B.CheckInterval }),
              ActiveCheck: s.bool(false),
            }),
          ),
          GslbBasic: opt(
            s.object({
              CrossRetry: s.int({ default: 0, bound: B.CrossRetry }),
              RetryMax: s.int({ default: 2, bound: B.RetryMax }),
              BalanceMode: s.string({ default: 'WRR', description: 'WRR, WLC or EPP' }),
              EPPAddr: s.array(s.string(), { default: [] }),
              HashConf: opt(
                s.object({
                  HashStrategy: s.int({
                    default: 1,
                    oneOf: [0, 1, 2, 3],
                    description:
                      '0 ClientIdOnly, 1 ClientIpOnly, 2 ClientIdPreferred, 3 RequestURI',
                  }),
                  HashHeader: s.string({ default: '', description: 'header, or Cookie:<name>' }),
                  SessionSticky: s.bool(false),
                }),
              ),
            }),
          ),
          ClusterBasic: opt(
            s.object({
              TimeoutReadClient: s.int({ default: 30000, bound: B.TimeoutReadClient }),
              TimeoutWriteClient: s.int({ default: 60000, bound: B.TimeoutWriteClient }),
              TimeoutReadClientAgain: s.int({ default: 60000, bound: B.TimeoutReadClientAgain }),
              ReqWriteBufferSize: s.int({ default: 512, bound: B.ReqWriteBufferSize }),
              ReqFlushInterval: s.int({ default: 0, bound: B.ReqFlushInterval }),
              ResFlushInterval: s.int({ default: -1, bound: B.ResFlushInterval }),
              CancelOnClientClose: s.bool(false),
              DisableHostHeader: s.bool(false),
              DisableHealthCheck: s.bool(false),
            }),
          ),
          HTTPSConf: opt(
            s.object({
              RSHost: s.string({ default: '' }),
              RSInsecureSkipVerify: s.bool(false),
              RSCAList: s.array(s.string(), { default: [] }),
              BFECertFile: s.string({ default: '' }),
              BFEKeyFile: s.string({ default: '' }),
            }),
          ),
        }),
      ),
      'cluster',
      { description: 'cluster -> settings (every section optional, BFE defaults)' },
    ),
  },
  'Cluster settings',
)

const backend = s.object({
  Name: s.name('backend'),
  Addr: s.string({ nonEmpty: true }),
  Port: s.int({ bound: PORT }),
  Weight: s.int({ bound: SIGNED_WEIGHT }),
})

/** cluster_conf/cluster_table.data */
export const clusterTableSchema = s.object(
  {
    Version: version(),
    Config: s.map(
      s.map(
        s.check(s.array(backend), (list, node) => {
          if (!list.some((b) => b.Weight > 0))
            node.fail('needs at least one backend with Weight > 0')
        }),
        'sub-cluster',
      ),
      'cluster',
      { description: 'cluster -> sub-cluster -> backends' },
    ),
  },
  'Backends of each sub-cluster',
)

/** cluster_conf/gslb.data */
export const gslbSchema = s.object(
  {
    Hostname: s.string(),
    Ts: s.string(),
    Clusters: s.map(
      s.check(s.map(s.int({ bound: SIGNED_WEIGHT }), 'sub-cluster'), (weights, node) => {
        let sum = 0
        for (const w of weights.values()) if (w > 0) sum += w
        if (sum <= 0) node.fail('needs a sub-cluster with weight > 0')
      }),
      'cluster',
      { description: 'cluster -> sub-cluster -> weight (GSLB_BLACKHOLE rejects its share)' },
    ),
  },
  'Traffic share of each sub-cluster',
)

/** server_data_conf/name_conf.data */
export const nameConfSchema = s.object(
  {
    Version: version(),
    Config: s.map(
      s.array(
        s.object({
          Host: s.string({ nonEmpty: true }),
          Port: s.int({ bound: PORT }),
          Weight: s.int({ bound: WEIGHT }),
        }),
        // null is refused by the loader with its own message ("must not be null")
        { default: [] },
      ),
      'service',
      { description: 'service name -> instances' },
    ),
  },
  'Named services',
)

/** tls_conf/server_cert_conf.data */
export const serverCertConfSchema = s.object(
  {
    Version: s.string({ default: '', description: 'Required, non-empty' }),
    Config: s.object({
      Default: s.string({
        default: '',
        description: 'Name (in CertConf) of the default certificate',
      }),
      CertConf: s.map(
        s.optional(
          s.object({
            ServerCertFile: s.string({ default: '', description: 'PEM certificate chain' }),
            ServerKeyFile: s.string({ default: '', description: 'PEM private key' }),
            OcspResponseFile: s.string({ default: '', description: 'DER OCSP response to staple' }),
          }),
        ),
        'certificate',
        { description: 'certificate name -> files (relative to the conf root)' },
      ),
    }),
  },
  'Server certificates',
)

const protoList = s.array(
  s.string({ description: 'h2, http/1.1 or stream, with ;level=..;mcs=..;isw=..;rate=..' }),
  { default: [] },
)

/** tls_conf/tls_rule_conf.data */
export const tlsRuleConfSchema = s.object(
  {
    Version: s.string({ default: '', description: 'Required, non-empty' }),
    Config: s.map(
      s.optional(
        s.object({
          CertName: s.string({
            default: '',
            description: 'Required: a certificate of server_cert_conf.data',
          }),
          NextProtos: protoList,
          Grade: s.string({ default: '', description: 'A+, A, B or C (default C)' }),
          ClientAuth: s.bool(false),
          ClientCAName: s.string({ default: '' }),
          VipConf: s.array(s.string({ description: 'an IP address' }), { default: [] }),
          SniConf: s.array(s.string(), { default: [] }),
          Chacha20: s.bool(false),
          DynamicRecord: s.bool(false),
        }),
      ),
      'rule label',
      { description: 'rule label -> TLS rule (chosen by VIP, then SNI)' },
    ),
    DefaultNextProtos: protoList,
    DefaultChacha20: s.bool(false),
    DefaultDynamicRecord: s.bool(false),
  },
  'TLS rules',
)

/**
 * Validates the shape of a parsed core file with its declaration (the loader's first step).
 * Throws BfeConfError naming the file and the JSON pointer; warnings are the loader's to add.
 */
export function checkShape<T>(schema: Schema<T>, root: JsonNode): T {
  if (root.absent) root.fail('is empty')
  const cx: DecodeCx = { warnings: [] }
  return schema.decode(root, cx)
}
