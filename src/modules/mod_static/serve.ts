import {
  accessSync,
  constants,
  createReadStream,
  type ReadStream,
  realpathSync,
  statSync,
} from 'node:fs'
import { type FileHandle, open, realpath, stat } from 'node:fs/promises'
import { extname, join, sep } from 'node:path'
import { HeaderList } from '../../basic/header-list.js'
import { cleanPath } from '../../basic/path.js'
import type { BfeRequest } from '../../basic/request.js'
import { BfeResponse, internalResponse } from '../../basic/response.js'
import { BUILT_IN_MIME } from './mime.js'

/** A compiled BROWSE action: the document root and the fallback file. */
export interface BrowseAction {
  /** Absolute document root as configured. */
  readonly root: string
  /** The root with symbolic links resolved: served files must lie under it. */
  readonly realRoot: string
  /** File served when the path is missing or a directory ('' = none). */
  readonly defaultFile: string
}

export interface StaticCounters {
  FILE_BROWSE_COUNT: number
  FILE_BROWSE_SIZE: number
  FILE_BROWSE_NOT_EXIST: number
  FILE_BROWSE_CONTENT_TYPE_ERROR: number
  FILE_BROWSE_FALLBACK_DEFAULT: number
  FILE_CURRENT_OPENED: number
}

/** What the serving code needs from the module. */
export interface StaticEnv {
  readonly m: StaticCounters
  readonly enableCompress: boolean
  mimeTypes(): ReadonlyMap<string, string>
  /** File streams handed to the pipeline and not yet closed. */
  readonly streams: Set<ReadStream>
}

type Failure = 'notfound' | 'forbidden' | 'dir' | 'error'

interface Opened {
  fh: FileHandle
  size: number
  mtimeMs: number
  /** Extension of the requested name (before `.gz`/`.br`). */
  ext: string
  encoding: string
}

const NO_ENCODINGS: readonly string[] = []
const EXT = { gzip: '.gz', br: '.br' } as const

/** `gzip` (first) and `br` when Accept-Encoding lists them as tokens. */
export function acceptedEncodings(ae: string | undefined): readonly string[] {
  if (ae === undefined || ae === '') return NO_ENCODINGS
  let gzip = false
  let br = false
  for (const item of ae.split(',')) {
    const semi = item.indexOf(';')
    const tok = (semi === -1 ? item : item.slice(0, semi)).trim().toLowerCase()
    if (tok === 'gzip') gzip = true
    else if (tok === 'br') br = true
  }
  if (gzip && br) return ['gzip', 'br']
  if (gzip) return ['gzip']
  if (br) return ['br']
  return NO_ENCODINGS
}

function failureOf(err: unknown): Failure {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ENAMETOOLONG':
    case 'ERR_INVALID_ARG_VALUE':
    case 'ERR_INVALID_ARG_TYPE':
      return 'notfound'
    case 'EACCES':
    case 'EPERM':
      return 'forbidden'
    default:
      return 'error'
  }
}

/** True when `p` is `root` or lies under it. */
function under(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep)
}

/** The file a request path names under the root (`..` resolved first) and its extension. */
export function fileOf(a: BrowseAction, name: string): { file: string; ext: string } {
  const clean = cleanPath(name.startsWith('/') ? name : `/${name}`)
  return { file: join(a.root, clean), ext: extname(clean) }
}

/** What `browse` would answer, found with stat calls only (no file is opened): `bfe explain`. */
export interface BrowseProbe {
  readonly status: number
  /** The file that would be sent (status 200), else the one that was looked for. */
  readonly file: string
  /** `gzip` or `br` for a pre-compressed sibling, '' otherwise. */
  readonly encoding: string
  /** The default file was used (the path was missing or a directory). */
  readonly fallback: boolean
}

function probeOne(
  a: BrowseAction,
  name: string,
  encodings: readonly string[],
): { file: string; encoding: string; failure: Failure | undefined } {
  let { file } = fileOf(a, name)
  let encoding = ''
  for (const enc of encodings) {
    const candidate = file + EXT[enc as keyof typeof EXT]
    if (statSync(candidate, { throwIfNoEntry: false }) !== undefined) {
      file = candidate
      encoding = enc
      break
    }
  }
  try {
    const real = realpathSync(file)
    if (!under(real, a.realRoot)) return { file, encoding, failure: 'notfound' }
    accessSync(real, constants.R_OK)
    const st = statSync(real)
    return { file: real, encoding, failure: st.isDirectory() ? 'dir' : undefined }
  } catch (err) {
    return { file, encoding, failure: failureOf(err) }
  }
}

