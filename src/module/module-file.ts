import { existsSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { BfeConfError } from '../basic/errors.js'
import type { BfeModule } from './types.js'

/**
 * Loads the modules of `[Server] ModuleFile` (our own key): an ES module file, usually compiled
 * from TypeScript, whose default export is a module or an array of modules (a named export
 * `modules` works too). The modules become available to `Modules = <name>` like built-in ones.
 */
export async function loadModuleFiles(files: readonly string[]): Promise<BfeModule[]> {
  const out: BfeModule[] = []
  for (const file of files) {
    if (!existsSync(file))
      throw new BfeConfError('bfe.conf', '[Server] ModuleFile', `${file} does not exist`)
    let ns: Record<string, unknown>
    try {
      ns = (await import(pathToFileURL(file).href)) as Record<string, unknown>
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      throw new BfeConfError(
        'bfe.conf',
        '[Server] ModuleFile',
        `${file} cannot be loaded: ${msg}`,
        {
          cause: err,
        },
      )
    }
    const exported = ns['default'] ?? ns['modules']
    const list = Array.isArray(exported) ? (exported as unknown[]) : [exported]
    if (exported === undefined || list.length === 0)
      throw new BfeConfError(
        'bfe.conf',
        '[Server] ModuleFile',
        `${file} exports no module (export default a module or an array of modules)`,
      )
    for (const m of list) out.push(checkModule(file, m))
  }
  return out
}

function checkModule(file: string, m: unknown): BfeModule {
  const o = m as { name?: unknown; init?: unknown } | null
  if (
    typeof o !== 'object' ||
    o === null ||
    typeof o.name !== 'string' ||
    !/^[A-Za-z][A-Za-z0-9_.-]*$/.test(o.name) ||
    typeof o.init !== 'function'
  )
    throw new BfeConfError(
      'bfe.conf',
      '[Server] ModuleFile',
      `${file} exports something that is not a module (needs a name and an init function)`,
    )
  return m as BfeModule
}
