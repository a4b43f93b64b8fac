import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { murmur3Mod, murmur3ModString, murmur3Sum64, murmur3Sum64String } from './murmur3.js'

// Straightforward BigInt implementation of MurmurHash3 x64 128 (seed 0), written from the published
// algorithm, used to cross-check the 32-bit-halves implementation on random inputs.
const M64 = (1n << 64n) - 1n
const C1 = 0x87c37b91114253d5n
const C2 = 0x4cf5ad432745937fn
const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M64
const fmix = (k: bigint): bigint => {
  let x = k ^ (k >> 33n)
  x = (x * 0xff51afd7ed558ccdn) & M64
  x ^= x >> 33n
  x = (x * 0xc4ceb9fe1a85ec53n) & M64
  return x ^ (x >> 33n)
}
const le64 = (b: Uint8Array, at: number, n: number): bigint => {
  let v = 0n
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i] ?? 0)
  return v
}
function referenceH1(data: Uint8Array): bigint {
  let h1 = 0n
  let h2 = 0n
  const nblocks = Math.floor(data.length / 16)
  for (let i = 0; i < nblocks; i++) {
    let k1 = le64(data, i * 16, 8)
    let k2 = le64(data, i * 16 + 8, 8)
    k1 = (rotl((k1 * C1) & M64, 31n) * C2) & M64
    h1 ^= k1
    h1 = (((rotl(h1, 27n) + h2) & M64) * 5n + 0x52dce729n) & M64
    k2 = (rotl((k2 * C2) & M64, 33n) * C1) & M64
    h2 ^= k2
    h2 = (((rotl(h2, 31n) + h1) & M64) * 5n + 0x38495ab5n) & M64
  }
  const tail = data.length & 15
  const base = nblocks * 16
  if (tail > 8) {
    const k2 = le64(data, base + 8, tail - 8)
    h2 ^= (rotl((k2 * C2) & M64, 33n) * C1) & M64
  }
  if (tail > 0) {
    const k1 = le64(data, base, Math.min(tail, 8))
    h1 ^= (rotl((k1 * C1) & M64, 31n) * C2) & M64
  }
  const len = BigInt(data.length)
  h1 ^= len
  h2 ^= len
  h1 = (h1 + h2) & M64
  h2 = (h2 + h1) & M64
  h1 = fmix(h1)
  h2 = fmix(h2)
  return (h1 + h2) & M64
}

// Published Sum64 (h1) values of the Go murmur3 packages, seed 0.
const vectors: [string, bigint][] = [
  ['', 0n],
  ['hello', 0xcbd8a7b341bd9b02n],
  ['hello, world', 0x342fac623a5ebc8en],
  ['19 Jan 2038 at 3:14:07 AM', 0xb89e5988b737affcn],
  ['The quick brown fox jumps over the lazy dog.', 0xcd99481f9ee902c9n],
  ['The quick brown fox jumps over the lazy dog', 0xe34bbc7bbc071b6cn],
  ['test', 0xac7d28cc74bde19dn],
  ['Winter is coming', 0x6c373b5d61dced95n],
  ['123456789012345', 0x887001aea2afcfd6n],
  ['1234567890123456', 0x4fbe5dc5c0e32cf8n],
  ['12345678901234567', 0x748617968026b77en],
]

describe('murmur3Sum64', () => {
  for (const [input, want] of vectors) {
    it(`published vector ${JSON.stringify(input)}`, () => {
      assert.equal(murmur3Sum64(Buffer.from(input)), want)
      assert.equal(murmur3Sum64String(input), want)
      assert.equal(referenceH1(Buffer.from(input)), want)
    })
  }

  it('empty input hashes to 0', () => {
    assert.equal(murmur3Sum64(new Uint8Array(0)), 0n)
    assert.equal(murmur3Mod(new Uint8Array(0), 10000), 0)
  })

  it('matches the BigInt reference on random inputs of every length 0..100', () => {
    for (let len = 0; len <= 100; len++) {
      for (let rep = 0; rep < 5; rep++) {
        const data = randomBytes(len)
        assert.equal(murmur3Sum64(data), referenceH1(data), `len ${len}`)
      }
    }
  })

  it('high bytes (0x80..0xff) in tails and blocks', () => {
    for (let len = 1; len <= 40; len++) {
      const data = new Uint8Array(len).fill(0xff)
      assert.equal(murmur3Sum64(data), referenceH1(data))
      data.fill(0x80)
      assert.equal(murmur3Sum64(data), referenceH1(data))
    }
  })
})

describe('murmur3Mod', () => {
  it('equals Sum64 % n for several moduli', () => {
    for (let i = 0; i < 300; i++) {
      const data = randomBytes(i % 37)
      const h = murmur3Sum64(data)
      for (const n of [1, 2, 7, 100, 10000, 65536, 0x3ffffff, 0x7fffffff, 2 ** 40 + 3]) {
        assert.equal(murmur3Mod(data, n), Number(h % BigInt(n)))
      }
    }
  })

  it('string helper encodes UTF-8 and grows its buffer', () => {
    for (const s of ['', 'uid-1', 'héllo wörld ✓', '𝄞 clef', 'x'.repeat(5000)]) {
      const h = murmur3Sum64(Buffer.from(s, 'utf8'))
      assert.equal(murmur3ModString(s, 10000), Number(h % 10000n))
    }
  })

  it('rejects a bad modulus', () => {
    assert.throws(() => murmur3Mod(new Uint8Array(1), 0), RangeError)
  })
})
