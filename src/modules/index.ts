import type { ModuleCatalogEntry } from '../module/registry.js'
import type { BfeModule } from '../module/types.js'
import { createModAccess } from './mod_access/index.js'
import { createModAuthBasic } from './mod_auth_basic/index.js'
import { createModAuthJwt } from './mod_auth_jwt/index.js'
import { createModAuthRequest } from './mod_auth_request/index.js'
import { createModBlock } from './mod_block/index.js'
import { createModCompress } from './mod_compress/index.js'
import { createModCors } from './mod_cors/index.js'
import { createModErrors } from './mod_errors/index.js'
import { createModGeo } from './mod_geo/index.js'
import { createModHeader } from './mod_header/index.js'
import { createModHttpCode } from './mod_http_code/index.js'
import { createModKeyLog } from './mod_key_log/index.js'
import { createModLogId } from './mod_logid/index.js'
import { createModMarkdown } from './mod_markdown/index.js'
import { createModPrison } from './mod_prison/index.js'
import { createModRedirect } from './mod_redirect/index.js'
import { createModRewrite } from './mod_rewrite/index.js'
import { createModSecureLink } from './mod_secure_link/index.js'
import { createModSessionSticky } from './mod_session_sticky/index.js'
import { createModStatic } from './mod_static/index.js'
import { createModTag } from './mod_tag/index.js'
import { createModTcpKeepAlive } from './mod_tcp_keepalive/index.js'
import { createModTrace } from './mod_trace/index.js'
import { createModTrustClientIp } from './mod_trust_clientip/index.js'
import { createModUserid } from './mod_userid/index.js'
import { createModWaf } from './mod_waf/index.js'

/*
 * BFE's built-in modules in BFE's fixed order. Enabled modules are initialised, and so register
 * their filters, in this order, whatever the order of the `Modules` lines in bfe.conf.
 * Ordering notes carried over from BFE:
 * - mod_trust_clientip comes first: later modules read the trusted client address.
 * - mod_logid follows mod_trust_clientip (it logs the client address).
 * - mod_block runs before mod_redirect/mod_static, so blocked requests are never answered.
 * - mod_header comes after mod_rewrite, so header rules see the rewritten request.
 * - mod_access is last among the loggers, so it sees what every other module did.
 */
const ORDER: readonly string[] = [
  'mod_trust_clientip',
  'mod_logid',
  'mod_tcp_keepalive',
  'mod_userid',
  'mod_geo',
  'mod_tag',
  'mod_trace',
  'mod_cors',
  'mod_block',
  'mod_prison',
  'mod_auth_basic',
  'mod_auth_jwt',
  'mod_secure_link',
  'mod_waf',
  'mod_doh',
  'mod_redirect',
  'mod_static',
  'mod_rewrite',
  'mod_header',
  'mod_auth_request',
  'mod_errors',
  'mod_markdown',
  'mod_compress',
  'mod_key_log',
  'mod_http_code',
  'mod_access',
  'mod_wasm',
  'mod_unified_waf',
  'mod_ai_token_auth',
  'mod_ai_route',
  'mod_body_process',
  'mod_ai_rate_limit',
  'mod_access_pb3',
  'mod_session_sticky',
]

/** Out of scope by decision D19: naming one in `Modules =` fails start-up as "not supported". */
const UNSUPPORTED: ReadonlySet<string> = new Set([
  'mod_wasm',
  'mod_unified_waf',
  'mod_doh',
  'mod_access_pb3',
  'mod_ai_token_auth',
  'mod_ai_route',
  'mod_body_process',
  'mod_ai_rate_limit',
])

/**
 * Built-in modules implemented so far: a factory each, so that every server (tests run several in
 * one process) gets modules with their own state. One folder per module: `src/modules/mod_x/`.
 */
const BUILT_IN: readonly (() => BfeModule)[] = [
  createModTag,
  createModCors,
  createModAuthBasic,
  createModAuthJwt,
  createModAuthRequest,
  createModRedirect,
  createModStatic,
  createModRewrite,
  createModHeader,
  createModErrors,
  createModTrustClientIp,
  createModLogId,
  createModTcpKeepAlive,
  createModBlock,
  createModHttpCode,
  createModUserid,
  createModTrace,
  createModSecureLink,
  createModSessionSticky,
  createModPrison,
  createModKeyLog,
  createModAccess,
  createModGeo,
  createModWaf,
  createModMarkdown,
  createModCompress,
]

/**
 * The module catalog: BFE's built-ins in order, then the caller's own modules (user modules
 * written in TypeScript), which run after every built-in at each point.
 */
export function moduleCatalog(extra: readonly BfeModule[] = []): ModuleCatalogEntry[] {
  const implemented = new Map<string, BfeModule>()
  for (const make of BUILT_IN) {
    const m = make()
    implemented.set(m.name, m)
  }
  const out: ModuleCatalogEntry[] = ORDER.map((name) => ({
    name,
    module: implemented.get(name),
    unsupported: UNSUPPORTED.has(name),
  }))
  for (const m of extra) {
    if (out.some((e) => e.name === m.name)) {
      throw new Error(`module name ${m.name} is already taken by a built-in module`)
    }
    out.push({ name: m.name, module: m, unsupported: false })
  }
  return out
}
