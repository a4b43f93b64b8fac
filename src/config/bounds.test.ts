import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { confError } from '../../test/helpers/conf-assert.js'
import { BfeConfError } from '../basic/errors.js'
import { bfeConfSchema, parseBfeConf } from './bfe-conf.js'
import {
  type Bound,
  bound,
  checkBound,
  clampedBound,
  describeBound,
  MAX_TIMER_MS,
  MAX_TIMER_S,
  RESERVED_NAMES,
} from './bounds.js'
import { CLUSTER_CONF_BOUNDS, parseClusterConf } from './cluster-conf.js'
import { parseClusterTable } from './cluster-table.js'
import { parseGslb } from './gslb.js'
import { parseHostRule } from './host-rule.js'
import type { IniKey } from './ini.js'
import { JsonNode } from './json-node.js'
import { parseNameConf } from './name-conf.js'
import { parseRouteRule } from './route-rule.js'
import { parseServerCertConf } from './server-cert-conf.js'
import { NEXT_PROTO_BOUNDS, parseNextProto, parseTlsRuleConf } from './tls-rule-conf.js'
import { parseVipRule } from './vip-rule.js'

describe('checkBound', () => {
  const b = bound(0, 10, 'ms')
  it('takes integers within the range, both ends included', () => {
    assert.deepEqual(checkBound(0, b), { ok: true, value: 0, clamped: false })
    assert.deepEqual(checkBound(10, b), { ok: true, value: 10, clamped: false })
  })
  it('refuses too big, negative, fractional and non-numbers, naming the range', () => {
    const reason = (v: unknown) => {
      const r = checkBound(v, b)
      assert.equal(r.ok, false)
      return r.ok ? '' : r.reason
    }
    assert.equal(reason(11), 'must be in [0, 10] ms, got 11')
    assert.equal(reason(-1), 'must be in [0, 10] ms, got -1')
    assert.equal(reason(1.5), 'must be an integer in [0, 10] ms, got 1.5')
    assert.equal(reason('5'), 'must be an integer in [0, 10] ms, got string "5"')
    assert.equal(reason(true), 'must be an integer in [0, 10] ms, got boolean')
    assert.equal(reason(Number.POSITIVE_INFINITY), 'must be an integer in [0, 10] ms, got Infinity')
    assert.equal(reason(1e30), 'must be in [0, 10] ms, got 1e+30')
  })
  it('clamps above the range when the bound says so', () => {
    const c = clampedBound(0, 10, 's')
    assert.deepEqual(checkBound(11, c), { ok: true, value: 10, clamped: true })
    assert.deepEqual(checkBound(1e30, c), { ok: true, value: 10, clamped: true })
    assert.equal(checkBound(-1, c).ok, false)
    assert.equal(checkBound(10.5, c).ok, false)
  })
  it('keeps every duration under the timer limit', () => {
    assert.equal(MAX_TIMER_MS, 2 ** 31 - 1)
    assert.ok(MAX_TIMER_S * 1000 <= MAX_TIMER_MS)
  })
})

/** The values to try against a bound: name → value, and whether it must load. */
function cases(b: Bound): { label: string; v: number | string; ok: boolean; clamped?: boolean }[] {
  const list: { label: string; v: number | string; ok: boolean; clamped?: boolean }[] = [
    { label: 'at the minimum', v: b.min, ok: true },
    { label: 'at the maximum', v: b.max, ok: true },
    { label: 'one below the minimum', v: b.min - 1, ok: false },
    { label: 'fractional', v: b.min + 0.5, ok: false },
    { label: 'a string', v: 'x', ok: false },
  ]
  if (b.above === 'clamp')
    list.push({ label: 'too big (clamped)', v: b.max + 1, ok: true, clamped: true })
  else list.push({ label: 'too big', v: b.max + 1, ok: false })
  return list
}

