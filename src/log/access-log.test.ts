import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve as resolvePath } from 'node:path'
import { after, describe, it } from 'node:test'
import { BfeConfError } from '../basic/errors.js'
import { AccessLogFile, backupSuffix, logTarget, nextRollover } from './access-log.js'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'bfe-alog-'))
  dirs.push(d)
  return d
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  assert.fail(`timed out waiting for ${what}`)
}

const read = (p: string): string => (existsSync(p) ? readFileSync(p, 'utf8') : '')

describe('access log [Log] section', () => {
  const resolve = (p: string): string => resolvePath('/conf', p)
  const base = { LogFile: '', LogPrefix: '', LogDir: '', RotateWhen: '', BackupCount: 0 }

  it('takes LogFile alone, or LogPrefix + LogDir + RotateWhen + BackupCount', () => {
    assert.deepEqual(logTarget({ ...base, LogFile: '/dev/stdout' }, 'f', resolve), {
      path: '/dev/stdout',
      rotate: undefined,
    })
    assert.deepEqual(
      logTarget(
        { ...base, LogPrefix: 'access', LogDir: '../log', RotateWhen: 'nexthour', BackupCount: 2 },
        'f',
        resolve,
      ),
      { path: '/log/access.log', rotate: { when: 'NEXTHOUR', backupCount: 2 } },
    )
  })

  it('names the key that is wrong', () => {
    const bad = (c: Partial<typeof base>, field: string, reason: RegExp) =>
      assert.throws(
        () => logTarget({ ...base, ...c }, 'm.conf', resolve),
        (e: unknown) => e instanceof BfeConfError && e.field === field && reason.test(e.reason),
      )
    bad({ LogFile: 'x', LogDir: 'd' }, 'Log.LogFile', /cannot be set together/)
    bad({}, 'Log.LogPrefix', /empty/)
    bad({ LogPrefix: 'a' }, 'Log.LogDir', /empty/)
    bad({ LogPrefix: 'a', LogDir: 'd', RotateWhen: 'W' }, 'Log.RotateWhen', /not one of/)
    bad({ LogPrefix: 'a', LogDir: 'd', RotateWhen: 'D' }, 'Log.BackupCount', /> 0/)
  })

  it('names backups after the period and rolls MIDNIGHT / NEXTHOUR on the local clock', () => {
    const t = new Date(2026, 0, 2, 13, 45, 10).getTime()
    assert.equal(backupSuffix('MIDNIGHT', t), '2026-01-02')
    assert.equal(backupSuffix('NEXTHOUR', t), '2026-01-02_13')
    assert.equal(backupSuffix('M', t), '2026-01-02_13-45')
    assert.equal(nextRollover('NEXTHOUR', t), new Date(2026, 0, 2, 14).getTime())
    assert.equal(nextRollover('MIDNIGHT', t), new Date(2026, 0, 3).getTime())
    assert.equal(nextRollover('M', t), t + 60_000)
  })
})

