import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { BfeError } from './basic/errors.js'
import { createLogger, type Logger } from './log/logger.js'
import type { BfeModule } from './module/types.js'
import { BfeServer } from './server/server.js'

const HELP = `Usage: bfe [options]
  -c <dir>   configuration root (default ./conf)
  -l <dir>   log directory (default ./log)
  -s         also log to stdout
  -d         debug log level
  -t         test the configuration and exit
  -v         print the version and exit
  -V         print version, runtime and commit, and exit
  -h         print this help and exit`

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

/** One line for an operator: the configuration error's text, never a stack trace. */
function describe(err: unknown): string {
  if (err instanceof BfeError) return err.message
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}

/**
 * BFE's command line (`-c -l -s -d -t -v -V -h`) with your own modules available to
 * `Modules = <name>`. Resolves with an exit code, or -1 while the server keeps running.
 * A launcher for user modules is three lines:
 *   import { runCli } from 'bfe-ts/cli'
 *   import { modHello } from './mod_hello.js'
 *   runCli(process.argv.slice(2), [modHello]).then((c) => { if (c >= 0) process.exitCode = c })
 */
export async function runCli(argv: string[], modules: readonly BfeModule[] = []): Promise<number> {
  tuneV8()
  let args: ReturnType<typeof parseFlags>
  try {
    args = parseFlags(argv)
  } catch (err) {
    process.stderr.write(`bfe: ${describe(err)}\n${HELP}\n`)
    return 2
  }
  const v = args.values
  if (v.h === true) {
    process.stdout.write(`${HELP}\n`)
    return 0
  }
  if (v.v === true) {
    process.stdout.write(`bfe version: ${version()}\n`)
    return 0
  }
  if (v.V === true) {
    process.stdout.write(
      `bfe version: ${version()}\nnode version: ${process.version}\ngit commit: ${process.env['BFE_GIT_COMMIT'] ?? 'unknown'}\n`,
    )
    return 0
  }
  const confRoot = resolve(v.c ?? './conf')
  const confPath = join(confRoot, 'bfe.conf')
  if (v.t === true) {
    try {
      const server = await BfeServer.load({ confRoot, modules })
      for (const w of server.warnings) process.stdout.write(`bfe: warning: ${w}\n`)
      await server.close()
      process.stdout.write(`bfe: configuration file ${confPath} test is successful\n`)
      return 0
    } catch (err) {
      process.stdout.write(
        `bfe: ${describe(err)}\nbfe: configuration file ${confPath} test failed\n`,
      )
      return 1
    }
  }
  const log = createLogger({
    logDir: resolve(v.l ?? './log'),
    stdout: v.s === true,
    debug: v.d === true,
  })
  return run(confRoot, confPath, log, modules)
}

function parseFlags(args: string[]) {
  return parseArgs({
    args,
    options: {
      c: { type: 'string', short: 'c' },
      l: { type: 'string', short: 'l' },
      s: { type: 'boolean', short: 's' },
      d: { type: 'boolean', short: 'd' },
      t: { type: 'boolean', short: 't' },
      v: { type: 'boolean', short: 'v' },
      V: { type: 'boolean', short: 'V' },
      h: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  })
}

async function run(
  confRoot: string,
  confPath: string,
  log: Logger,
  modules: readonly BfeModule[],
): Promise<number> {
  let server: BfeServer
  try {
    server = await BfeServer.load({ confRoot, log, modules })
  } catch (err) {
    const msg = describe(err)
    log.error(msg)
    process.stderr.write(`bfe: ${msg}\nbfe: start failed (${confPath})\n`)
    return 1
  }
  // MaxCpus (decisions.md D4): the number of worker processes; 1 = this process serves alone.
  const maxCpus = server.conf.Server.MaxCpus
  const workers = maxCpus === 0 ? availableParallelism() : maxCpus
  if (workers > 1 && cluster.isPrimary) {
    await server.close()
    return runPrimary(workers, log)
  }
  try {
    const port = await server.listen()
    log.info({ port, confRoot }, 'bfe started')
    if (cluster.isPrimary) process.stdout.write(`bfe: listening on port ${port} (${confPath})\n`)
  } catch (err) {
    process.stderr.write(`bfe: cannot listen: ${describe(err)}\n`)
    return 1
  }
  installSignals(server, log)
  return -1
}

/** The primary of a multi-worker run: forks the workers and replaces any that dies. */
function runPrimary(workers: number, log: Logger): number {
  let stopping = false
  for (let i = 0; i < workers; i++) cluster.fork()
  cluster.on('exit', (w, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
      return
    }
    log.error({ pid: w.process.pid, code, signal }, 'worker exited; starting another')
    cluster.fork()
  })
  const stop = (sig: NodeJS.Signals) => {
    stopping = true
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(sig)
    setTimeout(() => process.exit(0), 15_000).unref()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGTERM'))
  process.on('SIGQUIT', () => stop('SIGQUIT'))
  for (const s of ['SIGHUP', 'SIGTRAP', 'SIGABRT'] as const)
    process.on(s, () => log.info(`${s} ignored`))
  process.stdout.write(`bfe: started ${workers} workers\n`)
  return -1
}

function installSignals(server: BfeServer, log: Logger): void {
  process.on('SIGTERM', () => process.exit(0))
  process.on('SIGINT', () => process.exit(0))
  process.on('SIGQUIT', () => {
    log.info('SIGQUIT: graceful shutdown')
    void server
      .shutdown(server.conf.Server.GracefulShutdownTimeout * 1000)
      .then(() => process.exit(0))
  })
  for (const s of ['SIGHUP', 'SIGTRAP', 'SIGABRT'] as const)
    process.on(s, () => log.info(`${s} ignored`))
}
