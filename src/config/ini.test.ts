import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BfeConfError } from '../basic/errors.js'
import { bound, clampedBound } from './bounds.js'
import { ini, parseIni } from './ini.js'

const schema = {
  Server: {
    Port: ini.int(80),
    Name: ini.string('def'),
    Enabled: ini.bool(false),
    Modules: ini.strings(),
    Suites: ini.strings(['a', 'b']),
  },
  Other: { Flag: ini.bool(true) },
} as const

const parse = (text: string) => parseIni('t.conf', text, schema).values

function throwsConf(text: string, re: RegExp): void {
  assert.throws(
    () => parse(text),
    (err: unknown) => {
      assert.ok(err instanceof BfeConfError)
      assert.match(err.message, /^t\.conf: /)
      assert.match(err.message, re)
      return true
    },
  )
}

describe('ini dialect', () => {
  it('applies defaults when a key or section is missing', () => {
    const v = parse('')
    assert.deepEqual(v.Server, {
      Port: 80,
      Name: 'def',
      Enabled: false,
      Modules: [],
      Suites: ['a', 'b'],
    })
    assert.equal(v.Other.Flag, true)
  })

  it('matches section and key names case-insensitively', () => {
    const v = parse('[server]\nPORT = 81\nname=x\n[OTHER]\nflag = false\n')
    assert.equal(v.Server.Port, 81)
    assert.equal(v.Server.Name, 'x')
    assert.equal(v.Other.Flag, false)
  })

  it('trims whitespace around = and the value, keeps inner spaces', () => {
    assert.equal(parse('[Server]\n   Name   =    a  b   \n').Server.Name, 'a  b')
  })

  it('reads quoted values with escapes, keeping # ; and spaces', () => {
    const v = parse('[Server]\nName = " x # y ; z \\"q\\" \\\\ \\t\\n"\n')
    assert.equal(v.Server.Name, ' x # y ; z "q" \\ \t\n')
  })

  it('concatenates quoted and unquoted parts', () => {
    assert.equal(parse('[Server]\nName = a"  b  "c\n').Server.Name, 'a  b  c')
  })

  it('skips # and ; comment lines and cuts trailing unquoted comments', () => {
    const v = parse('# c\n; c\n[Server] # s\nPort = 100 # ms\nName = v ; note\n  # indented\n')
    assert.equal(v.Server.Port, 100)
    assert.equal(v.Server.Name, 'v')
  })

  it('appends repeated multi-valued keys and clears on an empty assignment', () => {
    assert.deepEqual(parse('[Server]\nModules = a\nModules = b\n').Server.Modules, ['a', 'b'])
    assert.deepEqual(parse('[Server]\nModules = a\nModules =\nModules = c\n').Server.Modules, ['c'])
    assert.deepEqual(parse('[Server]\nSuites = x\n').Server.Suites, ['x'])
    assert.deepEqual(parse('[Server]\nSuites =\n').Server.Suites, [])
  })

  it('lets the last line win for single-valued keys; empty assignment gives ""', () => {
    assert.equal(parse('[Server]\nPort = 1\nPort = 2\n').Server.Port, 2)
    assert.equal(parse('[Server]\nName =\n').Server.Name, '')
  })

  it('treats a bare boolean key as true', () => {
    assert.equal(parse('[Server]\nEnabled\n').Server.Enabled, true)
    assert.equal(parse('[Server]\nEnabled # on\n').Server.Enabled, true)
  })

  it('accepts every boolean spelling, case-insensitively', () => {
    for (const [s, b] of [
      ['true', true],
      ['YES', true],
      ['On', true],
      ['1', true],
      ['false', false],
      ['no', false],
      ['OFF', false],
      ['0', false],
    ] as const) {
      assert.equal(parse(`[Server]\nEnabled = ${s}\n`).Server.Enabled, b, s)
    }
  })

  it('joins a line ending in a backslash with the next one', () => {
    assert.equal(parse('[Server]\nName = ab\\\ncd\n').Server.Name, 'abcd')
  })

  it('handles CRLF line ends', () => {
    assert.equal(parse('[Server]\r\nPort = 7\r\n').Server.Port, 7)
  })

  it('merges a section given twice', () => {
    const v = parse('[Server]\nPort = 1\n[Other]\n[Server]\nName = n\n')
    assert.equal(v.Server.Port, 1)
    assert.equal(v.Server.Name, 'n')
  })

  it('reports the line of a key for later validation', () => {
    const f = parseIni('t.conf', '\n[Server]\n\nPort = 0\n', schema)
    assert.equal(f.lineOf('Server', 'Port'), 4)
    assert.equal(f.lineOf('Server', 'Name'), undefined)
    assert.match(f.error('Server', 'Port', 'bad').message, /^t\.conf: line 4 \[Server\] Port bad$/)
    assert.match(f.error('Server', 'Name', 'bad').message, /^t\.conf: \[Server\] Name bad$/)
  })

  it('rejects unknown sections and keys with file and line', () => {
    throwsConf('[Nope]\n', /line 1 unknown section \[Nope\]/)
    throwsConf('[Server]\n\nBogus = 1\n', /line 3 \[Server\] Bogus is an unknown key/)
  })

  it('rejects bad integers and booleans naming line and key', () => {
    throwsConf('[Server]\nPort = 8o\n', /line 2 \[Server\] Port must be an integer/)
    throwsConf('[Server]\nPort = 1.5\n', /line 2 \[Server\] Port must be an integer/)
    throwsConf('[Server]\nPort =\n', /line 2 \[Server\] Port must be an integer/)
    throwsConf('[Server]\nEnabled = maybe\n', /line 2 \[Server\] Enabled must be a boolean/)
  })

  it('rejects a key outside any section, a bare non-boolean key and broken syntax', () => {
    throwsConf('Port = 1\n', /line 1 Port is outside of any section/)
    throwsConf('[Server]\nPort\n', /line 2 \[Server\] Port has no value/)
    throwsConf('[Server\n', /line 1 invalid section header/)
    throwsConf('[Server]\n= 3\n', /line 2 invalid line/)
    throwsConf('[Server]\nName = "abc\n', /unterminated/)
    throwsConf('[Server]\nName = a\\q\n', /invalid escape/)
    throwsConf('[Server "x"]\n', /subsections are not supported/)
  })

  it('checks an int key against its bound, naming line, key and range (D23)', () => {
    const b = {
      Basic: { Count: ini.int(1, bound(0, 10)), Wait: ini.int(5, clampedBound(1, 100, 's')) },
    } as const
    const p = (t: string) => parseIni('m.conf', t, b)
    assert.equal(p('[Basic]\nCount = 10\n').values.Basic.Count, 10)
    assert.equal(p('[Basic]\nCount = 0\n').values.Basic.Count, 0)
    assert.throws(
      () => p('[Basic]\nCount = 11\n'),
      /^BfeConfError: m\.conf: line 2 \[Basic\] Count must be in \[0, 10\], got 11$/,
    )
    assert.throws(() => p('[Basic]\nCount = -1\n'), /Count must be in \[0, 10\], got -1/)
    assert.throws(
      () => p('[Basic]\nCount = 1.5\n'),
      /Count must be an integer in \[0, 10\], got "1\.5"/,
    )
    assert.throws(
      () => p('[Basic]\nCount = ten\n'),
      /Count must be an integer in \[0, 10\], got "ten"/,
    )
    const f = p('[Basic]\n\nWait = 1000\n')
    assert.equal(f.values.Basic.Wait, 100)
    assert.deepEqual(f.warnings, [
      'm.conf: line 3 [Basic] Wait 1000 is above the maximum 100 s, using 100',
    ])
    assert.deepEqual(p('[Basic]\nWait = 100\n').warnings, [])
    // the default is not checked against the bound: it is the schema's own choice
    assert.equal(p('').values.Basic.Count, 1)
  })
})