describe('cluster_conf.data: every bounded field', () => {
  const C = 'cluster_conf.data'
  const sections: Record<keyof typeof CLUSTER_CONF_BOUNDS, string> = {
    TimeoutConnSrv: 'BackendConf',
    TimeoutResponseHeader: 'BackendConf',
    MaxIdleConnsPerHost: 'BackendConf',
    MaxConnsPerHost: 'BackendConf',
    SlowStartTime: 'BackendConf',
    StatusCode: 'CheckConf',
    FailNum: 'CheckConf',
    SuccNum: 'CheckConf',
    CheckTimeout: 'CheckConf',
    CheckInterval: 'CheckConf',
    CrossRetry: 'GslbBasic',
    RetryMax: 'GslbBasic',
    TimeoutReadClient: 'ClusterBasic',
    TimeoutWriteClient: 'ClusterBasic',
    TimeoutReadClientAgain: 'ClusterBasic',
    ReqWriteBufferSize: 'ClusterBasic',
    ReqFlushInterval: 'ClusterBasic',
    ResFlushInterval: 'ClusterBasic',
  }
  for (const [field, b] of Object.entries(CLUSTER_CONF_BOUNDS) as [
    keyof typeof CLUSTER_CONF_BOUNDS,
    Bound,
  ][]) {
    const section = sections[field]
    // StatusCode is checked further for http checks: use a tcp check for the plain range
    const extra = section === 'CheckConf' ? { Schem: 'tcp' } : {}
    for (const c of cases(b)) {
      it(`${section}.${field} ${c.label}`, () => {
        const text = JSON.stringify({
          Version: 'v',
          Config: { c: { [section]: { ...extra, [field]: c.v } } },
        })
        if (!c.ok) {
          confError(
            () => parseClusterConf(C, text),
            C,
            `/Config/c/${section}/${field}`,
            new RegExp(`in ${reEscape(describeBound(b))}, got`),
          )
          return
        }
        const f = parseClusterConf(C, text)
        const conf = f.Config.get('c') as unknown as Record<string, Record<string, number>>
        const got = conf[section]?.[field]
        const want =
          c.clamped === true
            ? b.max
            : field === 'MaxConnsPerHost'
              ? Math.max(0, c.v as number)
              : c.v
        assert.equal(got, want)
        if (c.clamped === true) {
          assert.deepEqual(f.notes, [
            `${C}: /Config/c/${section}/${field} ${b.max + 1} is above the maximum ${b.max} ms, using ${b.max}`,
          ])
        } else assert.deepEqual(f.notes, [])
      })
    }
  }
  it('refuses 1e30 and 2^31 where the old loader took any integer', () => {
    const one = (o: object) => JSON.stringify({ Version: 'v', Config: { c: o } })
    confError(
      () => parseClusterConf(C, one({ CheckConf: { CheckInterval: 2147483648 } })),
      C,
      '/Config/c/CheckConf/CheckInterval',
      /must be in \[1, 2147483647\] ms, got 2147483648/,
    )
    confError(
      () => parseClusterConf(C, one({ GslbBasic: { RetryMax: 1e9 } })),
      C,
      '/Config/c/GslbBasic/RetryMax',
      /must be in \[0, 100\], got 1000000000/,
    )
    confError(
      () => parseClusterConf(C, one({ BackendConf: { MaxConnsPerHost: 1e30 } })),
      C,
      '/Config/c/BackendConf/MaxConnsPerHost',
      /must be in \[-2147483648, 65535\], got 1e\+30/,
    )
  })
})

describe('bfe.conf: every bounded key', () => {
  const root = '/etc/bfe'
  for (const [section, keys] of Object.entries(bfeConfSchema)) {
    for (const [key, spec] of Object.entries(keys) as [string, IniKey<unknown>][]) {
      const b = spec.bound
      if (spec.kind !== 'int') continue
      it(`[${section}] ${key} has a bound`, () => assert.ok(b !== undefined))
      if (b === undefined) continue
      for (const c of cases(b)) {
        it(`[${section}] ${key} ${c.label}`, () => {
          // MonitorPort's own check needs the monitor off to try the raw range
          const text = `[Server]\nMonitorEnabled = false\n[${section}]\n${key} = ${c.v}\n`
          const line = 4
          if (!c.ok) {
            assert.throws(
              () => parseBfeConf(text, root),
              (err: unknown) => {
                assert.ok(err instanceof BfeConfError)
                assert.equal(err.field, `line ${line} [${section}] ${key}`)
                assert.match(err.reason, new RegExp(`in ${reEscape(describeBound(b))}, got`))
                return true
              },
            )
            return
          }
          const conf = parseBfeConf(text, root)
          if (c.clamped === true) {
            const vals = conf[section as keyof typeof bfeConfSchema] as Record<string, unknown>
            assert.equal(vals[key], b.max)
            assert.deepEqual(conf.warnings, [
              `bfe.conf: line ${line} [${section}] ${key} ${b.max + 1} is above the maximum ${b.max} ${b.unit}, using ${b.max}`,
            ])
          }
        })
      }
    }
  }
  it('refuses digits too long for a double as out of range, not as "not a number"', () => {
    assert.throws(
      () => parseBfeConf('[Server]\nMaxCpus = 99999999999999999999999\n', root),
      /MaxCpus must be in \[0, 256\], got 1e\+23/,
    )
  })
})

