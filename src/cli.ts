import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { createLogger, type Logger, setServerLog } from './log/logger.js'
import type { BfeModule } from './module/types.js'
import { describeError } from './process/exit.js'
import { BFE_FLAGS, type FlagDef, type ParsedFlags, parseFlags, usage } from './process/flags.js'
import { runPrimary } from './process/primary.js'
import { serve } from './process/serve.js'
import { guardSigusr1 } from './process/signals.js'
import { BfeServer } from './server/server.js'
import { checkConf, formatCheck } from './tools/check.js'
import { runTool, TOOLS } from './tools/cli.js'

/** BFE's flags plus ours: `--json` (with `-t`: the result as one JSON object, for CI). */
const FLAGS: readonly FlagDef[] = [
  ...BFE_FLAGS,
  { name: 'json', kind: 'bool', usage: 'with -t: print the result as one JSON object' },
]

function version(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    return 'unknown'
  }
}

/**
 * V8 settings for a proxy's allocation pattern. Allocation-site pretenuring watches which sites'
 * objects survive young-generation GCs; a proxy's per-request objects (the parsed request, header
 * lists, the pipeline) all live exactly as long as one request, and a burst of concurrent requests
 * at start-up can convince V8 to allocate them straight into the old generation for the rest of
 * the process's life. Then every request's garbage needs a full mark-compact: measured with
 * `npm run bench` (small responses), about a quarter fewer requests per second and ten times the
 * mark-compacts. Young-generation collection is what these objects want, so pretenuring is off.
 */
function tuneV8(): void {
  setFlagsFromString('--no-allocation-site-pretenuring')
}

/**
 * BFE's command line (`-c -l -s -d -t -v -V -h`, parsed as Go's flag package does) with your own
 * modules available to `Modules = <name>`. Resolves with an exit code, or -1 while the server
 * keeps running. A launcher for user modules is three lines:
 *   import { runCli } from 'bfe-ts/cli'
 *   import { modHello } from './mod_hello.js'
 *   runCli(process.argv.slice(2), [modHello]).then((c) => { if (c >= 0) process.exit(c) })
 * With `MaxCpus` ≠ 1 the same launcher runs as the primary and, through node:cluster, as each
 * worker (cluster.isWorker).
 */
export async function runCli(argv: string[], modules: readonly BfeModule[] = []): Promise<number> {
  guardSigusr1()
  tuneV8()
  // bfe-ts's own tools: `bfe explain ...`, `bfe simulate ...`, `bfe schema ...`
  const tool = argv[0]
  if (tool !== undefined && TOOLS.has(tool)) return runTool(tool, argv.slice(1), modules)
  let flags: ParsedFlags
  try {
    flags = parseFlags(argv, FLAGS)
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n${usage('bfe', FLAGS)}`)
    return 2
  }
  const on = (f: string) => flags.bools.has(f)
  if (on('h')) {
    process.stdout.write(
      `${usage('bfe', FLAGS)}Commands (bfe-ts): explain, simulate, schema (bfe <command> -h)\n`,
    )
    return 0
  }
  if (on('v')) {
    process.stdout.write(`bfe version: ${version()}\n`)
    return 0
  }
  if (on('V')) {
    process.stdout.write(
      `bfe version: ${version()}\nnode version: ${process.version}\ngit commit: ${process.env['BFE_GIT_COMMIT'] ?? 'unknown'}\n`,
    )
    return 0
  }
  const confRoot = resolve(flags.strings.get('c') ?? './conf')
  const confPath = join(confRoot, 'bfe.conf')
  if (on('t')) return testConf(confRoot, modules, on('json'))
  const log = createLogger({
    logDir: resolve(flags.strings.get('l') ?? './log'),
    stdout: on('s'),
    debug: on('d'),
  })
  setServerLog(log)
  if (cluster.isWorker) return serve({ confRoot, confPath, log, modules, worker: true })
  return run(confRoot, confPath, log, modules)
}

/**
 * `-t`: load everything, open nothing; every broken file is reported, with warnings for rules and
 * weights that cannot take effect. Success on stdout; warnings and errors on stderr; `--json`
 * prints one object on stdout instead.
 */
async function testConf(
  confRoot: string,
  modules: readonly BfeModule[],
  json: boolean,
): Promise<number> {
  const report = await checkConf(confRoot, modules)
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else {
    const t = formatCheck(report)
    process.stderr.write(t.stderr)
    process.stdout.write(t.stdout)
  }
  // the process exits right after: let piped output drain first
  await new Promise<void>((r) => process.stdout.write('', () => r()))
  await new Promise<void>((r) => process.stderr.write('', () => r()))
  return report.ok ? 0 : 1
}

/**
 * Loads and checks the configuration (its warnings are logged here, once), then serves alone
 * (`MaxCpus = 1`) or becomes the primary of `MaxCpus` workers (0 = one per CPU).
 */
async function run(
  confRoot: string,
  confPath: string,
  log: Logger,
  modules: readonly BfeModule[],
): Promise<number> {
  log.info({ confRoot, version: version(), node: process.version }, 'bfe starting')
  let server: BfeServer
  try {
    server = await BfeServer.load({ confRoot, log, modules, version: version() })
  } catch (err) {
    const msg = describeError(err)
    log.error(`start failed: ${msg}`)
    process.stderr.write(`bfe: ${msg}\nbfe: start failed (${confPath})\n`)
    return 1
  }
  const maxCpus = server.conf.Server.MaxCpus
  const workers = maxCpus === 0 ? availableParallelism() : maxCpus
  if (workers <= 1) return serve({ confRoot, confPath, log, modules, worker: false, server })
  await server.close()
  return runPrimary({ workers, conf: server.conf, confPath, log, version: version() })
}
