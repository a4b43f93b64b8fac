/**
 * A least-recently-used map with a capacity that can grow (mod_prison keeps a rule's counters
 * across reloads and enlarges them when the new rule asks for more). A Map keeps insertion order,
 * so re-inserting a key on use makes the first key the least recently used one.
 */
export class Lru<V> {
  private readonly map = new Map<string, V>()
  private cap: number

  constructor(capacity: number) {
    this.cap = Math.max(1, capacity)
  }

  get capacity(): number {
    return this.cap
  }

  get size(): number {
    return this.map.size
  }

  /** The value of `key` (now the most recently used), or undefined. */
  get(key: string): V | undefined {
    const v = this.map.get(key)
    if (v === undefined) return undefined
    this.map.delete(key)
    this.map.set(key, v)
    return v
  }

  /** Sets `key`, evicting the least recently used entry when full. */
  set(key: string, value: V): void {
    if (this.map.has(key)) this.map.delete(key)
    else if (this.map.size >= this.cap) {
      const oldest = this.map.keys().next()
      if (oldest.done !== true) this.map.delete(oldest.value)
    }
    this.map.set(key, value)
  }

  delete(key: string): void {
    this.map.delete(key)
  }

  /** Grows the capacity to `capacity` (never shrinks, as BFE's dictionaries). */
  enlarge(capacity: number): void {
    if (capacity > this.cap) this.cap = capacity
  }
}
