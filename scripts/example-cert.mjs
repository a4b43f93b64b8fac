#!/usr/bin/env node
// Makes the bundled configuration's certificate (conf/tls_conf/certs/server.crt and .key) when it
// is missing: a self-signed EC P-256 certificate for localhost, 127.0.0.1, example.local and
// *.example.local, valid for 365 days, made with the openssl command. Generated certificates are
// never committed, so a fresh clone makes its own on the first `npm start`.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

/**
 * Writes a self-signed EC P-256 certificate and its key (PEM), with `names` as its subject
 * alternative names (`DNS:…`, `IP:…`), valid for `days`. Needs the openssl command.
 */
export function makeSelfSigned(crt, key, names, days = 365) {
  mkdirSync(dirname(crt), { recursive: true })
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      crt,
      '-days',
      String(days),
      '-subj',
      '/CN=localhost',
      '-addext',
      `subjectAltName=${names.join(',')}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
}

/** Ensures `<confRoot>/tls_conf/certs/server.{crt,key}` exist; returns their paths. */
export function ensureExampleCert(confRoot = resolve(here, '..', 'conf')) {
  const dir = join(confRoot, 'tls_conf', 'certs')
  const crt = join(dir, 'server.crt')
  const key = join(dir, 'server.key')
  if (existsSync(crt) && existsSync(key)) return { crt, key, made: false }
  makeSelfSigned(crt, key, [
    'DNS:localhost',
    'DNS:example.local',
    'DNS:*.example.local',
    'IP:127.0.0.1',
  ])
  return { crt, key, made: true }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = ensureExampleCert(process.argv[2] === undefined ? undefined : resolve(process.argv[2]))
  console.log(r.made ? `made ${r.crt}` : `present: ${r.crt}`)
}
