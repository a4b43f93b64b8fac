/*
 * Writing log text straight into a batch buffer. A line written piece by piece costs less than
 * one built as a string and then encoded: a string of a dozen appended pieces is a tree that
 * V8 must first copy into one flat string (about 12 ns a piece), before the encoder copies it
 * again (docs/performance.md §19).
 *
 * Two kinds of text go into a line:
 * - bytes as received: what came from the wire (header values, the request target, all decoded
 *   one byte per character) and what we generate (numbers, times, ids). Each character is one
 *   byte, as BFE writes the bytes it received;
 * - configuration text (product and cluster names, a template's literal text): Unicode, written
 *   as UTF-8.
 *
 * Each function returns the offset after what it wrote, or -1 when `buf` has no room from `at`
 * (nothing useful is written then; the caller starts again in a bigger buffer). An `at` of -1
 * passes through, so a writer can chain calls and test once.
 */

/** Above this length a string is copied by one Buffer#write call rather than a loop. */
const LOOP_MAX = 40

/** Writes `s` one byte per character (characters above U+00FF keep their low byte, as on the wire). */
export function putBytes(buf: Buffer, at: number, s: string): number {
  const n = s.length
  if (at < 0 || at + n > buf.length) return -1
  if (n > LOOP_MAX) return at + buf.write(s, at, n, 'latin1')
  for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i)
  return at + n
}

/** Writes `s` as UTF-8. */
export function putUtf8(buf: Buffer, at: number, s: string): number {
  if (at < 0) return -1
  const n = s.length
  let ascii = true
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false
      break
    }
  }
  if (ascii) return putBytes(buf, at, s)
  const len = Buffer.byteLength(s, 'utf8')
  if (at + len > buf.length) return -1
  return at + buf.write(s, at, len, 'utf8')
}

/** Writes one byte (an ASCII separator). */
export function putByte(buf: Buffer, at: number, b: number): number {
  if (at < 0 || at >= buf.length) return -1
  buf[at] = b
  return at + 1
}

/** `s` (configuration text) as the byte string of its UTF-8 encoding, for `putBytes`. */
export function utf8Bytes(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1')
}
