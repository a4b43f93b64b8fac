import MarkdownIt from 'markdown-it'
import sanitizeHtml from 'sanitize-html'

/**
 * Markdown → HTML for mod_markdown: CommonMark with GitHub tables and strikethrough
 * (markdown-it), raw HTML in the source shown as text, not passed through, and the result
 * sanitised with an allow-list for user-generated content (sanitize-html): formatting, headings,
 * lists, tables, code, quotes, links (http, https, mailto and relative; `rel="nofollow"` added)
 * and images. Scripts, styles other than table-cell alignment, event handlers and other URL
 * schemes are removed.
 */
const md = new MarkdownIt({ html: false, linkify: false, typographer: false })

const UGC: sanitizeHtml.IOptions = {
  allowedTags: [
    ...sanitizeHtml.defaults.allowedTags.filter((t) => t !== 'data' && t !== 'time'),
    'img',
    'del',
    'ins',
  ],
  allowedAttributes: {
    a: ['href', 'title', 'rel'],
    img: ['src', 'alt', 'title', 'width', 'height'],
    code: ['class'],
    ol: ['start'],
    td: ['style'],
    th: ['style'],
    '*': ['id'],
  },
  allowedClasses: { code: ['language-*'] },
  allowedStyles: {
    td: { 'text-align': [/^(left|right|center)$/] },
    th: { 'text-align': [/^(left|right|center)$/] },
  },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesAppliedToAttributes: ['href', 'src'],
  allowProtocolRelative: true,
  transformTags: { a: sanitizeHtml.simpleTransform('a', { rel: 'nofollow' }) },
}

/** Renders Markdown source to sanitised HTML. An empty source is an error (as in BFE). */
export function renderMarkdown(src: string): string {
  if (src.length === 0) throw new Error('empty markdown source')
  return sanitizeHtml(md.render(src), UGC)
}