describe('NextProtos parameters', () => {
  for (const [key, b] of Object.entries(NEXT_PROTO_BOUNDS)) {
    it(`${key}: the maximum loads, one more does not`, () => {
      // rate < 100 needs level 0 and a protocol other than http/1.1; pp needs stream
      const proto = key === 'pp' ? 'stream' : 'h2'
      assert.equal(typeof parseNextProto(`${proto};${key}=${b.max}`), 'object')
      assert.equal(
        parseNextProto(`${proto};${key}=${b.max + 1}`),
        `${key} must be in ${describeBound(b)}, got ${b.max + 1}`,
      )
      assert.equal(
        parseNextProto(`${proto};${key}=${b.min - 1}`),
        `${key} must be in ${describeBound(b)}, got ${b.min - 1}`,
      )
    })
  }
  it('a huge mcs is refused', () => {
    assert.match(
      String(parseNextProto('h2;mcs=99999999999999999999')),
      /mcs must be in \[1, 1000\]/,
    )
  })
})

describe('weights and ports', () => {
  const T = 'cluster_table.data'
  const table = (b: object) =>
    parseClusterTable(
      T,
      JSON.stringify({
        Version: 'v',
        Config: { c: { s: [{ Name: 'b', Addr: '1.2.3.4', Port: 80, Weight: 1, ...b }] } },
      }),
    )
  it('cluster_table.data Weight: ±1000000 loads, 1e30 and 1.5 do not', () => {
    assert.equal(table({ Weight: 1_000_000 }).Config.get('c')?.get('s')?.[0]?.Weight, 1_000_000)
    confError(
      () => table({ Weight: 1e30 }),
      T,
      '/Config/c/s/0/Weight',
      /in \[-1000000, 1000000\], got 1e\+30/,
    )
    confError(() => table({ Weight: 1.5 }), T, '/Config/c/s/0/Weight', /must be an integer in/)
    confError(() => table({ Port: 65536 }), T, '/Config/c/s/0/Port', /in \[0, 65535\], got 65536/)
  })
  it('gslb.data weights: bounded, negatives kept (BFE gives them a meaning)', () => {
    const G = 'gslb.data'
    const g = (w: unknown) =>
      parseGslb(G, JSON.stringify({ Hostname: '', Ts: '', Clusters: { c: { a: 100, b: w } } }))
    assert.equal(g(-1).Clusters.get('c')?.get('b'), -1)
    assert.equal(g(1_000_000).Clusters.get('c')?.get('b'), 1_000_000)
    confError(() => g(1_000_001), G, '/Clusters/c/b', /in \[-1000000, 1000000\], got 1000001/)
    confError(() => g(0.5), G, '/Clusters/c/b', /must be an integer in/)
    confError(() => g('100'), G, '/Clusters/c/b', /must be an integer in .*got string "100"/)
  })
  it('name_conf.data Weight and Port', () => {
    const N = 'name_conf.data'
    const n = (i: object) =>
      parseNameConf(
        N,
        JSON.stringify({ Version: 'v', Config: { s: [{ Host: 'h', Port: 1, Weight: 1, ...i }] } }),
      )
    assert.equal(n({ Weight: 1_000_000 }).Config.get('s')?.[0]?.Weight, 1_000_000)
    confError(() => n({ Weight: 1_000_001 }), N, '/Config/s/0/Weight', /in \[0, 1000000\]/)
    confError(() => n({ Port: -1 }), N, '/Config/s/0/Port', /in \[0, 65535\], got -1/)
  })
  it('JsonNode.int refuses integers a double cannot hold exactly', () => {
    assert.throws(
      () => new JsonNode('f', '/x', 2 ** 53).int(),
      /must be an integer, got 9007199254740992/,
    )
  })
})

