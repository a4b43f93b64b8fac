/**
 * Builds a condition from its AST: every primitive call becomes a closure (lists turned into Sets or
 * arrays, regexes compiled) and the operators become closures over their operands, so evaluating
 * walks no tree and allocates nothing. `interpretAst` is a tree-walking evaluator over the same leaf
 * closures, used by the conformance suite to cross-check the compiled form.
 */
import type { BfeRequest } from '../basic/request.js'
import type { Session } from '../basic/session.js'
import type { CallNode, Node } from './ast.js'
import { ConditionError } from './errors.js'
import { PRIMITIVES, UNSUPPORTED_PRIMITIVES } from './primitives/index.js'
import type { BuildArgs, Leaf, ReqPred, SesPred } from './primitives/types.js'

export interface CompiledPred {
  readonly req: ReqPred
  readonly ses: SesPred
}

const sesFalse: SesPred = () => false

function typeName(t: 'S' | 'B'): string {
  return t === 'S' ? 'string' : 'bool'
}

/** Checks a call against its primitive's signature and builds the leaf. */
export function buildLeaf(n: CallNode): Leaf {
  if (UNSUPPORTED_PRIMITIVES.has(n.name)) {
    throw new ConditionError(`unsupported primitive "${n.name}"`, n.pos)
  }
  const def = PRIMITIVES.get(n.name)
  if (def === undefined) throw new ConditionError(`unknown primitive "${n.name}"`, n.pos)
  const signature = `${n.name}(${def.params.map((p) => `${p.name} ${typeName(p.type)}`).join(', ')})`
  if (n.args.length !== def.params.length) {
    const want = def.params.length
    throw new ConditionError(
      `${n.name} takes ${want} argument${want === 1 ? '' : 's'}, got ${n.args.length}; signature: ${signature}`,
      n.pos,
    )
  }
  for (let i = 0; i < def.params.length; i++) {
    const p = def.params[i]
    const arg = n.args[i]
    if (p === undefined || arg === undefined) continue
    const ok = p.type === 'S' ? arg.kind === 'string' : arg.kind === 'bool'
    if (!ok) {
      const got =
        arg.kind === 'int'
          ? `integer ${arg.value}`
          : `${arg.kind === 'bool' ? 'bool' : 'string'} ${arg.kind === 'string' ? JSON.stringify(arg.value) : arg.value}`
      throw new ConditionError(
        `${n.name}: argument ${i + 1} (${p.name}) must be a ${typeName(p.type)}, got ${got}; signature: ${signature}`,
        arg.pos,
      )
    }
  }
  const args: BuildArgs = {
    name: n.name,
    str: (i) => n.args[i]?.value ?? '',
    bool: (i) => n.args[i]?.value === 'true',
    fail: (reason, i) => {
      const at = i === undefined || i < 0 ? n.pos : (n.args[i]?.pos ?? n.pos)
      throw new ConditionError(reason, at)
    },
  }
  return def.build(args)
}

function unresolved(n: Node & { kind: 'ident' }): never {
  throw new ConditionError(
    `found unresolved variable "${n.name}" (named conditions are not supported; did you mean ${n.name}()?)`,
    n.pos,
  )
}

/** Compiles an AST into a pair of closures (request form, session form). */
export function compileAst(n: Node): CompiledPred {
  switch (n.kind) {
    case 'call': {
      const leaf = buildLeaf(n)
      return { req: leaf.req, ses: leaf.ses ?? sesFalse }
    }
    case 'ident':
      return unresolved(n)
    case 'not': {
      const x = compileAst(n.operand)
      const r = x.req
      const s = x.ses
      return { req: (req) => !r(req), ses: (ses) => !s(ses) }
    }
    case 'and': {
      const l = compileAst(n.left)
      const r = compileAst(n.right)
      const lr = l.req
      const rr = r.req
      const ls = l.ses
      const rs = r.ses
      return { req: (req) => lr(req) && rr(req), ses: (ses) => ls(ses) && rs(ses) }
    }
    case 'or': {
      const l = compileAst(n.left)
      const r = compileAst(n.right)
      const lr = l.req
      const rr = r.req
      const ls = l.ses
      const rs = r.ses
      return { req: (req) => lr(req) || rr(req), ses: (ses) => ls(ses) || rs(ses) }
    }
  }
}

/** Tree-walking evaluation (reference form for tests); leaves are built once. */
export function interpretAst(root: Node): CompiledPred {
  const leaves = new Map<Node, Leaf>()
  const collect = (n: Node): void => {
    if (n.kind === 'call') leaves.set(n, buildLeaf(n))
    else if (n.kind === 'ident') unresolved(n)
    else if (n.kind === 'not') collect(n.operand)
    else {
      collect(n.left)
      collect(n.right)
    }
  }
  collect(root)
  const evalReq = (n: Node, req: BfeRequest): boolean => {
    switch (n.kind) {
      case 'call':
        return leaves.get(n)?.req(req) ?? false
      case 'not':
        return !evalReq(n.operand, req)
      case 'and':
        return evalReq(n.left, req) && evalReq(n.right, req)
      case 'or':
        return evalReq(n.left, req) || evalReq(n.right, req)
      default:
        return false
    }
  }
  const evalSes = (n: Node, ses: Session): boolean => {
    switch (n.kind) {
      case 'call':
        return leaves.get(n)?.ses?.(ses) ?? false
      case 'not':
        return !evalSes(n.operand, ses)
      case 'and':
        return evalSes(n.left, ses) && evalSes(n.right, ses)
      case 'or':
        return evalSes(n.left, ses) || evalSes(n.right, ses)
      default:
        return false
    }
  }
  return { req: (req) => evalReq(root, req), ses: (ses) => evalSes(root, ses) }
}
