/** Always-true and time primitives (condition.md §4.1, §4.11). */
import type { BfeRequest } from '../../basic/request.js'
import { parseDateTime, parseTimeOfDay, secondsOfDay, type TimeOfDay } from '../time.js'
import { headerValue } from './match.js'
import { type PrimitiveDef, sig } from './types.js'

/** Header whose `yyyymmddhhmmssZ` value replaces "now" (a BFE testing hook, active everywhere). */
export const DEBUG_TIME_HEADER = 'x-bfe-debug-time'

/** "Now" for a request: the debug header's time when present; NaN when that is unparsable. */
function nowFor(req: BfeRequest): number {
  const dbg = headerValue(req.headers.raw, DEBUG_TIME_HEADER)
  if (dbg === undefined) return Date.now()
  return parseDateTime(dbg) ?? Number.NaN
}

export const sysPrimitives: Readonly<Record<string, PrimitiveDef>> = {
  default_t: { params: [], build: () => ({ req: () => true, ses: () => true }) },
  bfe_time_range: {
    params: sig('start_time:S', 'end_time:S'),
    build: (a) => {
      const ends: number[] = []
      for (let i = 0; i < 2; i++) {
        const t =
          parseDateTime(a.str(i)) ??
          a.fail(`${a.name}: invalid time "${a.str(i)}" (want yyyymmddhhmmssZ, Z a zone letter)`, i)
        ends.push(t)
      }
      const [start, end] = ends as [number, number]
      if (start > end) a.fail(`${a.name}: start time is after end time`, 0)
      return {
        req: (req) => {
          const now = nowFor(req)
          return now >= start && now <= end
        },
      }
    },
  },
  bfe_periodic_time_range: {
    params: sig('start_time:S', 'end_time:S', 'period:S'),
    build: (a) => {
      const ends: TimeOfDay[] = []
      for (let i = 0; i < 2; i++) {
        const t =
          parseTimeOfDay(a.str(i)) ??
          a.fail(`${a.name}: invalid time "${a.str(i)}" (want hhmmssZ, Z a zone letter)`, i)
        ends.push(t)
      }
      const [s, e] = ends as [TimeOfDay, TimeOfDay]
      if (a.str(2) !== '') a.fail(`${a.name}: period must be "" (daily), got "${a.str(2)}"`, 2)
      if (s.offset !== e.offset) a.fail(`${a.name}: start and end use different time zones`, 0)
      if (s.seconds > e.seconds) a.fail(`${a.name}: start time is after end time`, 0)
      const offset = s.offset
      const lo = s.seconds
      const hi = e.seconds
      return {
        req: (req) => {
          const now = nowFor(req)
          if (Number.isNaN(now)) return false
          const sod = secondsOfDay(now, offset)
          return sod >= lo && sod <= hi
        },
      }
    },
  },
}
