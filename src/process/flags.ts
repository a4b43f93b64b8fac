/**
 * BFE's command line parsed the way Go's `flag` package parses it (BFE is a Go program, and
 * operators' scripts and unit files use its forms):
 * - one or two dashes: `-c`, `--c`;
 * - a value as the next argument or after `=`: `-c dir`, `-c=dir`, `--c=dir`;
 * - booleans take no next argument, only `=`: `-t`, `-t=true`, `-t=false` (also 1, 0, t, f, T, F,
 *   TRUE, FALSE, True, False, as Go's strconv.ParseBool);
 * - parsing stops at `--` or at the first argument that is not a flag (the rest is ignored);
 * - `-help`/`--help` print the usage as `-h` does; `--version`/`-version` print the version as
 *   `-v` does (the only names that are ours).
 * An error is a `FlagError` whose message is Go's text; the caller prints it with the usage and
 * exits 2.
 */

export interface FlagDef {
  readonly name: string
  readonly kind: 'bool' | 'string'
  readonly usage: string
  /** Shown as `(default "…")`; string flags only. */
  readonly def?: string
}

export const BFE_FLAGS: readonly FlagDef[] = [
  { name: 'c', kind: 'string', usage: 'configuration root directory', def: './conf' },
  { name: 'l', kind: 'string', usage: 'directory of the server log', def: './log' },
  { name: 's', kind: 'bool', usage: 'also write the server log to stdout' },
  { name: 'd', kind: 'bool', usage: 'log at debug level (otherwise info and above)' },
  { name: 't', kind: 'bool', usage: 'test the configuration and exit' },
  { name: 'v', kind: 'bool', usage: 'print the version and exit' },
  { name: 'V', kind: 'bool', usage: 'print the version, runtime and git commit, and exit' },
  { name: 'h', kind: 'bool', usage: 'print this help and exit' },
]

/** Names that stand for another flag. */
const ALIASES: Readonly<Record<string, string>> = { help: 'h', version: 'v' }

export class FlagError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FlagError'
  }
}

export interface ParsedFlags {
  readonly bools: ReadonlySet<string>
  readonly strings: ReadonlyMap<string, string>
  /** Arguments after the flags (ignored by bfe, as by BFE). */
  readonly rest: readonly string[]
}

const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True'])
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False'])

export function parseFlags(
  args: readonly string[],
  defs: readonly FlagDef[] = BFE_FLAGS,
): ParsedFlags {
  const bools = new Set<string>()
  const strings = new Map<string, string>()
  let i = 0
  for (; i < args.length; i++) {
    const arg = args[i] as string
    if (arg.length < 2 || arg[0] !== '-') break
    let body = arg.slice(1)
    if (body[0] === '-') {
      body = body.slice(1)
      if (body === '') {
        i++
        break
      }
    }
    if (body === '' || body[0] === '-' || body[0] === '=')
      throw new FlagError(`bad flag syntax: ${arg}`)
    const eq = body.indexOf('=')
    const given = eq < 0 ? body : body.slice(0, eq)
    const value = eq < 0 ? undefined : body.slice(eq + 1)
    const name = ALIASES[given] ?? given
    const def = defs.find((d) => d.name === name)
    if (def === undefined) throw new FlagError(`flag provided but not defined: -${given}`)
    if (def.kind === 'bool') {
      if (value === undefined || TRUE.has(value)) bools.add(name)
      else if (FALSE.has(value)) bools.delete(name)
      else throw new FlagError(`invalid boolean value "${value}" for -${given}: parse error`)
      continue
    }
    if (value !== undefined) {
      strings.set(name, value)
      continue
    }
    const next = args[i + 1]
    if (next === undefined) throw new FlagError(`flag needs an argument: -${given}`)
    strings.set(name, next)
    i++
  }
  return { bools, strings, rest: args.slice(i) }
}

/** Usage text in the layout of Go's `flag.PrintDefaults` (flags sorted by name). */
export function usage(program: string, defs: readonly FlagDef[] = BFE_FLAGS): string {
  const lines = [`Usage of ${program}:`]
  const sorted = [...defs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const d of sorted) {
    let s = `  -${d.name}`
    if (d.kind === 'string') s += ' string'
    s += s.length <= 4 ? '\t' : '\n    \t'
    s += d.usage
    if (d.def !== undefined && d.def !== '') s += ` (default ${JSON.stringify(d.def)})`
    lines.push(s)
  }
  return `${lines.join('\n')}\n`
}
