import { BfeConfError } from '../../basic/errors.js'
import { readDataFile } from '../../config/data-file.js'
import { cidrOf, type IpRange, IpSet, type RangeParse, rangeOf } from '../../util/ipdict.js'

/** A loaded ip_blocklist.data. */
export interface Blocklist {
  readonly set: IpSet
  /** `version` of the metadata line, '' without one. */
  readonly version: string
  readonly singles: number
  readonly pairs: number
}

/** The optional first line `#{"version": ..., "singleIPNum": n, "pairIPNum": m}`. */
interface Meta {
  version: string
  singleIPNum: number
  pairIPNum: number
}

/**
 * Reads the metadata of a first line; undefined when the line is an ordinary comment (not JSON,
 * no version, negative counts), as BFE then counts the entries itself.
 */
function parseMeta(firstLine: string): Meta | undefined {
  const t = firstLine.trim()
  if (!t.startsWith('#')) return undefined
  let v: unknown
  try {
    v = JSON.parse(t.replace(/^#+/, '').replace(/#+$/, ''))
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
  const field = (name: string): unknown => {
    for (const [k, x] of Object.entries(v)) if (k.toLowerCase() === name) return x
    return undefined
  }
  const version = field('version')
  const single = field('singleipnum') ?? 0
  const pair = field('pairipnum') ?? 0
  if (typeof version !== 'string' || version === '') return undefined
  if (!Number.isSafeInteger(single) || !Number.isSafeInteger(pair)) return undefined
  if ((single as number) < 0 || (pair as number) < 0) return undefined
  return { version, singleIPNum: single as number, pairIPNum: pair as number }
}

/** One entry line (already trimmed): a single address, `start end`, or a CIDR block. */
export function parseBlocklistLine(line: string): RangeParse {
  if (line.includes('/')) return cidrOf(line)
  const m = /^(\S+)(?:[ \t]+(\S+))?$/.exec(line)
  if (m === null) return { ok: false, reason: `"${line}" is not an address, a range or a CIDR` }
  const start = m[1] ?? ''
  return rangeOf(start, m[2] ?? start)
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false
  return true
}

/** Parses the text of an ip_blocklist.data; errors name the file and the line. */
export function parseBlocklist(file: string, text: string): Blocklist {
  const lines = text.split('\n')
  const meta = parseMeta(lines[0] ?? '')
  const ranges: IpRange[] = []
  let singles = 0
  let pairs = 0
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '').replace(/^[ \t]+|[ \t]+$/g, '')
    if (line === '' || line.startsWith('#')) continue
    const r = parseBlocklistLine(line)
    if (!r.ok) throw new BfeConfError(file, `line ${i + 1}`, r.reason)
    ranges.push(r.range)
    if (sameBytes(r.range.start, r.range.end)) singles++
    else pairs++
    if (meta !== undefined && (singles > meta.singleIPNum || pairs > meta.pairIPNum)) {
      const what =
        singles > meta.singleIPNum
          ? `more single addresses than the metadata's singleIPNum (${meta.singleIPNum})`
          : `more ranges than the metadata's pairIPNum (${meta.pairIPNum})`
      throw new BfeConfError(file, `line ${i + 1}`, `has ${what}`)
    }
  }
  return { set: new IpSet(ranges), version: meta?.version ?? '', singles, pairs }
}

/** Reads and parses an ip_blocklist.data file. */
export function loadBlocklist(file: string): Blocklist {
  return parseBlocklist(file, readDataFile(file))
}
