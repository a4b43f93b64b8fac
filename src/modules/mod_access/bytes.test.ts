import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { putByte, putBytes, putUtf8, utf8Bytes } from './bytes.js'

describe('mod_access line bytes', () => {
  it('putBytes writes one byte per character, short strings and long ones alike', () => {
    const buf = Buffer.alloc(128)
    const wire = Buffer.from([0x47, 0xe9, 0xff, 0x20]).toString('latin1')
    assert.equal(putBytes(buf, 3, wire), 7)
    assert.deepEqual([...buf.subarray(3, 7)], [0x47, 0xe9, 0xff, 0x20])
    const long = `${'a'.repeat(60)}\u00e9`
    assert.equal(putBytes(buf, 0, long), 61)
    assert.equal(buf[60], 0xe9)
    assert.equal(buf.toString('latin1', 0, 61), long)
  })

  it('putUtf8 writes configuration text as UTF-8', () => {
    const buf = Buffer.alloc(32)
    const end = putUtf8(buf, 1, 'caf\u00e9 \u4e2d')
    assert.equal(buf.toString('utf8', 1, end), 'caf\u00e9 \u4e2d')
    assert.equal(end, 1 + 5 + 1 + 3)
    assert.equal(putUtf8(buf, 0, 'plain'), 5)
    assert.equal(utf8Bytes('\u00e9'), '\u00c3\u00a9')
  })

  it('answers -1 when out of room, and passes -1 on', () => {
    const buf = Buffer.alloc(4)
    assert.equal(putBytes(buf, 0, 'abcd'), 4)
    assert.equal(putBytes(buf, 1, 'abcd'), -1)
    assert.equal(putBytes(buf, 0, 'x'.repeat(50)), -1)
    // 'é' is two bytes: 4 characters, 5 bytes
    assert.equal(putUtf8(buf, 0, 'abc\u00e9'), -1)
    assert.equal(putByte(buf, 4, 10), -1)
    assert.equal(putByte(buf, 3, 10), 4)
    assert.equal(putBytes(buf, -1, ''), -1)
    assert.equal(putUtf8(buf, -1, ''), -1)
    assert.equal(putByte(buf, -1, 10), -1)
  })
})
