/**
 * MurmurHash3, x86 32-bit variant, seed 0: Go's `murmur3.Sum32` (github.com/spaolacci/murmur3),
 * which BFE uses to put a client IP into one of 100 buckets for optional ALPN protocols.
 */
export function murmur3Sum32(data: Uint8Array, seed = 0): number {
  const c1 = 0xcc9e2d51
  const c2 = 0x1b873593
  let h = seed >>> 0
  const len = data.length
  const blockEnd = len - (len & 3)
  for (let i = 0; i < blockEnd; i += 4) {
    let k =
      ((data[i] ?? 0) |
        ((data[i + 1] ?? 0) << 8) |
        ((data[i + 2] ?? 0) << 16) |
        ((data[i + 3] ?? 0) << 24)) >>>
      0
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, c2)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  let k = 0
  const tail = len & 3
  if (tail === 3) k ^= (data[blockEnd + 2] ?? 0) << 16
  if (tail >= 2) k ^= (data[blockEnd + 1] ?? 0) << 8
  if (tail >= 1) {
    k ^= data[blockEnd] ?? 0
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, c2)
    h ^= k
  }
  h ^= len
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
