// Evaluation of constant expressions: config entries, block arguments, layer and
// method settings. Errors are reported, never thrown; a failed expression yields
// `undefined` and the caller carries on.
import type { Arg, Expr } from '../grammar/ast.ts';
import type { Diagnostic, RelatedInfo, SourceRange } from '../grammar/diagnostics.ts';
import { error, hasErrors } from '../grammar/diagnostics.ts';
import { Codes } from './codes.ts';
import { didYouMean } from './suggest.ts';
import { type Const, describeConst } from './consts.ts';

/**
 * Diagnostics one compilation keeps. Past it they are only counted: a file with 10,000
 * broken rules costs neither unbounded memory nor an unbounded report.
 */
export const MAX_DIAGNOSTICS = 500;

export class Reporter {
  readonly diagnostics: Diagnostic[] = [];
  /** Diagnostics past MAX_DIAGNOSTICS, counted but not kept. */
  readonly omitted = { errors: 0, warnings: 0 };

  error(code: string, message: string, range: SourceRange, related?: RelatedInfo[]): void {
    this.add(error(code, message, range, related));
  }
  warn(code: string, message: string, range: SourceRange): void {
    this.add({ severity: 'warning', code, message, range });
  }
  add(d: Diagnostic): void {
    if (this.diagnostics.length < MAX_DIAGNOSTICS) this.diagnostics.push(d);
    else if (d.severity === 'error') this.omitted.errors++;
    else this.omitted.warnings++;
  }
  /** Whether no more diagnostics are kept: callers may skip work that only improves messages. */
  get full(): boolean {
    return this.diagnostics.length >= MAX_DIAGNOSTICS;
  }
  /** Whether any error was reported, kept or not. */
  get failed(): boolean {
    return this.omitted.errors > 0 || hasErrors(this.diagnostics);
  }
  get errorCount(): number {
    return this.diagnostics.filter((d) => d.severity === 'error').length + this.omitted.errors;
  }
}

/** Names visible to a constant expression, innermost first. */
export class ConstScope {
  private readonly vars = new Map<string, Const>();
  constructor(readonly parent?: ConstScope) {}
  set(name: string, v: Const): void {
    this.vars.set(name, v);
  }
  get(name: string): Const | undefined {
    return this.vars.get(name) ?? this.parent?.get(name);
  }
  names(): string[] {
    return [...this.vars.keys(), ...(this.parent?.names() ?? [])];
  }
}

export interface EvalOptions {
  /** Unknown bare identifiers become options (`in_out`, `relu`) instead of errors. */
  symbols?: boolean;
}

export function evalConst(e: Expr, scope: ConstScope, r: Reporter, opts: EvalOptions = {}): Const | undefined {
  switch (e.kind) {
    case 'number':
      return { kind: 'num', v: e.value };
    case 'string':
      return { kind: 'str', v: e.value };
    case 'bool':
      return { kind: 'bool', v: e.value };
    case 'ident': {
      const v = scope.get(e.name);
      if (v) return v;
      if (opts.symbols) return { kind: 'sym', name: e.name };
      r.error(Codes.UnknownName, `unknown name \`${e.name}\`.${didYouMean(e.name, scope.names())}`, e.range);
      return undefined;
    }
    case 'list': {
      const items = e.items.map((i) => evalConst(i, scope, r, opts));
      return items.every((i) => i) ? { kind: 'list', items: items as Const[] } : undefined;
    }
    case 'unary': {
      const v = expectNumber(e.operand, evalConst(e.operand, scope, r, opts), scope, r);
      return v === undefined ? undefined : { kind: 'num', v: -v };
    }
    case 'binary': {
      const a = expectNumber(e.left, evalConst(e.left, scope, r, opts), scope, r);
      const b = expectNumber(e.right, evalConst(e.right, scope, r, opts), scope, r);
      if (a === undefined || b === undefined) return undefined;
      if (e.op === '/' && b === 0) {
        r.error(Codes.DivisionByZero, 'division by zero', e.range);
        return undefined;
      }
      const v = e.op === '+' ? a + b : e.op === '-' ? a - b : e.op === '*' ? a * b : a / b;
      return { kind: 'num', v };
    }
    case 'call': {
      const args: Const[] = [];
      const named = new Map<string, Const>();
      for (const a of e.args) {
        const v = evalConst(a.value, scope, r, { symbols: true });
        if (!v) return undefined;
        if (a.name) named.set(a.name.name, v);
        else args.push(v);
      }
      return { kind: 'ctor', name: e.callee.name, args, named };
    }
  }
}

