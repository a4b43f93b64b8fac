/** The nine callback points, with BFE's indices (shown in /monitor/module_handlers). */
export const CallbackPoint = {
  Accept: 0,
  Handshake: 1,
  BeforeLocation: 2,
  FoundProduct: 3,
  AfterLocation: 4,
  Forward: 5,
  ReadResponse: 6,
  RequestFinish: 7,
  Finish: 8,
} as const
export type CallbackPoint = (typeof CallbackPoint)[keyof typeof CallbackPoint]

/** BFE's names for the points, by index. */
export const CallbackPointName: readonly string[] = [
  'HandleAccept',
  'HandleHandshake',
  'HandleBeforeLocation',
  'HandleFoundProduct',
  'HandleAfterLocation',
  'HandleForward',
  'HandleReadResponse',
  'HandleRequestFinish',
  'HandleFinish',
]

/** Filter return codes, with BFE's numbers. */
export const HandlerResult = { Finish: 0, GoOn: 1, Redirect: 2, Response: 3, Close: 4 } as const
export type HandlerResult = (typeof HandlerResult)[keyof typeof HandlerResult]

/** The five filter kinds. */
export const FilterKind = {
  Accept: 'accept',
  Request: 'request',
  Forward: 'forward',
  Response: 'response',
  Finish: 'finish',
} as const
export type FilterKind = (typeof FilterKind)[keyof typeof FilterKind]

/** Which filter kind each point takes. */
export const PointKind: readonly FilterKind[] = [
  FilterKind.Accept,
  FilterKind.Accept,
  FilterKind.Request,
  FilterKind.Request,
  FilterKind.Request,
  FilterKind.Forward,
  FilterKind.Response,
  FilterKind.Response,
  FilterKind.Finish,
]
