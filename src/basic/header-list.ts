/**
 * An ordered header list kept as a flat array `[name0, value0, name1, value1, ...]`, the shape of
 * Node's `rawHeaders` and of undici's `headers` option, so nothing is converted on the hot path.
 * Names keep their case; lookups are case-insensitive. Duplicates are kept.
 */
export class HeaderList {
  raw: string[]

  constructor(raw?: string[]) {
    this.raw = raw ?? []
  }

  /** First value of `name`, or undefined. */
  get(name: string): string | undefined {
    const raw = this.raw
    const len = name.length
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!
      if (k.length === len && (k === name || k.toLowerCase() === name.toLowerCase()))
        return raw[i + 1]
    }
    return undefined
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const out: string[] = []
    const raw = this.raw
    const lower = name.toLowerCase()
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!
      if (k.length === lower.length && k.toLowerCase() === lower) out.push(raw[i + 1]!)
    }
    return out
  }

  has(name: string): boolean {
    return this.get(name) !== undefined
  }

  /** Appends one value (keeps existing ones). */
  add(name: string, value: string): void {
    this.raw.push(name, value)
  }

  /** Replaces every value of `name` with one value, at the position of the first one. */
  set(name: string, value: string): void {
    const raw = this.raw
    const lower = name.toLowerCase()
    let found = false
    let w = 0
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!
      if (k.length === lower.length && k.toLowerCase() === lower) {
        if (found) continue
        found = true
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
    raw.length = w
    if (!found) raw.push(name, value)
  }

  /** Removes every value of `name`. Returns true when something was removed. */
  delete(name: string): boolean {
    const raw = this.raw
    const lower = name.toLowerCase()
    let w = 0
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!
      if (k.length === lower.length && k.toLowerCase() === lower) continue
      if (w !== i) {
        raw[w] = k
        raw[w + 1] = raw[i + 1]!
      }
      w += 2
    }
    const removed = w !== raw.length
    raw.length = w
    return removed
  }

  /** Number of header lines. */
  get size(): number {
    return this.raw.length >> 1
  }

  clone(): HeaderList {
    return new HeaderList(this.raw.slice())
  }
}
