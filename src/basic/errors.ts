/** Base class of every error bfe-ts raises on purpose. `code` is a stable string. */
export class BfeError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'BfeError'
  }
}

/**
 * A configuration error: names the file, the field (JSON pointer or `line N`) and the reason.
 * The message is what operators read: `cluster_conf.data: /Config/c1/Backends/3/Port must be <= 65535`.
 */
export class BfeConfError extends BfeError {
  readonly file: string
  readonly field: string
  readonly reason: string
  constructor(file: string, field: string, reason: string, options?: { cause?: unknown }) {
    super('BFE_ERR_CONF_INVALID', formatConfError(file, field, reason), options)
    this.name = 'BfeConfError'
    this.file = file
    this.field = field
    this.reason = reason
  }
}

function formatConfError(file: string, field: string, reason: string): string {
  if (file === '') return field === '' ? reason : `${field} ${reason}`
  return field === '' ? `${file}: ${reason}` : `${file}: ${field} ${reason}`
}
