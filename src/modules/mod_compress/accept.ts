/**
 * Whether an `Accept-Encoding` value accepts `coding` (lower case): a comma-separated list of
 * codings, each with optional parameters; `q=0` refuses. Matching ignores case. No allocation.
 */
export function acceptsCoding(header: string, coding: string): boolean {
  const n = header.length
  let i = 0
  while (i < n) {
    // skip blanks and commas
    let c = header.charCodeAt(i)
    while (i < n && (c === 0x20 || c === 0x09 || c === 0x2c)) c = header.charCodeAt(++i)
    const start = i
    while (i < n) {
      c = header.charCodeAt(i)
      if (c === 0x2c || c === 0x3b || c === 0x20 || c === 0x09) break
      i++
    }
    const end = i
    // parameters up to the next comma
    let qZero = false
    while (i < n && header.charCodeAt(i) !== 0x2c) {
      if (header.charCodeAt(i) === 0x3b) {
        let j = i + 1
        while (j < n && (header.charCodeAt(j) === 0x20 || header.charCodeAt(j) === 0x09)) j++
        if ((header.charCodeAt(j) | 0x20) === 0x71 && header.charCodeAt(j + 1) === 0x3d) {
          // q=0, q=0.0, q=0.00, q=0.000
          let k = j + 2
          if (header.charCodeAt(k) === 0x30) {
            k++
            if (header.charCodeAt(k) === 0x2e) {
              k++
              while (header.charCodeAt(k) === 0x30) k++
            }
            const e = header.charCodeAt(k)
            qZero = k >= n || e === 0x2c || e === 0x3b || e === 0x20 || e === 0x09
          }
        }
      }
      i++
    }
    if (end - start === coding.length && !qZero) {
      let same = true
      for (let k = 0; k < coding.length; k++) {
        if ((header.charCodeAt(start + k) | 0x20) !== coding.charCodeAt(k)) {
          same = false
          break
        }
      }
      if (same) return true
    }
  }
  return false
}
