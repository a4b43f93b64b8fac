import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'

const HERE = new URL('./fast-prototypes.js', import.meta.url).href

/** Runs `body` (an ES module) in a child Node with V8's natives syntax; returns its stdout. */
function natives(body: string): string {
  return execFileSync(
    process.execPath,
    ['--allow-natives-syntax', '--input-type=module', '-e', body],
    { encoding: 'utf8' },
  )
}

test('a class extending String leaves String.prototype slow; restoreFastPrototypes makes it fast', () => {
  const out = natives(`
    import { restoreFastPrototypes } from ${JSON.stringify(HERE)}
    class Verbatim extends String {}
    class Big extends Number {}
    const before = [%HasFastProperties(String.prototype), %HasFastProperties(Number.prototype)]
    restoreFastPrototypes()
    const after = [%HasFastProperties(String.prototype), %HasFastProperties(Number.prototype)]
    new Verbatim('x'); new Big(1)
    console.log(JSON.stringify({ before, after }))
  `)
  const r = JSON.parse(out) as { before: boolean[]; after: boolean[] }
  // the precondition: without it this test would prove nothing
  assert.deepEqual(r.before, [false, false], 'V8 no longer turns an extended prototype slow')
  assert.deepEqual(r.after, [true, true])
})
