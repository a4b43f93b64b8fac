import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HeaderList } from '../../basic/header-list.js'
import { JsonNode } from '../../config/json-node.js'
import { decodeProductRules } from '../../module/rule-table.js'
import { wafRules } from './index.js'
import { isBashFunctionValue, ruleBashCmd } from './rules.js'
import { logFilePath } from './waf-log.js'

describe('mod_waf RuleBashCmd', () => {
  it('hits Shellshock function definitions', () => {
    for (const v of [
      '() { :; }; echo vulnerable',
      '() {:;};',
      ' \t( \t) \t{ ignored } \t;',
      '(){ x; }  ;/bin/id',
    ])
      assert.equal(isBashFunctionValue(v), true, v)
  })

  it('does not hit other values', () => {
    for (const v of [
      '',
      'Mozilla/5.0 () { x }',
      '() echo',
      '() { no close',
      '() { x } echo ;',
      '( ) x { };',
      'x() { :; };',
      '() {:;}',
    ])
      assert.equal(isBashFunctionValue(v), false, v)
  })

  it('looks at every header value', () => {
    assert.equal(ruleBashCmd(new HeaderList(['Host', 'a', 'Referer', '() { :;}; id'])), true)
    assert.equal(ruleBashCmd(new HeaderList(['Host', 'a', 'Accept', '*/*'])), false)
  })
})

describe('mod_waf rules and [Log]', () => {
  const load = (rule: unknown) =>
    decodeProductRules(
      new JsonNode('waf_rule.data', '', { Version: 'v', Config: { p: [rule] } }),
      wafRules,
    )

  it('loads block and check lists of known rules', () => {
    const t = load({ Cond: 'default_t()', BlockRules: ['RuleBashCmd'] })
    assert.deepEqual(t.rules('p')[0]?.CheckRules, [])
    assert.deepEqual(t.rules('p')[0]?.BlockRules, ['RuleBashCmd'])
  })

  it('refuses unknown rules, empty lists and empty conditions', () => {
    assert.throws(
      () => load({ Cond: 'default_t()', CheckRules: ['RuleSqlInjection'] }),
      /\/Config\/p\/0\/CheckRules\/0 "RuleSqlInjection" is not one of "RuleBashCmd"/,
    )
    assert.throws(
      () => load({ Cond: 'default_t()', BlockRules: [], CheckRules: [] }),
      /\/Config\/p\/0 needs at least one of BlockRules and CheckRules/,
    )
    assert.throws(() => load({ Cond: '', BlockRules: ['RuleBashCmd'] }), /\/Config\/p\/0\/Cond/)
  })

  it('checks the [Log] section as mod_access does', () => {
    const r = (p: string) => `/root/${p}`
    const base = {
      LogFile: '',
      LogPrefix: 'waf',
      LogDir: 'log',
      RotateWhen: 'NEXTHOUR',
      BackupCount: 24,
    }
    assert.equal(logFilePath('c', base, r), '/root/log/waf.log')
    assert.equal(
      logFilePath(
        'c',
        { ...base, LogPrefix: '', LogDir: '', RotateWhen: '', BackupCount: 0, LogFile: 'w.log' },
        r,
      ),
      '/root/w.log',
    )
    assert.throws(
      () => logFilePath('c', { ...base, LogFile: 'w.log' }, r),
      /\[Log\] LogFile cannot be set together/,
    )
    assert.throws(
      () => logFilePath('c', { ...base, LogPrefix: '' }, r),
      /\[Log\] LogPrefix is required/,
    )
    assert.throws(
      () => logFilePath('c', { ...base, RotateWhen: 'WEEK' }, r),
      /\[Log\] RotateWhen "WEEK"/,
    )
    assert.throws(
      () => logFilePath('c', { ...base, BackupCount: 0 }, r),
      /\[Log\] BackupCount must be > 0/,
    )
  })
})
