// Test helper shared by the config and route unit tests.
import assert from 'node:assert/strict'
import { BfeConfError } from '../../src/basic/errors.js'

/** Asserts `fn` throws a BfeConfError naming `file` and `pointer`, with a reason matching `re`. */
export function confError(fn: () => unknown, file: string, pointer: string, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BfeConfError, String(err))
    assert.equal(err.file, file)
    assert.equal(err.field, pointer)
    assert.match(err.reason, re)
    assert.ok(err.message.startsWith(`${file}: ${pointer}`), err.message)
    return true
  })
}
