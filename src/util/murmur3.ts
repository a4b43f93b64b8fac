/**
 * MurmurHash3, x64 128-bit variant, seed 0. `murmur3Sum64` returns the first 64-bit half (h1),
 * which is what Go's `murmur3.Sum64` returns and what BFE's hash buckets and GSLB hashing use.
 *
 * 64-bit lanes are held as pairs of unsigned 32-bit numbers (hi, lo) so that hashing a request
 * value needs no BigInt and allocates nothing; only `murmur3Sum64` builds a bigint at the end.
 */

// Multiplication constants of the x64 128 variant, split into 32-bit halves.
const C1_HI = 0x87c37b91
const C1_LO = 0x114253d5
const C2_HI = 0x4cf5ad43
const C2_LO = 0x2745937f
const F1_HI = 0xff51afd7
const F1_LO = 0xed558ccd
const F2_HI = 0xc4ceb9fe
const F2_LO = 0x1a85ec53

// Scratch registers: the result of each 64-bit operation is written here.
let rHi = 0
let rLo = 0

/** (aHi:aLo) * (bHi:bLo) mod 2^64 into rHi:rLo, using 16-bit limbs so every product is exact. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const a48 = aHi >>> 16
  const a32 = aHi & 0xffff
  const a16 = aLo >>> 16
  const a00 = aLo & 0xffff
  const b48 = bHi >>> 16
  const b32 = bHi & 0xffff
  const b16 = bLo >>> 16
  const b00 = bLo & 0xffff
  let c00 = a00 * b00
  let c16 = c00 >>> 16
  c00 &= 0xffff
  c16 += a16 * b00
  let c32 = c16 >>> 16
  c16 &= 0xffff
  c16 += a00 * b16
  c32 += c16 >>> 16
  c16 &= 0xffff
  c32 += a32 * b00
  let c48 = c32 >>> 16
  c32 &= 0xffff
  c32 += a16 * b16
  c48 += c32 >>> 16
  c32 &= 0xffff
  c32 += a00 * b32
  c48 += c32 >>> 16
  c32 &= 0xffff
  c48 += a48 * b00 + a32 * b16 + a16 * b32 + a00 * b48
  c48 &= 0xffff
  rHi = ((c48 << 16) | c32) >>> 0
  rLo = ((c16 << 16) | c00) >>> 0
}

/** (aHi:aLo) + (bHi:bLo) mod 2^64 into rHi:rLo. */
function add64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const lo = aLo + bLo
  rLo = lo >>> 0
  rHi = (aHi + bHi + (lo > 0xffffffff ? 1 : 0)) >>> 0
}

/** Rotate left by r (0 < r < 64, r !== 32) into rHi:rLo. */
function rotl64(hi: number, lo: number, r: number): void {
  if (r > 32) {
    const t = hi
    hi = lo
    lo = t
    r -= 32
  }
  rHi = ((hi << r) | (lo >>> (32 - r))) >>> 0
  rLo = ((lo << r) | (hi >>> (32 - r))) >>> 0
}

/** The 64-bit finaliser (fmix64) into rHi:rLo. */
function fmix64(hi: number, lo: number): void {
  // k ^= k >>> 33 only touches the low half: lo ^= hi >>> 1
  lo = (lo ^ (hi >>> 1)) >>> 0
  mul64(hi, lo, F1_HI, F1_LO)
  hi = rHi
  lo = (rLo ^ (rHi >>> 1)) >>> 0
  mul64(hi, lo, F2_HI, F2_LO)
  hi = rHi
  lo = (rLo ^ (rHi >>> 1)) >>> 0
  rHi = hi
  rLo = lo
}

function readLe32(data: Uint8Array, i: number): number {
  return (
    ((data[i] ?? 0) |
      ((data[i + 1] ?? 0) << 8) |
      ((data[i + 2] ?? 0) << 16) |
      ((data[i + 3] ?? 0) << 24)) >>>
    0
  )
}

// h1 of the last hash, as two 32-bit halves.
let outHi = 0
let outLo = 0

