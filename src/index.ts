// The public API of bfe-ts: run a balancer from code and write modules in TypeScript.
export { BfeConfError, BfeError } from './basic/errors.js'
export { HeaderList } from './basic/header-list.js'
export type { BackendInfo, RedirectInfo, RequestStat } from './basic/request.js'
export { BfeRequest } from './basic/request.js'
export { BfeResponse, internalResponse, textResponse } from './basic/response.js'
export type { TlsState } from './basic/session.js'
export { Session } from './basic/session.js'
export { runCli } from './cli.js'
export type { CompileResult, Condition } from './condition/index.js'
export { compileCondition } from './condition/index.js'
export { parseIni } from './config/ini.js'
export {
  CallbackPoint,
  CallbackPointName,
  FilterKind,
  HandlerResult,
} from './module/callback-point.js'
export type {
  AcceptFilter,
  BfeModule,
  Callbacks,
  FinishFilter,
  ForwardFilter,
  MonitorHandler,
  RequestFilter,
  ResponseFilter,
  WebHandlers,
} from './module/types.js'
export type { PreparedReload, ReloadPrepare } from './monitor/types.js'
export type { BfeServerOptions } from './server/server.js'
export { BfeServer } from './server/server.js'
