import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { get } from '../helpers/client.js'
import { testPki } from '../helpers/conf.js'
import { closedPort, startUpstream } from '../helpers/upstream.js'

/** Repository root (this file runs as dist/test/e2e/cli.test.js). */
const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..')
const MAIN = join(ROOT, 'dist/src/main.js')
const STACK_LINE = /^\s+at /m

const temps: string[] = []

/**
 * A copy of a configuration directory with the certificate its server_cert_conf.data names
 * (tls_conf/certs/server.crt and .key; certificates are never committed), made by the test CA
 * for `localhost` and `example.org`.
 */
function withCert(src: string): string {
  const root = mkdtempSync(join(tmpdir(), 'bfe-cli-'))
  temps.push(root)
  cpSync(src, root, { recursive: true })
  const c = testPki().server('cli', { cn: 'example.org', dns: ['example.org', 'localhost'] })
  mkdirSync(join(root, 'tls_conf/certs'), { recursive: true })
  writeFileSync(join(root, 'tls_conf/certs/server.crt'), c.certPem)
  writeFileSync(join(root, 'tls_conf/certs/server.key'), c.keyPem)
  return root
}

/** The bundled conf/ and the BFE 1.8 layout fixture, each with its certificate. */
const CONF = withCert(join(ROOT, 'conf'))
const BFE18 = withCert(join(ROOT, 'test/fixtures/conf/bfe18'))
const children: ChildProcess[] = []
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const d of temps) rmSync(d, { recursive: true, force: true })
})

interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

function bfe(args: string[], cwd = ROOT, timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    const t = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`bfe ${args.join(' ')} did not exit; stdout: ${stdout} stderr: ${stderr}`))
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(t)
      resolvePromise({ code, stdout, stderr })
    })
  })
}

/** A copy of `src` in a temp dir; `edit(root)` changes it. */
function copyConf(src: string, edit: (root: string) => void): string {
  const root = mkdtempSync(join(tmpdir(), 'bfe-cli-'))
  temps.push(root)
  cpSync(src, root, { recursive: true })
  edit(root)
  return root
}

function replaceIn(file: string, from: string | RegExp, to: string): void {
  const text = readFileSync(file, 'utf8')
  const next = text.replace(from, to)
  assert.notEqual(next, text, `nothing replaced in ${file}`)
  writeFileSync(file, next)
}

function assertNoStack(r: RunResult): void {
  assert.doesNotMatch(r.stdout, STACK_LINE, `stack trace on stdout:\n${r.stdout}`)
  assert.doesNotMatch(r.stderr, STACK_LINE, `stack trace on stderr:\n${r.stderr}`)
}