describe('reserved names in every data file', () => {
  /** JSON text of `o` with every "RESERVED" string replaced by `name` (keys and values). */
  const text = (o: unknown, name: string) =>
    JSON.stringify(o).replaceAll('"RESERVED"', JSON.stringify(name))
  const kinds: {
    file: string
    parse: (file: string, text: string) => unknown
    doc: unknown
    pointer: string
    kind: string
  }[] = [
    {
      file: 'host_rule.data',
      parse: parseHostRule,
      doc: { Version: 'v', Hosts: {}, HostTags: { RESERVED: [] } },
      pointer: '/HostTags/RESERVED',
      kind: 'product',
    },
    {
      file: 'host_rule.data',
      parse: parseHostRule,
      doc: { Version: 'v', Hosts: {}, HostTags: { p: ['RESERVED'] } },
      pointer: '/HostTags/p/0',
      kind: 'host tag',
    },
    {
      file: 'host_rule.data',
      parse: parseHostRule,
      doc: { Version: 'v', Hosts: { RESERVED: ['a.test'] }, HostTags: { p: ['t'] } },
      pointer: '/Hosts/RESERVED',
      kind: 'host tag',
    },
    {
      file: 'vip_rule.data',
      parse: parseVipRule,
      doc: { Version: 'v', Vips: { RESERVED: ['1.2.3.4'] } },
      pointer: '/Vips/RESERVED',
      kind: 'product',
    },
    {
      file: 'route_rule.data',
      parse: parseRouteRule,
      doc: { Version: 'v', BasicRule: { RESERVED: [] } },
      pointer: '/BasicRule/RESERVED',
      kind: 'product',
    },
    {
      file: 'route_rule.data',
      parse: parseRouteRule,
      doc: { Version: 'v', ProductRule: { RESERVED: [] } },
      pointer: '/ProductRule/RESERVED',
      kind: 'product',
    },
    {
      file: 'route_rule.data',
      parse: parseRouteRule,
      doc: { Version: 'v', ProductRule: { p: [{ Cond: 'default_t()', ClusterName: 'RESERVED' }] } },
      pointer: '/ProductRule/p/0/ClusterName',
      kind: 'cluster',
    },
    {
      file: 'route_rule.data',
      parse: parseRouteRule,
      doc: { Version: 'v', BasicRule: { p: [{ Hostname: ['a.test'], ClusterName: 'RESERVED' }] } },
      pointer: '/BasicRule/p/0/ClusterName',
      kind: 'cluster',
    },
    {
      file: 'cluster_conf.data',
      parse: (f, t) => parseClusterConf(f, t),
      doc: { Version: 'v', Config: { RESERVED: {} } },
      pointer: '/Config/RESERVED',
      kind: 'cluster',
    },
    {
      file: 'cluster_conf.data',
      parse: (f, t) => parseClusterConf(f, t),
      doc: {
        Version: 'v',
        Config: { c: { BackendConf: { FCGIConf: { EnvVars: { RESERVED: 'x' } } } } },
      },
      pointer: '/Config/c/BackendConf/FCGIConf/EnvVars/RESERVED',
      kind: 'variable',
    },
    {
      file: 'cluster_table.data',
      parse: parseClusterTable,
      doc: { Version: 'v', Config: { RESERVED: { s: [] } } },
      pointer: '/Config/RESERVED',
      kind: 'cluster',
    },
    {
      file: 'cluster_table.data',
      parse: parseClusterTable,
      doc: { Version: 'v', Config: { c: { RESERVED: [] } } },
      pointer: '/Config/c/RESERVED',
      kind: 'sub-cluster',
    },
    {
      file: 'cluster_table.data',
      parse: parseClusterTable,
      doc: {
        Version: 'v',
        Config: { c: { s: [{ Name: 'RESERVED', Addr: '1.2.3.4', Port: 80, Weight: 1 }] } },
      },
      pointer: '/Config/c/s/0/Name',
      kind: 'backend',
    },
    {
      file: 'gslb.data',
      parse: parseGslb,
      doc: { Hostname: '', Ts: '', Clusters: { RESERVED: { a: 1 } } },
      pointer: '/Clusters/RESERVED',
      kind: 'cluster',
    },
    {
      file: 'gslb.data',
      parse: parseGslb,
      doc: { Hostname: '', Ts: '', Clusters: { c: { RESERVED: 1 } } },
      pointer: '/Clusters/c/RESERVED',
      kind: 'sub-cluster',
    },
    {
      file: 'name_conf.data',
      parse: parseNameConf,
      doc: { Version: 'v', Config: { RESERVED: [] } },
      pointer: '/Config/RESERVED',
      kind: 'service',
    },
    {
      file: 'tls_rule_conf.data',
      parse: parseTlsRuleConf,
      doc: { Version: 'v', Config: { RESERVED: { CertName: 'c' } } },
      pointer: '/Config/RESERVED',
      kind: 'rule label',
    },
    {
      file: 'server_cert_conf.data',
      parse: (f, t) => parseServerCertConf(f, t, '/nonexistent'),
      doc: { Version: 'v', Config: { Default: 'd', CertConf: { RESERVED: {} } } },
      pointer: '/Config/CertConf/RESERVED',
      kind: 'certificate',
    },
  ]
  for (const k of kinds) {
    for (const name of RESERVED_NAMES) {
      it(`${k.file}: "${name}" as a ${k.kind} name is refused`, () => {
        const t = text(k.doc, name)
        assert.ok(t.includes(JSON.stringify(name)), t)
        confError(
          () => k.parse(k.file, t),
          k.file,
          k.pointer.replace('RESERVED', name),
          new RegExp(`"${name}" cannot be used as a ${k.kind} name`),
        )
        // and nothing leaked onto Object.prototype
        assert.equal(Object.keys(Object.prototype).length, 0)
      })
    }
  }
})

function reEscape(s: string): string {
  return s.replace(/[[\]().*+?^$|\\]/g, '\\$&')
}