/** Hashes `data[0, len)` and leaves h1 in outHi:outLo. */
function hashInto(data: Uint8Array, len: number): void {
  let h1Hi = 0
  let h1Lo = 0
  let h2Hi = 0
  let h2Lo = 0
  const blockEnd = len - (len & 15)
  for (let i = 0; i < blockEnd; i += 16) {
    // k1
    mul64(readLe32(data, i + 4), readLe32(data, i), C1_HI, C1_LO)
    rotl64(rHi, rLo, 31)
    mul64(rHi, rLo, C2_HI, C2_LO)
    h1Hi = (h1Hi ^ rHi) >>> 0
    h1Lo = (h1Lo ^ rLo) >>> 0
    rotl64(h1Hi, h1Lo, 27)
    add64(rHi, rLo, h2Hi, h2Lo)
    mul64(rHi, rLo, 0, 5)
    add64(rHi, rLo, 0, 0x52dce729)
    h1Hi = rHi
    h1Lo = rLo
    // k2
    mul64(readLe32(data, i + 12), readLe32(data, i + 8), C2_HI, C2_LO)
    rotl64(rHi, rLo, 33)
    mul64(rHi, rLo, C1_HI, C1_LO)
    h2Hi = (h2Hi ^ rHi) >>> 0
    h2Lo = (h2Lo ^ rLo) >>> 0
    rotl64(h2Hi, h2Lo, 31)
    add64(rHi, rLo, h1Hi, h1Lo)
    mul64(rHi, rLo, 0, 5)
    add64(rHi, rLo, 0, 0x38495ab5)
    h2Hi = rHi
    h2Lo = rLo
  }

  const tail = len & 15
  if (tail > 8) {
    // bytes 8..tail-1 form k2 (little-endian)
    let kHi = 0
    let kLo = 0
    for (let j = tail - 1; j >= 8; j--) {
      const b = data[blockEnd + j] ?? 0
      if (j >= 12) kHi = (kHi | (b << ((j - 12) * 8))) >>> 0
      else kLo = (kLo | (b << ((j - 8) * 8))) >>> 0
    }
    mul64(kHi, kLo, C2_HI, C2_LO)
    rotl64(rHi, rLo, 33)
    mul64(rHi, rLo, C1_HI, C1_LO)
    h2Hi = (h2Hi ^ rHi) >>> 0
    h2Lo = (h2Lo ^ rLo) >>> 0
  }
  if (tail > 0) {
    let kHi = 0
    let kLo = 0
    const top = Math.min(tail, 8)
    for (let j = top - 1; j >= 0; j--) {
      const b = data[blockEnd + j] ?? 0
      if (j >= 4) kHi = (kHi | (b << ((j - 4) * 8))) >>> 0
      else kLo = (kLo | (b << (j * 8))) >>> 0
    }
    mul64(kHi, kLo, C1_HI, C1_LO)
    rotl64(rHi, rLo, 31)
    mul64(rHi, rLo, C2_HI, C2_LO)
    h1Hi = (h1Hi ^ rHi) >>> 0
    h1Lo = (h1Lo ^ rLo) >>> 0
  }

  // Finalisation: the length is xored in as a 64-bit value.
  const lenLo = len >>> 0
  const lenHi = Math.floor(len / 0x100000000) >>> 0
  h1Hi = (h1Hi ^ lenHi) >>> 0
  h1Lo = (h1Lo ^ lenLo) >>> 0
  h2Hi = (h2Hi ^ lenHi) >>> 0
  h2Lo = (h2Lo ^ lenLo) >>> 0
  add64(h1Hi, h1Lo, h2Hi, h2Lo)
  h1Hi = rHi
  h1Lo = rLo
  add64(h2Hi, h2Lo, h1Hi, h1Lo)
  h2Hi = rHi
  h2Lo = rLo
  fmix64(h1Hi, h1Lo)
  h1Hi = rHi
  h1Lo = rLo
  fmix64(h2Hi, h2Lo)
  h2Hi = rHi
  h2Lo = rLo
  add64(h1Hi, h1Lo, h2Hi, h2Lo)
  outHi = rHi
  outLo = rLo
}

/** h1 of MurmurHash3 x64 128 with seed 0 (Go `murmur3.Sum64`). */
export function murmur3Sum64(data: Uint8Array): bigint {
  hashInto(data, data.length)
  return (BigInt(outHi) << 32n) | BigInt(outLo)
}

/** `murmur3Sum64(data) % n` without BigInt (n a positive integer). */
export function murmur3Mod(data: Uint8Array, n: number): number {
  hashInto(data, data.length)
  return mod64(outHi, outLo, n)
}

function mod64(hi: number, lo: number, n: number): number {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`murmur3Mod: bad modulus ${n}`)
  // (hi * 2^32 + lo) mod n; exact in doubles while n < 2^26 (then (n-1)^2 < 2^52).
  if (n < 0x4000000) return ((hi % n) * (0x100000000 % n) + (lo % n)) % n
  return Number(((BigInt(hi) << 32n) | BigInt(lo)) % BigInt(n))
}

// Reusable buffer for UTF-8 encoding strings before hashing (grows when needed).
let scratch = Buffer.allocUnsafe(1024)

/** `murmur3Sum64(utf8(s)) % n` without allocating for strings up to the scratch size. */
export function murmur3ModString(s: string, n: number): number {
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes.
  if (s.length * 3 > scratch.length) scratch = Buffer.allocUnsafe(s.length * 3)
  const len = scratch.write(s, 0, 'utf8')
  hashInto(scratch, len)
  return mod64(outHi, outLo, n)
}

/** `murmur3Sum64(utf8(s))`. */
export function murmur3Sum64String(s: string): bigint {
  return murmur3Sum64(Buffer.from(s, 'utf8'))
}
