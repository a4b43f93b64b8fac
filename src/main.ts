#!/usr/bin/env node
import { runCli } from './cli.js'

runCli(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`bfe: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  },
)
