#!/usr/bin/env node
// SIGUSR1 before anything else: without a listener Node opens its inspector on port 9229, and
// logrotate sends SIGUSR1. The CLI is loaded after that (a dynamic import, not a hoisted one).
process.on('SIGUSR1', () => {})

const { runCli } = await import('./cli.js')
const { exitProcess } = await import('./process/exit.js')

runCli(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) exitProcess(code)
  },
  (err: unknown) => {
    process.stderr.write(`bfe: ${err instanceof Error ? err.message : String(err)}\n`)
    exitProcess(1)
  },
)