describe('AccessLogFile', () => {
  it('opens nothing before the first line, then appends lines asynchronously', async () => {
    const p = join(tempDir(), 'sub', 'a.log')
    const f = new AccessLogFile({ path: p, rotate: undefined })
    assert.equal(existsSync(join(p, '..')), false)
    f.write('one\n')
    f.write('two\n')
    await waitFor(() => read(p) === 'one\ntwo\n', 'both lines')
    f.close()
  })

  it('keeps lines whole and in order across batches: multi-byte text, a line longer than a batch', async () => {
    const p = join(tempDir(), 'a.log')
    const f = new AccessLogFile({ path: p, rotate: undefined })
    const lines: string[] = []
    // 3-byte characters straddle a batch boundary (64 KiB) at some line
    for (let i = 0; i < 3000; i++) lines.push(`${i} caf\u00e9 \u4e2d\u6587 ${'x'.repeat(i % 7)}\n`)
    lines.splice(1500, 0, `${'long '.repeat(8000)}\n`)
    for (const l of lines) f.write(l)
    f.flushPending()
    const want = lines.join('')
    await waitFor(() => read(p).length >= want.length, 'every line')
    assert.equal(read(p), want)
    f.close()
  })

  it('append: lines written into the batch stay whole and in order, mixed with write()', async () => {
    const p = join(tempDir(), 'a.log')
    const f = new AccessLogFile({ path: p, rotate: undefined })
    // A writer that fills `buf` with `line` (bytes as characters), or -1 when it does not fit.
    const put = (buf: Buffer, at: number, line: string, _b: undefined, _c: undefined): number =>
      at + line.length > buf.length ? -1 : at + buf.write(line, at, 'latin1')
    const lines: string[] = []
    for (let i = 0; i < 4000; i++) lines.push(`${i} ${'y'.repeat(i % 13)}\n`)
    // longer than a batch (64 KiB): written on its own, in its place
    lines.splice(2000, 0, `${'long '.repeat(30_000)}\n`)
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i] as string
      if (i % 3 === 0) f.write(l)
      else f.append(put, l, undefined, undefined)
    }
    f.flushPending()
    const want = lines.join('')
    await waitFor(() => read(p).length >= want.length, 'every line')
    assert.equal(read(p), want)
    f.close()
  })

  it('drops and counts lines beyond its buffer instead of growing', async () => {
    const p = join(tempDir(), 'a.log')
    let dropped = 0
    const f = new AccessLogFile(
      { path: p, rotate: undefined },
      { maxBuffer: 64, onDrop: (n) => (dropped += n) },
    )
    // Written in one tick, while the file is still opening: only 64 bytes may wait.
    for (let i = 0; i < 20; i++) f.write(`line ${String(i).padStart(4, '0')}\n`)
    f.flushPending()
    assert.ok(dropped >= 14, `dropped ${dropped}`)
    await waitFor(() => read(p).length > 0, 'the kept lines')
    await new Promise((r) => setTimeout(r, 30))
    assert.equal(read(p).split('\n').length - 1 + dropped, 20)
    f.close()
  })

  it('rotates to <file>.<period>, starts a new file and keeps BackupCount backups', async () => {
    const dir = tempDir()
    const p = join(dir, 'access.log')
    let now = new Date(2026, 4, 6, 7, 0, 0).getTime()
    // Old backups from earlier runs: the two oldest go.
    for (const d of ['2026-05-01', '2026-05-02', '2026-05-03'])
      writeFileSync(join(dir, `access.log.${d}`), 'old\n')
    writeFileSync(join(dir, 'access.log.keepme'), 'not a backup\n')
    const f = new AccessLogFile(
      { path: p, rotate: { when: 'D', backupCount: 2 } },
      { now: () => now },
    )
    f.write('day one\n')
    await waitFor(() => read(p) === 'day one\n', 'first line')
    now += 86_400_000
    f.rollover()
    f.write('day two\n')
    await waitFor(() => read(p) === 'day two\n', 'line in the new file')
    assert.equal(read(join(dir, 'access.log.2026-05-06')), 'day one\n')
    assert.deepEqual(readdirSync(dir).sort(), [
      'access.log',
      'access.log.2026-05-03',
      'access.log.2026-05-06',
      'access.log.keepme',
    ])
    f.close()
  })

  it('with several writers on one file, one rotates and the others follow', async () => {
    const dir = tempDir()
    const p = join(dir, 'access.log')
    const now = new Date(2026, 4, 6, 7, 0, 0).getTime()
    const opts = { now: () => now }
    const target = { path: p, rotate: { when: 'NEXTHOUR' as const, backupCount: 3 } }
    const a = new AccessLogFile(target, opts)
    const b = new AccessLogFile(target, opts)
    a.write('a1\n')
    b.write('b1\n')
    await waitFor(() => read(p).length === 6, 'both first lines')
    a.rollover()
    b.rollover()
    await new Promise((r) => setTimeout(r, 50))
    a.write('a2\n')
    b.write('b2\n')
    await waitFor(() => read(p).length === 6, 'both second lines in the new file')
    assert.deepEqual(read(p).split('\n').sort(), ['', 'a2', 'b2'])
    assert.deepEqual(read(join(dir, 'access.log.2026-05-06_07')).split('\n').sort(), [
      '',
      'a1',
      'b1',
    ])
    a.close()
    b.close()
  })
})
