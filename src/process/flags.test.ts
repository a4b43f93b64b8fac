import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FlagError, parseFlags, usage } from './flags.js'

test('value forms: -c dir, -c=dir, --c dir, --c=dir', () => {
  for (const args of [['-c', 'x'], ['-c=x'], ['--c', 'x'], ['--c=x']])
    assert.equal(parseFlags(args).strings.get('c'), 'x', args.join(' '))
  assert.equal(parseFlags(['-c=a=b']).strings.get('c'), 'a=b')
  assert.equal(parseFlags(['-c', '-t']).strings.get('c'), '-t', 'a string flag takes the next word')
})

test('boolean forms as strconv.ParseBool: -t, -t=true, -t=1, -t=false, -t=F', () => {
  assert.ok(parseFlags(['-t']).bools.has('t'))
  for (const v of ['1', 't', 'T', 'true', 'TRUE', 'True'])
    assert.ok(parseFlags([`-t=${v}`]).bools.has('t'), v)
  for (const v of ['0', 'f', 'F', 'false', 'FALSE', 'False'])
    assert.ok(!parseFlags(['-t', `-t=${v}`]).bools.has('t'), v)
})

test('parsing stops at -- and at the first non-flag', () => {
  const a = parseFlags(['-s', '--', '-t'])
  assert.ok(a.bools.has('s') && !a.bools.has('t'))
  assert.deepEqual(a.rest, ['-t'])
  const b = parseFlags(['-t', 'false', '-s'])
  assert.ok(b.bools.has('t') && !b.bools.has('s'), '-t false is -t and a stray word, as in Go')
  assert.deepEqual(b.rest, ['false', '-s'])
  assert.deepEqual(parseFlags(['-']).rest, ['-'])
})

test('aliases: --help is -h, --version is -v', () => {
  assert.ok(parseFlags(['--help']).bools.has('h'))
  assert.ok(parseFlags(['-version']).bools.has('v'))
})

test("errors carry Go's messages", () => {
  const cases: [string[], string][] = [
    [['-x'], 'flag provided but not defined: -x'],
    [['-c'], 'flag needs an argument: -c'],
    [['-t=yes'], 'invalid boolean value "yes" for -t: parse error'],
    [['-=x'], 'bad flag syntax: -=x'],
    [['---c'], 'bad flag syntax: ---c'],
  ]
  for (const [args, msg] of cases)
    assert.throws(
      () => parseFlags(args),
      (e: unknown) => e instanceof FlagError && e.message === msg,
    )
})

test('usage: sorted, Go layout', () => {
  const u = usage('bfe')
  assert.ok(u.startsWith('Usage of bfe:\n  -V\t'))
  assert.ok(u.includes('\n  -c string\n    \tconfiguration root directory (default "./conf")\n'))
  assert.ok(u.includes('\n  -t\ttest the configuration and exit\n'))
})
