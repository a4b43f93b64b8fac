import type { Readable } from 'node:stream'
import * as clock from '../util/clock.js'
import { HeaderList, sameName } from './header-list.js'
import { parseCookies, parseQuery } from './parse.js'
import type { BfeResponse } from './response.js'
import type { Session } from './session.js'

/** Where the balancer sent (or tried to send) the request. */
export interface BackendInfo {
  clusterName: string
  subclusterName: string
  backendName: string
  backendAddr: string
  backendPort: number
}

/** A backend a module (mod_session_sticky) wants the balancer to prefer (balancing.md §4.1). */
export interface StickyBackend {
  readonly addr: string
  readonly port: number
  readonly subCluster: string
}

/** Redirect asked for by a module: written when a filter returns `Redirect`. */
export interface RedirectInfo {
  url: string
  code: number
  headers: HeaderList | undefined
}

/** Millisecond timestamps of the request's milestones (0 = not reached). */
export interface RequestStat {
  readStart: number
  readEnd: number
  findProEnd: number
  locateEnd: number
  backendFirst: number
  backendStart: number
  backendEnd: number
  responseStart: number
  responseEnd: number
  /** Response body bytes handed to the client connection (BFE's `BodyLenOut`; framing not counted). */
  bodyLenOut: number
  /** Bytes of the response head as the HTTP/1 writer wrote it (BFE's `HeaderLenOut`); 0 on HTTP/2. */
  headerLenOut: number
  /**
   * Milliseconds the last backend attempt's connection took to connect: 0 when a kept-alive
   * connection was reused, -1 when not known (no attempt, or an HTTPS or h2c backend).
   */
  backendConnectMs: number
}

export interface RequestInit {
  method: string
  /** Request-target exactly as received. */
  rawUri: string
  /** `HTTP/1.1`, `HTTP/1.0` or `HTTP/2.0`. */
  proto: string
  headers: HeaderList | string[]
  body?: Readable | undefined
  /**
   * Whether a body follows. HTTP/1 leaves it out (a body is announced by Content-Length or
   * Transfer-Encoding); HTTP/2 knows it from the END_STREAM flag of the request's HEADERS.
   */
  hasBody?: boolean | undefined
}

/**
 * One HTTP request on a session. Modules read and change it (path, headers ...); the proxy
 * forwards what it holds after HandleAfterLocation. Every field is initialised in the constructor.
 */
export class BfeRequest {
  readonly session: Session
  method: string
  /** Request-target as received; never changed (req_url_regmatch reads it). */
  readonly rawUri: string
  /** Request-target to forward: the raw one until a module changes the path or query. */
  uri: string
  /** Percent-decoded URL path. */
  path: string
  /** Raw query string, without `?`. */
  rawQuery: string
  proto: string
  headers: HeaderList
  /** Client body stream; undefined when the request has no body (no Content-Length > 0, no Transfer-Encoding). */
  body: Readable | undefined

  /** Real client address (remote address unless the session is trusted); undefined = unknown. */
  clientAddr: string | undefined
  clientPort: number

  product: string
  hostTag: string
  clusterName: string

  logId: string
  /** Error code (`BK_CONNECT_BACKEND` ...) and message; undefined when none. */
  errCode: string | undefined
  errMsg: string
  redirect: RedirectInfo | undefined
  backend: BackendInfo
  retryTime: number
  /** Preferred by the balancer when usable (set by mod_session_sticky); undefined = none. */
  stickyBackend: StickyBackend | undefined
  /** The response being built (backend, module or internal). */
  httpResponse: BfeResponse | undefined
  /** The client accepts `text/event-stream`. */
  isSse: boolean
  readonly stat: RequestStat
  /**
   * The request's number on its session, from 1 (mod_access's `req_nth`): the engines count a
   * request in `session.reqNum` right after creating it, so this is that count plus one.
   */
  readonly serial: number

  private cookieCache: ReadonlyMap<string, string> | undefined
  /** The Cookie header text cookieCache was parsed from (undefined: no Cookie header). */
  private cookieText: string | undefined
  private queryCache: ReadonlyMap<string, readonly string[]> | undefined
  // Created on first use: most requests never touch them.
  private tagMap: Map<string, string[]> | undefined
  private contextMap: Map<string, unknown> | undefined

