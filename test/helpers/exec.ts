import { spawn } from 'node:child_process'

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs a real client program (curl, openssl, h2load) without blocking the event loop, so a
 * server in this process keeps serving it. Stdin gets `input` (then EOF). Killed after
 * `timeoutMs`.
 */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    child.stdin.on('error', () => {})
    child.stdin.end(opts.input ?? '')
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 10_000)
    child.on('error', (err) => {
      clearTimeout(t)
      reject(err)
    })
    child.on('close', (code) => {
      clearTimeout(t)
      resolve({ code, stdout, stderr })
    })
  })
}

/** `curl` against 127.0.0.1:`port` as `https://<host>:<port><path>` (SNI = host). */
export function curlTls(
  host: string,
  port: number,
  path: string,
  extra: readonly string[] = [],
): Promise<RunResult> {
  return run('curl', [
    '-sS',
    '-k',
    '--max-time',
    '5',
    '--resolve',
    `${host}:${port}:127.0.0.1`,
    '-w',
    '\\n%{http_code} %{http_version}',
    ...extra,
    `https://${host}:${port}${path}`,
  ])
}

/** The last line of curlTls output: [status, http version]. */
export function curlStatus(r: RunResult): [string, string] {
  const last = r.stdout.trimEnd().split('\n').pop() ?? ''
  const [code = '', version = ''] = last.split(' ')
  return [code, version]
}

/**
 * `openssl s_client` against 127.0.0.1:`port`; `args` adds -servername, -tls1_2 ... With `input`
 * (e.g. an HTTP/1.0 request) it reads until the server closes (`-ign_eof`), so the answer and
 * any TLS 1.3 session tickets arrive before it exits.
 */
export function sClient(port: number, args: readonly string[], input = ''): Promise<RunResult> {
  const eof = input === '' ? [] : ['-ign_eof']
  return run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...eof, ...args], {
    input,
    timeoutMs: 8000,
  })
}
