import { spawn } from 'node:child_process'
import { request } from 'node:http'

/** One GET to a monitor port (a fresh connection), optionally from another local address. */
export function monitorGet(
  port: number,
  path: string,
  localAddress?: string,
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, agent: false, ...(localAddress ? { localAddress } : {}) },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString(),
          }),
        )
      },
    )
    req.on('error', reject)
    req.end()
  })
}

/** The handler names an index page (`/monitor`, `/reload`) links to. */
export function indexNames(html: string, type: string): string[] {
  return [...html.matchAll(new RegExp(`href="/${type}/([^"]+)"`, 'g'))].map((m) =>
    decodeURI(m[1] ?? ''),
  )
}

/**
 * Runs `promtool check metrics` on `text` (stdin). Resolves with its output when the text parses
 * as Prometheus exposition: exit 0, or 3 for lint findings only (BFE's counter names do not end
 * in `_total` and carry no HELP text). A parse error (exit 1) rejects.
 */
export function promtoolCheck(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.on('error', reject)
    child.stdin.on('error', () => {})
    child.on('close', (code) => {
      if ((code === 0 || code === 3) && !/error while linting|parsing error/.test(out)) resolve(out)
      else reject(new Error(`promtool check metrics exit ${code}: ${out}\n--- input ---\n${text}`))
    })
    child.stdin.end(text)
  })
}
