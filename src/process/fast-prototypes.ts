// Built-in prototypes back in V8's fast mode before the server takes traffic.
//
// When a class extends a built-in (`class VerbatimString extends String`, which ioredis defines
// at import), V8 turns the built-in's prototype into a dictionary-mode object. For String.prototype
// that is costly: optimized code can no longer inline `s.charCodeAt`, `s.toLowerCase`,
// `s.indexOf`..., and every such call first goes through the generic LoadIC builtin with a
// dictionary lookup. In the bench that was 5.5 % of the balancer's CPU time (docs/performance.md
// §16). V8 makes a prototype fast again when an inline cache that has feedback reads a property
// through an object whose prototype chain holds it; a string never triggers that (its lookups
// start at the prototype itself), so an object made on each prototype does it here.

/** The built-in prototypes the request path calls methods on. */
const PROTOTYPES: readonly object[] = [
  String.prototype,
  Number.prototype,
  Boolean.prototype,
  Array.prototype,
  Object.prototype,
  Function.prototype,
  Map.prototype,
  Set.prototype,
  RegExp.prototype,
  Promise.prototype,
  Uint8Array.prototype,
  Object.getPrototypeOf(Uint8Array.prototype) as object,
  Buffer.prototype,
]

/** A property read through `o`'s prototype chain, from an inline cache of its own. */
function readThrough(o: { constructor: unknown }): unknown {
  return o.constructor
}

/**
 * Makes the built-in prototypes fast again (a no-op for those already fast). Call it once every
 * module and library is loaded: the CLI calls it before it opens the listeners.
 */
export function restoreFastPrototypes(): void {
  for (const proto of PROTOTYPES) {
    const o = Object.create(proto) as { constructor: unknown }
    // enough calls for V8 to give readThrough a feedback vector (it allocates one lazily)
    for (let i = 0; i < 1000; i++) readThrough(o)
  }
}
