// The AST as indented text, one node per line, for golden tests and `peftc compile --emit ast`.
//
//   (member c_attn @21:3-45
//     (call Linear @21:12-45
//       (ident d @21:19-20)
//       (arg layout @21:32-44
//         (ident in_out @21:38-44))))
//
// A range prints as `@line:col-col` on one line, `@line:col-line:col` across lines (end exclusive).
// Names that head a node (member, param, callee, argument name) print inline without their own
// range: they start where their node starts. A positional argument prints as its value alone,
// because its range is its value's.
import type * as ast from './ast.ts';
import type { SourceRange } from './diagnostics.ts';

export function printAst(file: ast.SourceFile): string {
  return print(node('file', [JSON.stringify(file.path)], file.range, file.items.map(item))) + '\n';
}

/** A printable node: a head line and children. */
interface Doc {
  head: string;
  children: Doc[];
}

function node(kind: string, words: string[], range: SourceRange, children: Doc[] = []): Doc {
  return { head: [kind, ...words, at(range)].join(' '), children };
}

function print(doc: Doc, indent = ''): string {
  if (doc.children.length === 0) return `${indent}(${doc.head})`;
  const inner = doc.children.map((c) => print(c, indent + '  ')).join('\n');
  return `${indent}(${doc.head}\n${inner})`;
}

function at(r: SourceRange): string {
  const end = r.end.line === r.start.line ? `${r.end.col}` : `${r.end.line}:${r.end.col}`;
  return `@${r.start.line}:${r.start.col}-${end}`;
}

// ---------------------------------------------------------------- items

function item(it: ast.Item): Doc {
  switch (it.kind) {
    case 'import':
      return node('import', [JSON.stringify(it.path.value)], it.range);
    case 'config':
      return node('config', [], it.range, it.entries.map((e) => node('entry', [e.name.name], e.range, [expr(e.value)])));
    case 'block':
      return node('block', [it.name.name], it.range, [...it.params.map(param), ...body(it)]);
    case 'model':
      return node('model', [it.name.name], it.range, body(it));
    case 'peft':
      return node('peft', [], it.range, it.rules.map(rule));
  }
}

function param(p: ast.BlockParam): Doc {
  return node('param', [p.name.name], p.range, p.default ? [expr(p.default)] : []);
}

function body(decl: ast.BlockDecl | ast.ModelDecl): Doc[] {
  const members = decl.members.map(member);
  return decl.forward ? [...members, forward(decl.forward)] : members;
}

function member(m: ast.Member): Doc {
  const methods = m.methods.map((c) => call(c, 'with'));
  return node('member', [m.name.name], m.range, [expr(m.value), ...methods]);
}

function forward(f: ast.Forward): Doc {
  return node('forward', f.params.map((p) => p.name), f.range, f.body.map(stmt));
}

function stmt(s: ast.Stmt): Doc {
  if (s.kind === 'return') return node('return', [], s.range, [expr(s.value)]);
  return node('assign', s.targets.map((t) => t.name), s.range, [expr(s.value)]);
}

// ---------------------------------------------------------------- peft rules

function rule(r: ast.Rule): Doc {
  if (r.kind === 'train_rule') return node('train', [], r.range, r.targets.map((s) => pattern('target', s)));
  const children = [
    call(r.method),
    ...r.targets.map((s) => pattern('on', s)),
    ...r.exclude.map((s) => pattern('exclude', s)),
    ...r.overrides.map((o) => node('override', [JSON.stringify(o.pattern.value)], o.range, o.args.map(arg))),
  ];
  return node('method_rule', [], r.range, children);
}

function pattern(kind: string, s: ast.StringLit): Doc {
  return node(kind, [JSON.stringify(s.value)], s.range);
}

// ---------------------------------------------------------------- expressions

function expr(e: ast.Expr): Doc {
  switch (e.kind) {
    case 'number':
      return node('number', [e.text], e.range);
    case 'string':
      return node('string', [JSON.stringify(e.value)], e.range);
    case 'bool':
      return node('bool', [String(e.value)], e.range);
    case 'ident':
      return node('ident', [e.name], e.range);
    case 'binary':
      return node('binary', [e.op], e.range, [expr(e.left), expr(e.right)]);
    case 'unary':
      return node('unary', [e.op], e.range, [expr(e.operand)]);
    case 'call':
      return call(e);
    case 'list':
      return node('list', [], e.range, e.items.map(expr));
  }
}

function call(c: ast.Call, kind = 'call'): Doc {
  return node(kind, [c.callee.name], c.range, c.args.map(arg));
}

function arg(a: ast.Arg): Doc {
  return a.name ? node('arg', [a.name.name], a.range, [expr(a.value)]) : expr(a.value);
}
