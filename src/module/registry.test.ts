import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BfeConfError } from '../basic/errors.js'
import type { BfeConf } from '../config/bfe-conf.js'
import { silentLogger } from '../log/logger.js'
import { moduleCatalog } from '../modules/index.js'
import { CallbackPoint, HandlerResult } from './callback-point.js'
import type { ModuleEnv } from './context.js'
import { CORE_RELOADS, HandlerTable, ModuleFramework, WebHandlerTable } from './registry.js'
import type { BfeModule } from './types.js'

const TEST_ENV: ModuleEnv = {
  confRoot: '/tmp',
  settings: { Server: { AccessibleBodySize: 1024 } } as unknown as BfeConf,
  log: silentLogger(),
}

const ok = () => HandlerResult.GoOn

test('filters are kept per point in registration order, named after their module', () => {
  const t = new HandlerTable()
  t.owner = 'mod_a'
  t.addRequestFilter(CallbackPoint.FoundProduct, function first() {
    return HandlerResult.GoOn
  })
  t.addRequestFilter(CallbackPoint.FoundProduct, ok, 'second')
  t.addFinishFilter(CallbackPoint.Finish, ok)
  assert.equal(t.foundProduct.length, 2)
  assert.deepEqual(t.view(), {
    '3#HandleFoundProduct': ['mod_a.first', 'mod_a.second'],
    '8#HandleFinish': ['mod_a.ok'],
  })
})

test('a filter of the wrong kind for its point is rejected with the module and point named', () => {
  const t = new HandlerTable()
  t.owner = 'mod_x'
  assert.throws(
    () => t.addRequestFilter(CallbackPoint.Accept as never, ok),
    (err: unknown) =>
      err instanceof BfeConfError &&
      /module mod_x registers a request filter at HandleAccept, which takes accept filters/.test(
        err.message,
      ),
  )
  assert.throws(
    () => t.addResponseFilter(CallbackPoint.Forward as never, ok),
    /HandleForward, which takes forward/,
  )
  assert.throws(() => t.addAcceptFilter(9 as never, ok), /unknown callback point 9/)
  assert.throws(() => t.addFinishFilter(CallbackPoint.Finish, 'x' as never), /non-function filter/)
  assert.equal(t.accept.length, 0)
})

test('every point accepts exactly its own kind', () => {
  const t = new HandlerTable()
  t.addAcceptFilter(0, ok)
  t.addAcceptFilter(1, ok)
  t.addRequestFilter(2, ok)
  t.addRequestFilter(3, ok)
  t.addRequestFilter(4, ok)
  t.addForwardFilter(5, ok)
  t.addResponseFilter(6, ok)
  t.addResponseFilter(7, ok)
  t.addFinishFilter(8, ok)
  assert.equal(Object.keys(t.view()).length, 9)
})

function recorder(name: string, log: string[]): BfeModule {
  return {
    name,
    init({ callbacks: cbs }) {
      log.push(name)
      cbs.addRequestFilter(CallbackPoint.BeforeLocation, ok)
    },
  }
}

test('modules initialise in catalog order, not in the order of the Modules lines', async () => {
  const log: string[] = []
  const fw = new ModuleFramework(moduleCatalog([recorder('mod_u1', log), recorder('mod_u2', log)]))
  await fw.init(['mod_u2', ' mod_u1 ', '', 'mod_u2'], TEST_ENV)
  assert.deepEqual(log, ['mod_u1', 'mod_u2'])
  assert.deepEqual(fw.status().enabled, ['mod_u1', 'mod_u2'])
  assert.equal(fw.status().available[0], 'mod_trust_clientip')
  assert.equal(fw.status().available.at(-1), 'mod_u2')
  assert.deepEqual(fw.handlerView(), { '2#HandleBeforeLocation': ['mod_u1.ok', 'mod_u2.ok'] })
})

test('unknown, unsupported and not-yet-built module names fail with different messages', async () => {
  const fw = () => new ModuleFramework(moduleCatalog())
  await assert.rejects(fw().init(['mod_nonsense'], TEST_ENV), /unknown module "mod_nonsense"/)
  await assert.rejects(
    fw().init(['mod_wasm'], TEST_ENV),
    /"mod_wasm", which bfe-ts does not support/,
  )
  // Every BFE module outside D19 is built; a catalog entry without an implementation still
  // gets its own message.
  const future = new ModuleFramework([
    { name: 'mod_future', module: undefined, unsupported: false },
  ])
  await assert.rejects(
    future.init(['mod_future'], TEST_ENV),
    /"mod_future", a BFE module that is not built/,
  )
})

test('every BFE module outside decision D19 is built', () => {
  const missing = moduleCatalog()
    .filter((e) => e.module === undefined && !e.unsupported)
    .map((e) => e.name)
  assert.deepEqual(missing, [])
  assert.equal(moduleCatalog().filter((e) => e.module !== undefined).length, 26)
})

test('the built-in catalog lists the 34 BFE modules in BFE order', () => {
  const names = moduleCatalog().map((e) => e.name)
  assert.equal(names.length, 34)
  assert.deepEqual(names.slice(0, 4), [
    'mod_trust_clientip',
    'mod_logid',
    'mod_tcp_keepalive',
    'mod_userid',
  ])
  assert.ok(names.indexOf('mod_rewrite') < names.indexOf('mod_header'))
  assert.equal(names.at(-1), 'mod_session_sticky')
  assert.throws(() => moduleCatalog([{ name: 'mod_block', init() {} }]), /already taken/)
})

test('reload handlers: two-phase preparers by name; twice, core names and non-functions refused', () => {
  const web = new WebHandlerTable()
  const prepare = () => ({ commit: () => 'v1', abort: () => {} })
  web.registerReload('mod_x', prepare)
  web.registerReload('mod_x.table', prepare)
  assert.deepEqual([...web.reload.keys()], ['mod_x', 'mod_x.table'])
  assert.throws(
    () => web.registerReload('mod_x', prepare),
    /reload handler mod_x is registered twice/,
  )
  for (const core of CORE_RELOADS) {
    assert.throws(() => web.registerReload(core, prepare), /is a reload of the server itself/)
  }
  assert.throws(
    () => web.registerReload('mod_y', 'nope' as never),
    /reload handler mod_y is not a function/,
  )
})
