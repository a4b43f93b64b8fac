import { STATUS_CODES } from 'node:http'
import { isFieldValue, isToken } from '../../../basic/field-syntax.js'

/*
 * Building HTTP/1.1 response heads: status lines, field validation (no response splitting), the
 * cached Date value, and one-write sends of a head with the first body bytes.
 */

const statusLines: string[] = []

/** `HTTP/1.1 <code> <reason>\r\n`, cached per code (node:http's reason phrases). */
export function statusLine(code: number): string {
  let s = statusLines[code]
  if (s === undefined) {
    s = `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'unknown'}\r\n`
    if (code >= 100 && code < 1000) statusLines[code] = s
  }
  return s
}

/** Throws (as node:http does) on a field that would break the head's framing. */
export function checkField(name: string, value: string): void {
  if (!isToken(name))
    throw Object.assign(new TypeError(`invalid header name ${JSON.stringify(name)}`), {
      code: 'ERR_INVALID_HTTP_TOKEN',
    })
  if (!isFieldValue(value))
    throw Object.assign(new TypeError(`invalid character in header ${JSON.stringify(name)}`), {
      code: 'ERR_INVALID_CHAR',
    })
}

let dateValue = ''

/** The `Date` value (IMF-fixdate), recomputed at most once a second. */
export function httpDate(): string {
  if (dateValue === '') {
    const now = Date.now()
    dateValue = new Date(now).toUTCString()
    setTimeout(resetDate, 1000 - (now % 1000)).unref()
  }
  return dateValue
}

function resetDate(): void {
  dateValue = ''
}

/** Bodies up to this size go out in the same buffer as their head (one write). */
export const JOIN_LIMIT = 16 * 1024

const CRLF = '\r\n'

/**
 * Writes `head` (latin1, may be '') then `chunk` framed as one chunk of a chunked body when
 * `chunked`, as one write when small, else as one corked burst (one writev).
 */
export function sendJoined(
  socket: {
    write(b: Buffer | string, enc?: BufferEncoding): boolean
    cork(): void
    uncork(): void
  },
  head: string,
  chunk: Buffer,
  chunked: boolean,
): boolean {
  const prefix = chunked ? `${chunk.length.toString(16)}\r\n` : ''
  const total = head.length + prefix.length + chunk.length + (chunked ? 2 : 0)
  if (total <= JOIN_LIMIT) {
    const buf = Buffer.allocUnsafe(total)
    let off = head.length === 0 ? 0 : buf.write(head, 0, 'latin1')
    if (chunked) off += buf.write(prefix, off, 'latin1')
    off += chunk.copy(buf, off)
    if (chunked) buf.write(CRLF, off, 'latin1')
    return socket.write(buf)
  }
  socket.cork()
  if (head.length > 0 || chunked) socket.write(head + prefix, 'latin1')
  socket.write(chunk)
  const ok = chunked ? socket.write(CRLF, 'latin1') : true
  socket.uncork()
  return ok && (socket as { writableNeedDrain?: boolean }).writableNeedDrain !== true
}