/**
 * The answer `browse` would give, from the file system's metadata only (stat, realpath, access):
 * the same path resolution, pre-compressed siblings, root confinement and default-file fallback.
 */
export function probeBrowse(
  req: BfeRequest,
  a: BrowseAction,
  enableCompress: boolean,
): BrowseProbe {
  const encodings = enableCompress
    ? acceptedEncodings(req.headers.get('accept-encoding'))
    : NO_ENCODINGS
  let f = probeOne(a, req.path, encodings)
  let fallback = false
  if ((f.failure === 'notfound' || f.failure === 'dir') && a.defaultFile !== '') {
    fallback = true
    f = probeOne(a, a.defaultFile, encodings)
  }
  const status = f.failure === undefined ? 200 : STATUS[f.failure]
  return { status, file: f.file, encoding: f.encoding, fallback }
}

/**
 * Opens `root` + the cleaned `name` (a pre-compressed sibling first when the client takes it).
 * The path cannot leave the root: `..` is resolved before joining, and a symbolic link whose
 * target lies outside the root counts as a missing file.
 */
async function openFile(
  a: BrowseAction,
  name: string,
  encodings: readonly string[],
  env: StaticEnv,
): Promise<Opened | Failure> {
  let { file, ext } = fileOf(a, name)
  let encoding = ''
  for (const enc of encodings) {
    const candidate = file + EXT[enc as keyof typeof EXT]
    try {
      await stat(candidate)
      file = candidate
      encoding = enc
      break
    } catch {
      // no such sibling: try the next one
    }
  }
  let fh: FileHandle
  try {
    const real = await realpath(file)
    if (!under(real, a.realRoot)) return 'notfound'
    fh = await open(real, 'r')
  } catch (err) {
    return failureOf(err)
  }
  env.m.FILE_CURRENT_OPENED++
  try {
    const st = await fh.stat()
    if (st.isDirectory()) {
      await closeFile(fh, env)
      return 'dir'
    }
    return { fh, size: st.size, mtimeMs: st.mtimeMs, ext, encoding }
  } catch (err) {
    await closeFile(fh, env)
    return failureOf(err)
  }
}

async function closeFile(fh: FileHandle, env: StaticEnv): Promise<void> {
  env.m.FILE_CURRENT_OPENED--
  await fh.close().catch(() => {})
}

const STATUS: Readonly<Record<Failure, number>> = {
  notfound: 404,
  forbidden: 403,
  dir: 500,
  error: 500,
}

/** The response for a request that matched a BROWSE rule (spec/modules.md §6). */
export async function browse(
  req: BfeRequest,
  a: BrowseAction,
  env: StaticEnv,
): Promise<BfeResponse> {
  const m = env.m
  const encodings = env.enableCompress
    ? acceptedEncodings(req.headers.get('accept-encoding'))
    : NO_ENCODINGS
  let f = await openFile(a, req.path, encodings, env)
  if (f === 'notfound') m.FILE_BROWSE_NOT_EXIST++
  if ((f === 'notfound' || f === 'dir') && a.defaultFile !== '') {
    m.FILE_BROWSE_FALLBACK_DEFAULT++
    f = await openFile(a, a.defaultFile, encodings, env)
  }
  if (typeof f === 'string') return internalResponse(STATUS[f])
  m.FILE_BROWSE_SIZE += f.size
  const h = ['Server', 'bfe']
  const ext = f.ext.toLowerCase()
  const type = env.mimeTypes().get(ext) ?? BUILT_IN_MIME.get(ext)
  if (type === undefined) m.FILE_BROWSE_CONTENT_TYPE_ERROR++
  else h.push('Content-Type', type)
  if (f.encoding !== '') h.push('Content-Encoding', f.encoding)
  if (env.enableCompress) h.push('Vary', 'Accept-Encoding')
  h.push('Content-Length', String(f.size))
  if (f.mtimeMs > 0) h.push('Last-Modified', new Date(f.mtimeMs).toUTCString())
  const res = new BfeResponse(200, new HeaderList(h), undefined, false)
  if (req.method === 'HEAD') {
    await closeFile(f.fh, env)
    return res
  }
  const body = createReadStream('', { fd: f.fh, highWaterMark: 64 * 1024 })
  const streams = env.streams
  streams.add(body)
  body.once('close', () => {
    streams.delete(body)
    m.FILE_CURRENT_OPENED--
  })
  body.on('error', () => {})
  res.body = body
  return res
}
