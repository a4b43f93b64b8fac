import type { Socket } from 'node:net'

/** Longest interim head we hold while looking for its end; past it the bytes go to undici as-is. */
const MAX_INTERIM_HEAD = 8192

const PREFIX = 'HTTP/1.1 100'
/** A request head as undici writes it: `METHOD target HTTP/1.1` (a string; bodies are buffers). */
const REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^ ]+ HTTP\/1\.1\r\n/

/**
 * Makes an HTTP/1 backend connection drop `100 Continue` interim responses before undici's
 * parser sees them. RFC 9110 §15.2 has a client accept any 1xx, even one it did not ask for;
 * undici takes a `100` as a bad response and destroys the connection, so a backend that sends
 * `100 Continue` before its real answer (unsolicited, or for a forwarded `Expect`) would get the
 * client a 502. Other 1xx (102, 103) undici skips itself.
 *
 * The filter looks only at the first bytes of each response: it arms when undici writes a request
 * head (one request at a time per connection, pipelining 1) and disarms at the first byte that
 * does not begin a `100` head.
 */
export function dropInterimContinue(socket: Socket): void {
  let armed = false
  let held: Buffer | undefined
  const write = socket.write
  socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]): boolean {
    if (typeof chunk === 'string' && REQUEST_LINE.test(chunk)) {
      armed = true
      held = undefined
    }
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest)
  } as Socket['write']
  const read = socket.read
  socket.read = function (this: Socket, size?: number): Buffer | null {
    for (;;) {
      const chunk = read.call(this, size) as Buffer | null
      if (chunk === null || !armed) return chunk
      const out = strip(held === undefined ? chunk : Buffer.concat([held, chunk]))
      if (out !== null) return out
    }
  } as Socket['read']

  /** What undici may see of `buf` now; null when everything is held or dropped. */
  function strip(buf: Buffer): Buffer | null {
    held = undefined
    for (;;) {
      const n = Math.min(buf.length, PREFIX.length)
      if (!startsLikeContinue(buf, n)) {
        armed = false
        return buf.length === 0 ? null : buf
      }
      if (buf.length <= PREFIX.length) {
        held = buf
        return null
      }
      const c = buf[PREFIX.length]
      if (c !== 0x20 && c !== 0x0d) {
        armed = false
        return buf
      }
      const end = buf.indexOf('\r\n\r\n')
      if (end === -1) {
        if (buf.length > MAX_INTERIM_HEAD) {
          armed = false
          return buf
        }
        held = buf
        return null
      }
      buf = buf.subarray(end + 4)
      if (buf.length === 0) return null
    }
  }
}

/** The first `n` bytes of `buf` match `HTTP/1.x 100` (x 0 or 1). */
function startsLikeContinue(buf: Buffer, n: number): boolean {
  for (let i = 0; i < n; i++) {
    const c = buf[i]
    if (i === 7) {
      if (c !== 0x30 && c !== 0x31) return false
    } else if (c !== PREFIX.charCodeAt(i)) return false
  }
  return true
}
