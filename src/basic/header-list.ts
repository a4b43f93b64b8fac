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

  constructor(raw?: string[], checked = 0) {
    this.raw = raw ?? []
    this.checked = raw === undefined ? 0 : Math.min(checked, raw.length)
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
    return new HeaderList(this.raw.slice(), this.checked)
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
