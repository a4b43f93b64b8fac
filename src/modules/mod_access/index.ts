import { BfeConfError } from '../../basic/errors.js'
import { ini } from '../../config/ini.js'
import {
  AccessLogFile,
  checkLogWritable,
  logSectionSchema,
  logTarget,
} from '../../log/access-log.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { ModuleContext } from '../../module/context.js'
import type { BfeModule } from '../../module/types.js'
import * as clock from '../../util/clock.js'
import {
  COMBINED,
  COMMON,
  compileRequestTemplate,
  compileSessionTemplate,
  type LineFormat,
  TemplateError,
} from './template.js'

/** mod_access.conf (spec/modules.md §1); `[Template] Format` is ours (decisions.md D16). */
export const accessConfSchema = {
  Log: logSectionSchema,
  Template: {
    RequestTemplate: ini.string(),
    SessionTemplate: ini.string(),
    Format: ini.string('text'),
  },
} as const

const COUNTERS = ['REQUEST_LOG_LINES', 'SESSION_LOG_LINES', 'LOG_LINES_DROPPED'] as const

/** The templates of a mod_access.conf, checked and compiled; errors name the file and key. */
export function compileAccessTemplates(
  file: string,
  t: { RequestTemplate: string; SessionTemplate: string; Format: string },
): {
  request: ReturnType<typeof compileRequestTemplate>
  session: ReturnType<typeof compileSessionTemplate>
  format: LineFormat
} {
  const format = t.Format.toLowerCase()
  if (format !== 'text' && format !== 'json')
    throw new BfeConfError(file, 'Template.Format', `"${t.Format}" is not one of "text", "json"`)
  if (t.RequestTemplate === '')
    throw new BfeConfError(file, 'Template.RequestTemplate', 'is not set')
  if (t.SessionTemplate === '')
    throw new BfeConfError(file, 'Template.SessionTemplate', 'is not set')
  const reqText =
    t.RequestTemplate === 'COMMON'
      ? COMMON
      : t.RequestTemplate === 'COMBINED'
        ? COMBINED
        : t.RequestTemplate
  const compile = <T>(key: string, f: () => T): T => {
    try {
      return f()
    } catch (err) {
      if (err instanceof TemplateError)
        throw new BfeConfError(file, key, err.message, { cause: err })
      throw err
    }
  }
  return {
    request: compile('Template.RequestTemplate', () => compileRequestTemplate(reqText, format)),
    session: compile('Template.SessionTemplate', () =>
      compileSessionTemplate(t.SessionTemplate, format),
    ),
    format,
  }
}

/**
 * mod_access: one line per request at HandleRequestFinish and one per connection at HandleFinish,
 * formatted by BFE's templates (or as JSON lines, `[Template] Format = json`), appended to one
 * file or to a time-rotated file in LogDir. Writing never blocks the event loop; a disk that
 * cannot keep up loses lines (counted as LOG_LINES_DROPPED) instead of growing memory.
 */
export function createModAccess(): BfeModule {
  return {
    name: 'mod_access',
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(accessConfSchema)
      const target = logTarget(conf.Log, ctx.confPath, (p) => ctx.confFile(p))
      checkLogWritable(target, ctx.confPath)
      const tpl = compileAccessTemplates(ctx.confPath, conf.Template)
      const m = ctx.metrics(COUNTERS)
      const file = new AccessLogFile(target, {
        onDrop: (n) => {
          m.LOG_LINES_DROPPED += n
        },
      })
      ctx.onClose(() => file.close())
      ctx.log.info({ file: target.path, format: tpl.format }, 'access log opened')
      const request = tpl.request
      const session = tpl.session
      ctx.callbacks.addResponseFilter(
        CallbackPoint.RequestFinish,
        function requestLog(req, res) {
          file.append(request, req, res, clock.now())
          m.REQUEST_LOG_LINES++
          return HandlerResult.GoOn
        },
        'request_log',
      )
      ctx.callbacks.addFinishFilter(
        CallbackPoint.Finish,
        function sessionLog(ses) {
          file.append(session, ses, clock.now(), undefined)
          m.SESSION_LOG_LINES++
          return HandlerResult.GoOn
        },
        'session_log',
      )
    },
  }
}
