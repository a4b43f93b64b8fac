import { isFieldValue, isToken } from './field-syntax.js'

/**
 * An ordered header list kept as a flat array `[name0, value0, name1, value1, ...]`, the shape of
 * Node's `rawHeaders` and of undici's `headers` option, so nothing is converted on the hot path.
 * Names keep their case; lookups are case-insensitive. Duplicates are kept.
 */
export class HeaderList {
  readonly raw: string[]
  /**
   * How many leading elements of `raw` (names and values) are known to be valid field syntax,
   * because a strict parser produced them (llhttp checks names and values as the head writers
   * would) or the code that appended them vouches for them; the HTTP/1 writers (the response
   * head, the request head to a backend) check only the elements after them. `set` and `delete`
   * lower it to the first element they change; `add` appends past it. Code that writes into
   * `raw` directly must call `uncheckFrom` with the first index it changes.
   */
  checked: number
  /**
   * Fields appended to this list as a unit, with their HTTP/1.1 text made once (HeaderRun):
   * the request writer to a backend copies the text where `raw` still holds the run unchanged.
   * A hint only: whatever `raw` holds is what is sent.
   */
  run: HeaderRun | undefined

  constructor(raw?: string[], checked = 0) {
    this.raw = raw ?? []
    this.checked = raw === undefined ? 0 : Math.min(checked, raw.length)
    this.run = undefined
  }

  /** Fields from the one holding element `i` on are no longer known to be valid. */
  uncheckFrom(i: number): void {
    const pair = i - (i % 2)
    if (pair < this.checked) this.checked = pair
  }

  /** First value of `name`, or undefined. */
  get(name: string): string | undefined {
    const raw = this.raw
    for (let i = 0; i < raw.length; i += 2) if (sameName(raw[i]!, name)) return raw[i + 1]
    return undefined
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const out: string[] = []
    const raw = this.raw
    for (let i = 0; i < raw.length; i += 2) if (sameName(raw[i]!, name)) out.push(raw[i + 1]!)
    return out
  }

  has(name: string): boolean {
    return this.get(name) !== undefined
  }

  /** Appends one value (keeps existing ones); `valid` as for `set`. */
  add(name: string, value: string, valid = false): void {
    const raw = this.raw
    if (valid && this.checked === raw.length) this.checked = raw.length + 2
    raw.push(name, value)
  }

  /**
   * Replaces every value of `name` with one value, at the position of the first one. `valid`
   * vouches that the field is valid syntax (a token name, a value of visible characters): one
   * appended after a wholly checked list then joins the checked prefix.
   */
  set(name: string, value: string, valid = false): void {
    const raw = this.raw
    let found = false
    let w = 0
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!
      if (sameName(k, name)) {
        if (found) continue
        found = true
        if (w < this.checked) this.checked = w
        raw[w] = k
        raw[w + 1] = value
        w += 2
        continue
      }
      if (w !== i) {
        raw[w] = k
        raw[w + 1] = raw[i + 1]!
      }
      w += 2
    }
    // Setting an array's length is a call into the V8 runtime even when nothing changes.
    if (w !== raw.length) raw.length = w
    if (!found) {
      if (valid && this.checked === w) this.checked = w + 2
      raw.push(name, value)
    }
  }

  /** Removes every value of `name`. Returns true when something was removed. */
  delete(name: string): boolean {
    const raw = this.raw
    let w = 0
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!
      if (sameName(k, name)) {
        if (i < this.checked) this.checked = i
        continue
      }
      if (w !== i) {
        raw[w] = k
        raw[w + 1] = raw[i + 1]!
      }
      w += 2
    }
    const removed = w !== raw.length
    if (removed) raw.length = w
    return removed
  }

  /** Number of header lines. */
  get size(): number {
    return this.raw.length >> 1
  }

  clone(): HeaderList {
    const c = new HeaderList(this.raw.slice(), this.checked)
    c.run = this.run
    return c
  }
}

/**
 * Fields that are appended together to many requests, checked and turned into HTTP/1.1 field
 * lines once: mod_header's forwarding headers, the same on every request of a connection. Written
 * one by one, five such fields cost a backend request head about 180 ns (each line is four string
 * pieces, copied again when the head is flattened); the writer copies `text` instead wherever
 * the list still holds the run, name for name and value for value (`at`), so an edit made since
 * by a module is seen and written as it is.
 */
export class HeaderRun {
  /** `[name0, value0, name1, value1, ...]`, as appended to `HeaderList.raw`. */
  readonly fields: readonly string[]
  /** `name: value\r\n` for each field, as one flat string. */
  readonly text: string

  private constructor(fields: readonly string[], text: string) {
    this.fields = fields
    this.text = text
  }

  /**
   * A run of `fields`; undefined when one is not valid field syntax, or is a field the request
   * writer frames the message with (Host, Content-Length), or there is none.
   */
  static of(fields: readonly string[]): HeaderRun | undefined {
    if (fields.length === 0 || fields.length % 2 !== 0) return undefined
    let text = ''
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i] as string
      const value = fields[i + 1] as string
      if (!isToken(name) || !isFieldValue(value)) return undefined
      if (sameName(name, 'host') || sameName(name, 'content-length')) return undefined
      text += `${name}: ${value}\r\n`
    }
    // one flat string: the heads it goes into are flattened on every write
    return new HeaderRun(fields, Buffer.from(text, 'latin1').toString('latin1'))
  }

  /** `raw` holds the run from element `i` on. */
  at(raw: readonly string[], i: number): boolean {
    const f = this.fields
    if (i + f.length > raw.length) return false
    for (let j = 0; j < f.length; j++) if (raw[i + j] !== f[j]) return false
    return true
  }
}

/**
 * Header-name equality with ASCII case folding (field names are tokens, RFC 9110 §5.1), without
 * allocating lower-cased copies: the request path looks names up many times per request.
 */
export function sameName(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  if (a === b) return true
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    if (x >= 65 && x <= 90) x += 32
    if (y >= 65 && y <= 90) y += 32
    if (x !== y) return false
  }
  return true
}
