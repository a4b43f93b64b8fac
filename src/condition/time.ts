/**
 * Times of `bfe_time_range` / `bfe_periodic_time_range`: `yyyymmddhhmmssZ` and `hhmmssZ`, where
 * the last letter is a military time-zone letter.
 */

/** Offset from UTC in seconds for a zone letter (case-insensitive); undefined when invalid. */
export function zoneOffset(letter: string): number | undefined {
  const c = letter.toUpperCase()
  if (c.length !== 1) return undefined
  if (c === 'Z') return 0
  const code = c.charCodeAt(0)
  // A..I = +1..+9, K..M = +10..+12 (J is not a zone), N..Y = -1..-12
  if (code >= 65 && code <= 73) return (code - 64) * 3600
  if (code >= 75 && code <= 77) return (code - 65) * 3600
  if (code >= 78 && code <= 89) return -(code - 77) * 3600
  return undefined
}

/** `yyyymmddhhmmssZ` → epoch milliseconds, or undefined. */
export function parseDateTime(s: string): number | undefined {
  if (s.length !== 15 || !/^\d{14}$/.test(s.slice(0, 14))) return undefined
  const off = zoneOffset(s.slice(14))
  if (off === undefined) return undefined
  const y = Number(s.slice(0, 4))
  const mo = Number(s.slice(4, 6))
  const d = Number(s.slice(6, 8))
  const h = Number(s.slice(8, 10))
  const mi = Number(s.slice(10, 12))
  const se = Number(s.slice(12, 14))
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return undefined
  const date = new Date(0)
  date.setUTCFullYear(y, mo - 1, d)
  if (date.getUTCDate() !== d || date.getUTCMonth() !== mo - 1) return undefined
  date.setUTCHours(h, mi, se, 0)
  return date.getTime() - off * 1000
}

export interface TimeOfDay {
  /** Seconds since midnight in the zone. */
  readonly seconds: number
  /** Zone offset from UTC in seconds. */
  readonly offset: number
}

/** `hhmmssZ` → seconds of day and zone offset, or undefined. */
export function parseTimeOfDay(s: string): TimeOfDay | undefined {
  if (s.length !== 7 || !/^\d{6}$/.test(s.slice(0, 6))) return undefined
  const offset = zoneOffset(s.slice(6))
  if (offset === undefined) return undefined
  const h = Number(s.slice(0, 2))
  const m = Number(s.slice(2, 4))
  const sec = Number(s.slice(4, 6))
  if (h > 23 || m > 59 || sec > 59) return undefined
  return { seconds: h * 3600 + m * 60 + sec, offset }
}

/** Seconds since midnight of the instant `ms` in a zone `offset` seconds from UTC. */
export function secondsOfDay(ms: number, offset: number): number {
  const s = Math.floor(ms / 1000) + offset
  return ((s % 86400) + 86400) % 86400
}
