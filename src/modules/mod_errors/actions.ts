import { readFileSync, statSync } from 'node:fs'
import { STATUS_CODES } from 'node:http'
import { Readable } from 'node:stream'
import { BfeConfError } from '../../basic/errors.js'
import { HeaderList } from '../../basic/header-list.js'
import type { BfeRequest } from '../../basic/request.js'
import { BfeResponse } from '../../basic/response.js'
import type { JsonNode } from '../../config/json-node.js'
import type { DecodeCx, JsonSchema, Schema } from '../../config/schema.js'
import { s } from '../../config/schema.js'

/** Largest page a RETURN action may serve (BFE's limit). */
export const MAX_PAGE_SIZE = 2 * 1024 * 1024

/** A compiled action: RETURN a page, or REDIRECT with 302. */
export type ErrorsAction =
  | {
      readonly cmd: 'RETURN'
      readonly status: number
      readonly contentType: string
      readonly page: Buffer
    }
  | { readonly cmd: 'REDIRECT'; readonly url: string }

const rawAction = s.object({
  Cmd: s.string({ oneOf: ['RETURN', 'REDIRECT'] }),
  Params: s.array(s.string(), { minItems: 1, maxItems: 3 }),
})

/**
 * The action schema; `dataFile` resolves the page path written in the data (decisions.md D17).
 * Pages are read once, at load.
 */
export function errorsAction(dataFile: (p: string) => string): Schema<ErrorsAction> {
  return {
    required: true,
    decode(node: JsonNode, cx: DecodeCx): ErrorsAction {
      const a = rawAction.decode(node, cx)
      const params = node.get('Params')
      if (a.Cmd === 'REDIRECT') {
        if (a.Params.length !== 1)
          params.fail(`of REDIRECT must have 1 item (url), got ${a.Params.length}`)
        const url = a.Params[0] ?? ''
        if (url === '') params.get('0').fail('must not be empty')
        return { cmd: 'REDIRECT', url }
      }
      if (a.Params.length !== 3)
        params.fail(
          `of RETURN must have 3 items (status, content type, page file), got ${a.Params.length}`,
        )
      const [code = '', contentType = '', file = ''] = a.Params
      const status = /^\d{3}$/.test(code) ? Number(code) : Number.NaN
      const klass = Math.floor(status / 100)
      if (Number.isNaN(status) || STATUS_CODES[status] === undefined)
        params.get('0').fail(`"${code}" is not a known HTTP status code`)
      if (klass !== 2 && klass !== 4 && klass !== 5)
        params.get('0').fail(`"${code}" must be a 2xx, 4xx or 5xx status`)
      return { cmd: 'RETURN', status, contentType, page: readPage(dataFile(file), params.get('2')) }
    },
    jsonSchema: (): JsonSchema => rawAction.jsonSchema(),
  }
}

function readPage(file: string, node: JsonNode): Buffer {
  let page: Buffer
  try {
    const st = statSync(file)
    if (!st.isFile()) node.fail(`page ${file} is not a regular file`)
    if (st.size > MAX_PAGE_SIZE)
      node.fail(`page ${file} is ${st.size} bytes, more than ${MAX_PAGE_SIZE}`)
    page = readFileSync(file)
  } catch (err) {
    if (err instanceof BfeConfError) throw err
    node.fail(`page ${file} cannot be read: ${err instanceof Error ? err.message : String(err)}`)
  }
  return page
}

/**
 * Replaces the request's response by what `a` says: a new header set (`Server: bfe` and the
 * action's own headers), no trailers. A stream body of the old response that is not the backend's
 * (the pipeline stops reading that one itself) is destroyed so its resources are freed.
 */
export function replaceResponse(req: BfeRequest, old: BfeResponse, a: ErrorsAction): void {
  const body = old.body
  if (body instanceof Readable) body.destroy()
  if (a.cmd === 'RETURN') {
    const h = ['Server', 'bfe']
    if (a.contentType !== '') h.push('Content-Type', a.contentType)
    h.push('Content-Length', String(a.page.length))
    req.httpResponse = new BfeResponse(a.status, new HeaderList(h), a.page, true)
    return
  }
  req.httpResponse = new BfeResponse(
    302,
    new HeaderList(['Server', 'bfe', 'Location', a.url, 'Content-Length', '0']),
    undefined,
    true,
  )
}
