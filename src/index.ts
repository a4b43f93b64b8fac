// The public API of bfe-ts: run a balancer from code and write modules in TypeScript.
export { BfeConfError, BfeError } from './basic/errors.js'
export { HeaderList } from './basic/header-list.js'
export { cleanPath, pathUnder } from './basic/path.js'
export type { BackendInfo, RedirectInfo, RequestStat } from './basic/request.js'
export { BfeRequest } from './basic/request.js'
export { BfeResponse, internalResponse, textResponse } from './basic/response.js'
export type { TlsState } from './basic/session.js'
export { Session } from './basic/session.js'
export { runCli } from './cli.js'
export type { CompileResult, Condition } from './condition/index.js'
export { compileCondition } from './condition/index.js'
export { type Bound, bound } from './config/bounds.js'
export { type IniSchema, type IniValues, ini, parseIni } from './config/ini.js'
export { JsonNode } from './config/json-node.js'
export {
  type CondValue,
  type Infer,
  type JsonSchema,
  type Schema,
  s,
  schemaDocument,
} from './config/schema.js'
export type { Logger } from './log/logger.js'
export { type BodyPeek, transformResponseBody } from './module/body.js'
export {
  CallbackPoint,
  CallbackPointName,
  FilterKind,
  HandlerResult,
} from './module/callback-point.js'
export type { Loaded, ModuleContext, Reloadable } from './module/context.js'
export {
  type CondRule,
  decodeProductRules,
  firstMatch,
  loadProductRules,
  type ProductRuleDecl,
  ProductRuleTable,
  productRuleFile,
  productRuleJsonSchema,
} from './module/rule-table.js'
export type {
  AcceptFilter,
  BfeModule,
  Callbacks,
  ExplainStep,
  FinishFilter,
  ForwardFilter,
  ModuleDataFile,
  MonitorHandler,
  RequestFilter,
  ResponseFilter,
  WebHandlers,
} from './module/types.js'
export type { PreparedReload, ReloadPrepare } from './monitor/types.js'
export type { BfeServerOptions } from './server/server.js'
export { BfeServer } from './server/server.js'
export { type DecisionConf, loadDecisionConf } from './tools/decision-conf.js'
export { type DecisionStep, Explainer, type Explanation } from './tools/explain.js'
export type { RequestSpec } from './tools/request-spec.js'
