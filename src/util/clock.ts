/**
 * The time (epoch ms) for the request path. Reading a request and relaying a response each read
 * the time several times (stage stamps, deadlines, the idle pool's expiry): ten `Date.now()`
 * calls per proxied request, each a call into the V8 runtime and the vDSO clock, about 2.5% of
 * the balancer's CPU in a perf profile. The two callbacks that start that work (a request head
 * parsed, an upstream read) hold one reading for their synchronous run; `now()` returns it, or
 * `Date.now()` outside such a run.
 *
 * A held reading is as old as the run that holds it (microseconds), the precision nginx gets from
 * its time cached per event-loop iteration, and finer than anything it stamps (ms log fields,
 * deadlines swept every 100 ms).
 */
let held = 0

/** The held time, else `Date.now()`. */
export function now(): number {
  return held !== 0 ? held : Date.now()
}

/**
 * Holds one reading of the clock until `releaseClock(previous)`; returns the previous hold (0 if
 * none) for that call. Always release in a `finally`: a hold left behind would stop the clock.
 */
export function holdClock(): number {
  const previous = held
  held = Date.now()
  return previous
}

export function releaseClock(previous: number): void {
  held = previous
}