/** The number in `v`, or reports what was found instead. */
export function expectNumber(e: Expr, v: Const | undefined, scope: ConstScope, r: Reporter): number | undefined {
  if (!v) return undefined;
  if (v.kind === 'num') return v.v;
  if (v.kind === 'sym') {
    r.error(Codes.UnknownName, `unknown name \`${v.name}\`.${didYouMean(v.name, scope.names())}`, e.range);
  } else {
    r.error(Codes.TypeMismatch, `expected a number, found ${describeConst(v)}`, e.range);
  }
  return undefined;
}

/** The largest size: tensor dimensions and token ids are indexed with 32-bit integers. */
export const MAX_SIZE = 2 ** 31 - 1;

/** A positive integer size (a dimension, a count), or reports why not. */
export function expectSize(e: Expr, v: Const | undefined, scope: ConstScope, r: Reporter, what: string): number | undefined {
  const n = expectNumber(e, v, scope, r);
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n <= 0) {
    r.error(Codes.NotAnInteger, `${what} must be a positive integer, but \`${exprText(e)}\` is ${n}`, e.range);
    return undefined;
  }
  if (n > MAX_SIZE) {
    r.error(Codes.NotAnInteger, `${what} must be at most ${MAX_SIZE.toLocaleString('en-US')} (sizes and token ids are 32-bit), but \`${exprText(e)}\` is ${n.toLocaleString('en-US')}`, e.range);
    return undefined;
  }
  return n;
}

/** A compact rendering of an expression for messages. */
export function exprText(e: Expr): string {
  switch (e.kind) {
    case 'number':
      return e.text;
    case 'string':
      return JSON.stringify(e.value);
    case 'bool':
      return String(e.value);
    case 'ident':
      return e.name;
    case 'list':
      return `[${e.items.map(exprText).join(', ')}]`;
    case 'unary':
      return `-${exprText(e.operand)}`;
    case 'binary':
      return `${exprText(e.left)} ${e.op} ${exprText(e.right)}`;
    case 'call':
      return `${e.callee.name}(${e.args.map(argText).join(', ')})`;
  }
}

function argText(a: Arg): string {
  return a.name ? `${a.name.name} = ${exprText(a.value)}` : exprText(a.value);
}

// ------------------------------------------------------------------ argument binding

export interface ParamSpec {
  name: string;
  /** A default; absent means required. */
  default?: Const;
}

/**
 * Binds call arguments to named parameters: positional first, then named.
 * Reports unknown names (with suggestions), duplicates, too many, and missing ones.
 */
export function bindArgs(
  callee: string,
  specs: ParamSpec[],
  args: { name?: string; value: Const | undefined; range: SourceRange }[],
  callRange: SourceRange,
  r: Reporter,
): Map<string, Const> | undefined {
  const out = new Map<string, Const>();
  let ok = true;
  let pos = 0;
  for (const a of args) {
    let spec: ParamSpec | undefined;
    if (a.name === undefined) {
      spec = specs[pos++];
      if (!spec) {
        r.error(Codes.BadArguments, `\`${callee}\` takes at most ${specs.length} argument${specs.length === 1 ? '' : 's'}`, a.range);
        ok = false;
        continue;
      }
    } else {
      spec = specs.find((s) => s.name === a.name);
      if (!spec) {
        const names = specs.map((s) => s.name);
        r.error(Codes.BadArguments, `\`${callee}\` has no parameter \`${a.name}\`.${didYouMean(a.name, names) || ` Its parameters: ${names.join(', ')}.`}`, a.range);
        ok = false;
        continue;
      }
    }
    if (out.has(spec.name)) {
      r.error(Codes.BadArguments, `\`${spec.name}\` is given twice in this call to \`${callee}\``, a.range);
      ok = false;
      continue;
    }
    if (a.value === undefined) ok = false;
    else out.set(spec.name, a.value);
  }
  for (const s of specs) {
    if (out.has(s.name)) continue;
    if (s.default) out.set(s.name, s.default);
    else if (ok) {
      r.error(Codes.BadArguments, `\`${callee}\` needs the argument \`${s.name}\``, callRange);
      ok = false;
    }
  }
  return ok ? out : undefined;
}
