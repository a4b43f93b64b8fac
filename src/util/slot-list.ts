/**
 * A set of objects kept in an array, each member holding its own position in a numeric field
 * named when the list is made (`-1` when it is in no list). Adding and deleting are O(1) and,
 * once the array has grown to its working size, allocate nothing.
 *
 * Used instead of a `Set` for long-lived sets that gain and lose members per request or per
 * connection: V8 gives a `Set` a new hash table whenever it grows, shrinks or clears out deleted
 * entries, and the tables of a `Set` that lives in the old generation are allocated there. One
 * such `Set` per upstream pool, gaining and losing a connection per request, made about 3 MB of
 * old-generation garbage a second, and with it a 5-8 ms mark-compact pause every few seconds
 * (docs/performance.md §17).
 *
 * Deleting moves the last member into the freed position. A loop that may delete members while
 * it runs walks from the end (`at(size - 1)` down to `at(0)`): deleting the member at hand or any
 * other then never skips one still to be visited, though a member may be visited twice.
 */
export class SlotList<K extends string, T extends Record<K, number>> {
  private readonly items: (T | undefined)[]
  private n: number
  private readonly key: K

  constructor(key: K) {
    this.items = []
    this.n = 0
    this.key = key
  }

  get size(): number {
    return this.n
  }

  has(x: T): boolean {
    const i = x[this.key]
    return i >= 0 && i < this.n && this.items[i] === x
  }

  /** Adds `x` unless it is a member already. */
  add(x: T): void {
    if (this.has(x)) return
    ;(x as Record<K, number>)[this.key] = this.n
    this.items[this.n++] = x
  }

  /** Removes `x`; false when it was not a member. */
  delete(x: T): boolean {
    if (!this.has(x)) return false
    const i = x[this.key]
    const last = this.items[--this.n] as T
    // the array keeps its length: shrinking and regrowing it would allocate again
    this.items[this.n] = undefined
    if (last !== x) {
      this.items[i] = last
      ;(last as Record<K, number>)[this.key] = i
    }
    ;(x as Record<K, number>)[this.key] = -1
    return true
  }

  /** The member at position `i` (0 ≤ i < size), in no particular order. */
  at(i: number): T | undefined {
    return i < this.n ? this.items[i] : undefined
  }

  /** A copy of the members, for loops that call out to code that may change the list. */
  toArray(): T[] {
    return this.items.slice(0, this.n) as T[]
  }

  /** Removes every member. */
  clear(): void {
    for (let i = 0; i < this.n; i++) {
      ;(this.items[i] as Record<K, number>)[this.key] = -1
      this.items[i] = undefined
    }
    this.n = 0
  }
}
