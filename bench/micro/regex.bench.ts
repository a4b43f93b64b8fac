/**
 * Cost of one user-regex test (src/condition/regex.ts): typical route-condition patterns, each
 * on the engine bfe-ts uses for it (a plain pattern on JavaScript RegExp, the rest on re2js) and
 * forced onto re2js, so the gain of the plain fast path and the cost of RE2 are both visible.
 * Run: `npx tsc -p . && node dist/bench/micro/regex.bench.js`
 */
import { bench, do_not_optimize, run, summary } from 'mitata'
import { RE2JS } from 're2js'
import { compileUserRegex } from '../../src/condition/regex.js'

const UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'
const CASES: readonly [string, string, string][] = [
  ['path, anchored, \\d+', '^/api/items/\\d+$', '/api/items/42'],
  ['path prefix with a class', '^/v[0-9]+/', '/v2/catalog/items'],
  ['UA literal', 'Chrome/1\\d\\d', UA],
  ['extension, alternation', '\\.(png|jpg|css)$', '/static/img/logo.png'],
  ['UA, (?i) alternation', '(?i)mobile|android|iphone', UA],
]

summary(() => {
  for (const [name, pattern, input] of CASES) {
    const re = compileUserRegex(pattern, 'bench')
    const forced = RE2JS.compile(pattern)
    const engine = re.usesJsRegExp ? 'RegExp' : 're2js'
    bench(`${name} (${engine})`, () => do_not_optimize(re.test(input)))
    if (re.usesJsRegExp) bench(`${name} (re2js)`, () => do_not_optimize(forced.test(input)))
  }
})

await run()
