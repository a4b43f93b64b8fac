import { existsSync } from 'node:fs'
import path from 'node:path'

/**
 * Resolves a path written in bfe.conf: relative paths are taken from the configuration root
 * (config.md §3.2). Absolute paths are kept.
 */
export function resolveConfPath(p: string, confRoot: string): string {
  return path.isAbsolute(p) ? p : path.resolve(confRoot, p)
}

export interface ResolvedDataPath {
  /** Absolute path to use. */
  path: string
  /** Where it was found: `absolute`, the working directory, or the configuration root. */
  base: 'absolute' | 'cwd' | 'confRoot'
  /** False when the file exists in neither place (`path` is then the cwd-relative one). */
  exists: boolean
}

/**
 * Resolves a path found inside JSON rule data (decisions.md D17): relative to the process working
 * directory as BFE does; when no file is there, relative to the configuration root. The caller
 * logs `base` so operators can see which one was used.
 */
export function resolveDataPath(p: string, confRoot: string): ResolvedDataPath {
  if (path.isAbsolute(p)) return { path: p, base: 'absolute', exists: existsSync(p) }
  const fromCwd = path.resolve(p)
  if (existsSync(fromCwd)) return { path: fromCwd, base: 'cwd', exists: true }
  const fromRoot = path.resolve(confRoot, p)
  if (existsSync(fromRoot)) return { path: fromRoot, base: 'confRoot', exists: true }
  return { path: fromCwd, base: 'cwd', exists: false }
}