// Each test spawns its own process on its own temp copy, so they can run side by side.
describe('bfe command line', { concurrency: 4 }, () => {
  test('-v prints the version', async () => {
    const r = await bfe(['-v'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^bfe version: \S+\n$/)
  })

  test('-V prints version, runtime and commit', async () => {
    const r = await bfe(['-V'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^bfe version: /)
    assert.ok(r.stdout.includes(process.version), r.stdout)
  })

  for (const form of [['-h'], ['--help'], ['-help'], ['--h'], ['-h=true']]) {
    test(`${form.join(' ')} prints usage with every flag, as Go's flag package lays it out`, async () => {
      const r = await bfe(form)
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /^Usage of bfe:\n/)
      for (const f of ['-c string', '-l string', '-s\t', '-d\t', '-t\t', '-v\t', '-V\t', '-h\t'])
        assert.ok(r.stdout.includes(`  ${f}`), f)
      assert.ok(r.stdout.includes('(default "./conf")'))
    })
  }

  for (const form of [['--version'], ['-version'], ['--v'], ['-v=true'], ['-t=false', '-v']]) {
    test(`${form.join(' ')} prints the version`, async () => {
      const r = await bfe(form)
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /^bfe version: \S+\n$/)
    })
  }

  const usageErrors: { args: string[]; message: string }[] = [
    { args: ['-x'], message: 'flag provided but not defined: -x' },
    { args: ['--nope=1'], message: 'flag provided but not defined: -nope' },
    { args: ['-c'], message: 'flag needs an argument: -c' },
    { args: ['-t=maybe'], message: 'invalid boolean value "maybe" for -t: parse error' },
    { args: ['---t'], message: 'bad flag syntax: ---t' },
  ]
  for (const u of usageErrors) {
    test(`${u.args.join(' ')}: Go's message and usage on stderr, exit 2`, async () => {
      const r = await bfe(u.args)
      assert.equal(r.code, 2)
      assert.equal(r.stdout, '')
      assert.ok(r.stderr.startsWith(`${u.message}\nUsage of bfe:\n`), r.stderr)
      assert.doesNotMatch(r.stderr, /Error/)
      assertNoStack(r)
    })
  }

  for (const form of [
    (root: string) => ['-t', `-c=${root}`],
    (root: string) => ['--c', root, '--t'],
    (root: string) => [`--c=${root}`, '-t=true'],
    (root: string) => ['-t=1', '-c', root, '-s=false'],
  ]) {
    test(`flag forms ${form('<dir>').join(' ')} test the configuration`, async () => {
      const r = await bfe(form(CONF))
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.ok(
        r.stdout.includes(`bfe: configuration file ${join(CONF, 'bfe.conf')} test is successful\n`),
        r.stdout,
      )
    })
  }

  test('-t -c conf: the bundled configuration passes', async () => {
    const r = await bfe(['-t', '-c', CONF])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.ok(
      r.stdout.includes(`bfe: configuration file ${join(CONF, 'bfe.conf')} test is successful\n`),
      r.stdout,
    )
  })

  test('-t with a relative -c prints the absolute path', async () => {
    const r = await bfe(['-t', '-c', basename(CONF)], dirname(CONF))
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.ok(
      r.stdout.includes(`bfe: configuration file ${CONF}/bfe.conf test is successful`),
      r.stdout,
    )
  })

  const broken: {
    name: string
    edit: (root: string) => void
    file: RegExp
    field: RegExp
  }[] = [
    {
      name: 'cluster_table.data Port 70000',
      edit: (root) =>
        replaceIn(join(root, 'cluster_conf/cluster_table.data'), '"Port": 8181', '"Port": 70000'),
      file: /cluster_table\.data/,
      field: /Port/,
    },
    {
      name: 'cluster_table.data Weight as a string',
      edit: (root) =>
        replaceIn(join(root, 'cluster_conf/cluster_table.data'), '"Weight": 2', '"Weight": "1"'),
      file: /cluster_table\.data/,
      field: /Weight/,
    },
    {
      name: 'route_rule.data with a bad Cond',
      edit: (root) =>
        replaceIn(join(root, 'server_data_conf/route_rule.data'), 'default_t()', 'default_t('),
      file: /route_rule\.data/,
      field: /Cond/,
    },
    {
      name: 'cluster_conf.data with a wrong type',
      edit: (root) =>
        replaceIn(
          join(root, 'server_data_conf/cluster_conf.data'),
          '"TimeoutConnSrv": 2000',
          '"TimeoutConnSrv": "2s"',
        ),
      file: /cluster_conf\.data/,
      field: /TimeoutConnSrv/,
    },
    {
      name: 'host_rule.data that is not JSON',
      edit: (root) => writeFileSync(join(root, 'server_data_conf/host_rule.data'), '{ "Version": '),
      file: /host_rule\.data/,
      field: /./,
    },
    {
      name: 'gslb.data naming a cluster absent from cluster_table.data',
      edit: (root) =>
        replaceIn(join(root, 'cluster_conf/gslb.data'), '"cluster_static":', '"cluster_nope":'),
      file: /gslb\.data/,
      field: /cluster_nope/,
    },
  ]

  for (const b of broken) {
    test(`-t fails on ${b.name}: names the file and the field, no stack trace`, async () => {
      const root = copyConf(CONF, b.edit)
      const r = await bfe(['-t', '-c', root])
      assert.equal(r.code, 1, r.stdout + r.stderr)
      assert.ok(
        r.stderr.includes(`bfe: configuration file ${root}/bfe.conf test failed`),
        r.stdout + r.stderr,
      )
      assert.equal(r.stdout, '', 'errors of -t go to stderr')
      const out = r.stderr
      assert.match(out, b.file)
      const line = out.split('\n').find((l) => b.file.test(l)) ?? ''
      assert.match(line, b.field, `the message does not name the field: ${line}`)
      assertNoStack(r)
    })
  }

  // decisions.md D23: numbers out of range are refused by -t, naming the file, the field and the range
  const CC = 'server_data_conf/cluster_conf.data'
  const WEB_CHECK = '"StatusCode": 200 }'
  const outOfRange: { name: string; edit: (root: string) => void; file: RegExp; line: RegExp }[] = [
    {
      name: 'CheckInterval 2147483648 (past the timer limit)',
      edit: (root) =>
        replaceIn(join(root, CC), WEB_CHECK, '"StatusCode": 200, "CheckInterval": 2147483648 }'),
      file: /cluster_conf\.data/,
      line: /\/Config\/cluster_web\/CheckConf\/CheckInterval must be in \[1, 2147483647\] ms, got 2147483648/,
    },
    {
      name: 'RetryMax 1e9',
      edit: (root) => replaceIn(join(root, CC), '"RetryMax": 2', '"RetryMax": 1e9'),
      file: /cluster_conf\.data/,
      line: /\/GslbBasic\/RetryMax must be in \[0, 100\], got 1000000000/,
    },
    {
      name: 'RetryMax 1.5 (a count with a fraction)',
      edit: (root) => replaceIn(join(root, CC), '"RetryMax": 2', '"RetryMax": 1.5'),
      file: /cluster_conf\.data/,
      line: /\/GslbBasic\/RetryMax must be an integer in \[0, 100\], got 1\.5/,
    },
    {
      name: 'Weight 1e30',
      edit: (root) =>
        replaceIn(join(root, 'cluster_conf/cluster_table.data'), '"Weight": 2', '"Weight": 1e30'),
      file: /cluster_table\.data/,
      line: /\/Weight must be in \[-1000000, 1000000\], got 1e\+30/,
    },
    {
      name: 'MaxCpus = 100000',
      edit: (root) => replaceIn(join(root, 'bfe.conf'), /^MaxCpus = 1$/m, 'MaxCpus = 100000'),
      file: /bfe\.conf/,
      line: /line \d+ \[Server\] MaxCpus must be in \[0, 256\], got 100000/,
    },
    {
      name: 'a cluster named __proto__',
      edit: (root) =>
        replaceIn(join(root, CC), '"cluster_static": {}', '"cluster_static": {}, "__proto__": {}'),
      file: /cluster_conf\.data/,
      line: /\/Config\/__proto__ "__proto__" cannot be used as a cluster name/,
    },
  ]
  for (const b of outOfRange) {
    test(`-t refuses ${b.name}: file, field and allowed range on stderr`, async () => {
      const root = copyConf(CONF, b.edit)
      const r = await bfe(['-t', '-c', root])
      assert.equal(r.code, 1, r.stdout + r.stderr)
      assert.match(r.stderr, /test failed/)
      const line = r.stderr.split('\n').find((l) => b.file.test(l) && b.line.test(l))
      assert.ok(line !== undefined, `no line names the file, field and range:\n${r.stderr}`)
      assertNoStack(r)
    })
  }

  test('-t clamps CheckTimeout 3000000000 to the timer limit, with a warning naming the field', async () => {
    const root = copyConf(CONF, (r) =>
      replaceIn(join(r, CC), WEB_CHECK, '"StatusCode": 200, "CheckTimeout": 3000000000 }'),
    )
    const r = await bfe(['-t', '-c', root])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(
      r.stderr,
      /bfe: warning: .*cluster_conf\.data: \/Config\/cluster_web\/CheckConf\/CheckTimeout 3000000000 is above the maximum 2147483647 ms, using 2147483647/,
    )
    assert.match(r.stdout, /test is successful/)
  })

  test('starting (without -t) on a broken configuration exits 1 with the message and no stack', async () => {
    const root = copyConf(CONF, (r) =>
      replaceIn(join(r, 'cluster_conf/cluster_table.data'), '"Port": 8181', '"Port": 70000'),
    )
    const r = await bfe(['-c', root, '-l', join(root, 'log')])
    assert.equal(r.code, 1)
    assert.match(r.stdout + r.stderr, /cluster_table\.data.*Port/)
    assertNoStack(r)
  })

  test('bfe.conf with an unknown key names bfe.conf and the line', async () => {
    const root = copyConf(CONF, (r) => {
      const file = join(r, 'bfe.conf')
      const lines = readFileSync(file, 'utf8').split('\n')
      const at = lines.findIndex((l) => l.startsWith('MaxCpus'))
      lines.splice(at + 1, 0, 'NoSuchKey = 1')
      writeFileSync(file, lines.join('\n'))
    })
    const lineNo =
      readFileSync(join(root, 'bfe.conf'), 'utf8')
        .split('\n')
        .findIndex((l) => l.startsWith('NoSuchKey')) + 1
    const r = await bfe(['-t', '-c', root])
    assert.equal(r.code, 1)
    const msg = r.stderr.split('\n').find((l) => l.includes('NoSuchKey')) ?? ''
    assert.match(msg, /bfe\.conf/)
    assert.match(msg, new RegExp(`line ${lineNo}\\b`))
    assert.match(r.stderr, /test failed/)
    assertNoStack(r)
  })

  const moduleCases = [
    { name: 'mod_wasm', expect: /mod_wasm.*does not support/ },
    { name: 'mod_nonsense', expect: /unknown module "?mod_nonsense/ },
  ]
  for (const m of moduleCases) {
    test(`Modules = ${m.name} fails start-up with a clear message`, async () => {
      const root = copyConf(CONF, (r) =>
        replaceIn(join(r, 'bfe.conf'), /^NameConf =$/m, `NameConf =\nModules = ${m.name}`),
      )
      const r = await bfe(['-t', '-c', root])
      assert.equal(r.code, 1)
      assert.match(r.stderr, m.expect)
      assert.match(r.stderr, /test failed/)
      assert.doesNotMatch(r.stderr, /Error:/)
      if (m.name !== 'mod_nonsense') assert.doesNotMatch(r.stderr, /unknown module/)
      assertNoStack(r)
    })
  }

  test('-t accepts the BFE 1.8 configuration directory as BFE ships it', async () => {
    const r = await bfe(['-t', '-c', BFE18])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.ok(
      r.stdout.includes(`bfe: configuration file ${BFE18}/bfe.conf test is successful`),
      r.stdout,
    )
    assertNoStack(r)
  })

  test('-t on the BFE 1.8 layout fails when NameConf points at a missing file', async () => {
    const root = copyConf(BFE18, (r) => rmSync(join(r, 'server_data_conf/name_conf.data')))
    const r = await bfe(['-t', '-c', root])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /name_conf\.data/)
    assert.doesNotMatch(r.stderr, /Error:/)
    assertNoStack(r)
  })

  test('the BFE 1.8 configuration starts and routes a request to its cluster', async () => {
    const up = await startUpstream()
    try {
      const httpPort = await closedPort()
      const httpsPort = await closedPort()
      const monitorPort = await closedPort()
      const root = copyConf(BFE18, (r) => {
        const conf = join(r, 'bfe.conf')
        replaceIn(conf, /^HttpPort = 8080$/m, `HttpPort = ${httpPort}`)
        replaceIn(conf, /^HttpsPort = 8443$/m, `HttpsPort = ${httpsPort}`)
        replaceIn(conf, /^MonitorPort = 8421$/m, `MonitorPort = ${monitorPort}`)
        // one process: the multi-worker mode (MaxCpus = 0) is not what this test is about
        replaceIn(conf, /^MaxCpus = 0$/m, 'MaxCpus = 1')
        replaceIn(join(r, 'cluster_conf/cluster_table.data'), '"Port": 8181', `"Port": ${up.port}`)
      })
      const child = spawn(process.execPath, [MAIN, '-c', root, '-l', join(root, 'log')], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      children.push(child)
      let out = ''
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString()
      })
      child.stderr.on('data', (c: Buffer) => {
        out += c.toString()
      })
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
      const end = Date.now() + 5000
      while (!out.includes('listening on port')) {
        if (Date.now() > end || child.exitCode !== null) assert.fail(`bfe did not start: ${out}`)
        await new Promise((r) => setTimeout(r, 20))
      }
      assert.match(out, new RegExp(`listening on port ${httpPort}\\b`))

      const ok = await get(`http://127.0.0.1:${httpPort}/hello?x=1`, {
        headers: { host: 'example.org' },
      })
      assert.equal(ok.status, 200)
      assert.equal(ok.body, `ok ${up.port}`)
      assert.equal(up.seen.at(-1)?.url, '/hello?x=1')
      assert.equal(up.seen.at(-1)?.headers.host, 'example.org')

      // no default product in BFE's sample: an unknown host gets BFE's 500
      const miss = await get(`http://127.0.0.1:${httpPort}/`, { headers: { host: 'other.org' } })
      assert.equal(miss.status, 500)
      assert.equal(up.seen.length, 1)

      child.kill('SIGTERM')
      const code = await exited
      assert.equal(code, 0)
      assert.doesNotMatch(out, STACK_LINE)
    } finally {
      await up.close()
    }
  })
})