  constructor(session: Session, init: RequestInit) {
    this.session = session
    this.method = init.method
    this.rawUri = init.rawUri
    this.uri = init.rawUri
    const q = init.rawUri.indexOf('?')
    const rawPath = pathOfTarget(q === -1 ? init.rawUri : init.rawUri.slice(0, q))
    this.path = decodePath(rawPath)
    this.rawQuery = q === -1 ? '' : init.rawUri.slice(q + 1)
    this.proto = init.proto
    this.headers = init.headers instanceof HeaderList ? init.headers : new HeaderList(init.headers)
    // Only a request that announces a body has one (the stream of a bodiless request is empty).
    this.body = (init.hasBody ?? announcesBody(this.headers)) ? init.body : undefined
    this.clientAddr = session.remoteAddr === '' ? undefined : session.remoteAddr
    this.clientPort = session.remotePort
    this.product = ''
    this.hostTag = ''
    this.clusterName = ''
    this.logId = ''
    this.errCode = undefined
    this.errMsg = ''
    this.redirect = undefined
    this.backend = {
      clusterName: '',
      subclusterName: '',
      backendName: '',
      backendAddr: '',
      backendPort: 0,
    }
    this.retryTime = 0
    this.stickyBackend = undefined
    this.httpResponse = undefined
    this.isSse = false
    const now = clock.now()
    this.stat = {
      readStart: now,
      readEnd: now,
      findProEnd: 0,
      locateEnd: 0,
      backendFirst: 0,
      backendStart: 0,
      backendEnd: 0,
      responseStart: 0,
      responseEnd: 0,
      bodyLenOut: 0,
      headerLenOut: 0,
      backendConnectMs: -1,
    }
    this.serial = session.reqNum + 1
    this.cookieCache = undefined
    this.cookieText = undefined
    this.queryCache = undefined
    this.tagMap = undefined
    this.contextMap = undefined
  }

  /** Tags by name (mod_tag and others): `req_tag_match`. */
  get tags(): Map<string, string[]> {
    if (this.tagMap === undefined) this.tagMap = new Map()
    return this.tagMap
  }

  /** Free-form per-request values for modules: `req_context_value_in`. */
  get context(): Map<string, unknown> {
    if (this.contextMap === undefined) this.contextMap = new Map()
    return this.contextMap
  }

  /** The Host header value as the client sent it (or as rewritten), '' when absent. */
  get host(): string {
    return this.headers.get('host') ?? ''
  }

  /** Host name: the Host value cut at the first `:`, not case-folded. */
  get hostname(): string {
    const h = this.host
    const i = h.indexOf(':')
    return i === -1 ? h : h.slice(0, i)
  }

  /**
   * Cookies of the request, first occurrence of a name wins. Parsed on first use, and again only
   * when the Cookie header has changed since (a module's `REQ_COOKIE_SET`, a header action, a
   * direct edit of the list): the cache is kept with the header text it was parsed from.
   */
  cookies(): ReadonlyMap<string, string> {
    // several Cookie lines: one text, as parseCookies reads them in order
    const lines = this.headers.getAll('cookie')
    const text = lines.length === 0 ? undefined : lines.join(';')
    const cached = this.cookieCache
    if (cached !== undefined && text === this.cookieText) return cached
    const parsed = parseCookies(text === undefined ? [] : [text])
    this.cookieCache = parsed
    this.cookieText = text
    return parsed
  }

  /**
   * Adds a cookie to the request (appended to the first Cookie header, or a new one), so the
   * backend and later `cookies()` see it.
   */
  addCookie(name: string, value: string): void {
    const pair = `${name}=${value}`
    const raw = this.headers.raw
    this.cookieCache = undefined
    for (let i = 0; i < raw.length; i += 2) {
      if (!sameName(raw[i]!, 'cookie')) continue
      const cur = raw[i + 1]!
      this.headers.uncheckFrom(i)
      raw[i + 1] = cur === '' ? pair : `${cur}; ${pair}`
      return
    }
    raw.push('Cookie', pair)
  }

  /** Query parameters (decoded), values in order. Parsed once, on first use. */
  query(): ReadonlyMap<string, readonly string[]> {
    if (this.queryCache === undefined) this.queryCache = parseQuery(this.rawQuery)
    return this.queryCache
  }

  /** Changes the path to forward (re-encodes it) and drops the cached query. */
  setPath(path: string): void {
    this.path = path
    this.uri = encodePath(path) + (this.rawQuery === '' ? '' : `?${this.rawQuery}`)
  }

  /** Changes the raw query to forward. */
  setRawQuery(rawQuery: string): void {
    this.rawQuery = rawQuery
    this.queryCache = undefined
    this.uri = encodePath(this.path) + (rawQuery === '' ? '' : `?${rawQuery}`)
  }
}

function announcesBody(h: HeaderList): boolean {
  const cl = h.get('content-length')
  if (cl !== undefined) return cl !== '0'
  return h.get('transfer-encoding') !== undefined
}

/** Path part of a request-target: absolute-form URIs lose their scheme and authority. */
function pathOfTarget(target: string): string {
  if (target.charCodeAt(0) === 47 /* / */) return target
  const scheme = target.indexOf('://')
  if (scheme === -1) return target
  const slash = target.indexOf('/', scheme + 3)
  return slash === -1 ? '/' : target.slice(slash)
}

/** Percent-decodes a path; throws URIError on a malformed escape (the caller answers 400). */
export function decodePath(raw: string): string {
  return raw.indexOf('%') === -1 ? raw : decodeURIComponent(raw)
}

function encodePath(path: string): string {
  return encodeURI(path).replace(/[?#]/g, (c) => (c === '?' ? '%3F' : '%23'))
}
