// Builds the Model IR by running the forward bodies symbolically: every tensor is a
// graph node with a shape over the symbolic batch B and sequence T. PEFT methods are
// applied as rewrites at the sites their plug-ins name (peft/plugins.ts), so later stages
// see only ordinary ops. The rewrites see the tracer through trace-host.ts.
import type { Call, Expr, Forward, Stmt } from '../grammar/ast.ts';
import type { SourceRange } from '../grammar/diagnostics.ts';
import { Codes } from './codes.ts';
import { exprText, type Reporter } from './evaluate.ts';
import { callFunction, FUNCTIONS, isFunction } from './functions.ts';
import { GraphBuilder, ShapeError } from './ir/builder.ts';
import { formatShape } from './ir/dims.ts';
import type { Attrs, MethodInfo, Param } from './ir/types.ts';
import { LENGTHS } from './ir/types.ts';
import { child, type ModuleInst } from './modules.ts';
import { appsFor, type PeftPlan } from './peft/assign.ts';
import type { MethodName } from './peft/methods.ts';
import { methodsAt, PLUGINS, type RewriteSite } from './peft/plugins.ts';
import { PrefixState } from './peft/prefix.ts';
import { didYouMean } from './suggest.ts';
import type { MethodRef, ParamOptions, Tensor, TracerHost } from './trace-host.ts';
import { describe, POISON, type Value } from './values.ts';

type Env = Map<string, Value>;

/** The methods each site applies, looked up once (peft/plugins.ts). */
const SITES: Record<RewriteSite, MethodName[]> = {
  linear: methodsAt('linear'),
  embedding: methodsAt('embedding'),
  module: methodsAt('module'),
  attention: methodsAt('attention'),
};

export class Tracer implements TracerHost {
  readonly b = new GraphBuilder();
  readonly prefix: PrefixState;
  promptLength = 0;
  /** Graph inputs besides `tokens` and `targets` (LoRA rank masks, `lengths`), by name. */
  readonly inputs: Record<string, number> = {};
  /** Blocks whose forward is running, innermost last (for prefix and scopes). */
  readonly stack: ModuleInst[] = [];
  /** How many `attention` calls each block made (prefix targets must make one). */
  readonly attentionCalls = new Map<string, number>();
  private dropoutCount = 0;

  constructor(
    readonly root: ModuleInst,
    readonly plan: PeftPlan,
    readonly r: Reporter,
    derivedPrefix = false,
  ) {
    this.prefix = new PrefixState(plan.apps.filter((a) => a.method === 'prefix'), derivedPrefix);
  }

  // ---------------------------------------------------------------- graph helpers

  /** Adds an op; a shape error becomes a diagnostic at `range` and yields POISON. */
  op(op: string, inputs: Tensor[], attrs: Attrs, range: SourceRange, what?: string): Value {
    try {
      const id = this.b.op(op, inputs.map((t) => t.id), attrs, range);
      return { kind: 'tensor', id, src: range };
    } catch (e) {
      if (!(e instanceof ShapeError)) throw e;
      const related = inputs.map((t, i) => ({
        message: `operand ${i + 1} has shape ${formatShape(this.b.node(t.id).shape)} from here`,
        range: t.src,
      }));
      this.r.error(Codes.ShapeMismatch, `${what ?? op}: ${e.message}`, range, related);
      return POISON;
    }
  }

  /**
   * The graph input `lengths` i32 [B]: the real sequence positions of each row (soft prompt
   * positions included), created on first use by non-causal attention and pool (padding masks).
   * A batch that leaves it out gets the full sequence length (runtime/cpu/executor.ts).
   */
  lengths(): Tensor {
    let id = this.inputs[LENGTHS];
    if (id === undefined) {
      id = this.b.input(LENGTHS, ['B'], 'i32');
      this.inputs[LENGTHS] = id;
    }
    return { kind: 'tensor', id, src: this.root.range };
  }

  /** A parameter node; the partition is decided after tracing (see partitions.ts). */
  param(path: string, shape: number[], o: ParamOptions): Tensor {
    const p: Param = { path, shape, dtype: 'f32', init: o.init, partition: 'frozen', origin: o.origin, module: o.module };
    if (o.method) p.method = methodInfo(o.method);
    if (o.transient) p.transient = true;
    if (o.src) p.src = o.src;
    return { kind: 'tensor', id: this.b.param(p), src: o.src ?? this.root.range };
  }

  moduleParam(m: ModuleInst, name: string): Tensor {
    const d = m.params.find((p) => p.name === name)!;
    return this.param(`${m.path}.${name}`, d.shape, { origin: 'base', module: m.path, init: d.init, src: m.range });
  }

  dropout(x: Value, p: number, range: SourceRange): Value {
    if (x.kind !== 'tensor' || p === 0) return x;
    return this.op('dropout', [x], { p, seed: this.dropoutCount++ }, range);
  }

  shapeOf(t: Tensor) {
    return this.b.node(t.id).shape;
  }

  // ---------------------------------------------------------------- modules

  callModule(m: ModuleInst, args: Value[], range: SourceRange): Value {
    if (args.some((a) => a.kind === 'poison')) return POISON;
    const tensors = args.filter((a): a is Tensor => a.kind === 'tensor');
    if (tensors.length !== args.length) {
      const bad = args.find((a) => a.kind !== 'tensor')!;
      this.r.error(Codes.TypeMismatch, `\`${m.path}\` takes tensors; found ${describe(bad)}`, range);
      return POISON;
    }
    const saved = this.b.scope;
    this.b.scope = m.path;
    const out = this.rewrite('module', m, tensors, range, (ins) => this.callModuleBody(m, ins, range));
    this.b.scope = saved;
    return out;
  }

  /** `base()` as the method applied to `m` at `site` rewrites it, if one is (peft/plugins.ts). */
  private rewrite(site: RewriteSite, m: ModuleInst, inputs: Tensor[], range: SourceRange, base: (inputs: Tensor[]) => Value): Value {
    // Several methods at one site nest in table order, each seeing the earlier ones as its base.
    let call = base;
    for (const name of SITES[site]) {
      const app = appsFor(this.plan, m, name);
      if (!app) continue;
      const inner = call;
      call = (ins) => PLUGINS[name].apply!(this, app, { module: m, inputs: ins, range, base: (next = ins) => inner(next) });
    }
    return call(inputs);
  }

  private arity(m: ModuleInst, args: Tensor[], n: number, range: SourceRange): boolean {
    if (args.length === n) return true;
    this.r.error(Codes.BadArguments, `\`${m.path}\` (${m.kind}) takes ${n} input${n === 1 ? '' : 's'}, given ${args.length}`, range);
    return false;
  }

  private callModuleBody(m: ModuleInst, args: Tensor[], range: SourceRange): Value {
    switch (m.kind) {
      case 'Linear': {
        if (!this.arity(m, args, 1, range)) return POISON;
        const x = args[0]!;
        const params = [this.moduleParam(m, 'weight')];
        if (m.settings.bias) params.push(this.moduleParam(m, 'bias'));
        return this.rewrite('linear', m, [x], range, ([v]) => this.op('linear', [v!, ...params], { layout: m.settings.layout as string }, range, `\`${m.path}\``));
      }
      case 'Embedding': {
        if (!this.arity(m, args, 1, range)) return POISON;
        const ids = args[0]!;
        if (this.b.node(ids.id).dtype !== 'i32') {
          this.r.error(Codes.TypeMismatch, `\`${m.path}\` looks up integer ids (tokens or positions); this input is a float tensor`, range);
          return POISON;
        }
        return this.rewrite('embedding', m, [ids], range, () => this.op('embedding', [this.moduleParam(m, 'weight'), ids], {}, range, `\`${m.path}\``));
      }
      case 'LayerNorm': {
        if (!this.arity(m, args, 1, range)) return POISON;
        const inputs = m.settings.affine ? [args[0]!, this.moduleParam(m, 'weight'), this.moduleParam(m, 'bias')] : [args[0]!];
        return this.checkedNorm('layernorm', m, inputs, range);
      }
      case 'RMSNorm': {
        if (!this.arity(m, args, 1, range)) return POISON;
        return this.checkedNorm('rmsnorm', m, [args[0]!, this.moduleParam(m, 'weight')], range);
      }
      case 'Tied': {
        if (!this.arity(m, args, 1, range)) return POISON;
        const w = this.moduleParam(m.tiedTo!, 'weight');
        return this.op('linear', [args[0]!, w], { layout: 'out_in' }, range, `\`${m.path}\` (tied to \`${m.tiedTo!.path}\`)`);
      }
      case 'repeat': {
        let x: Value = args.length === 1 ? args[0]! : POISON;
        if (!this.arity(m, args, 1, range)) return POISON;
        for (const c of m.children) x = this.callModule(c, [x], range);
        return x;
      }
      case 'block':
        return this.runBlock(m, args, range);
    }
  }

  private checkedNorm(op: string, m: ModuleInst, inputs: Tensor[], range: SourceRange): Value {
    const x = this.shapeOf(inputs[0]!);
    const d = m.settings.dim as number;
    if (String(x[x.length - 1]) !== String(d)) {
      this.r.error(Codes.ShapeMismatch, `\`${m.path}\` normalises ${d} features but its input has shape ${formatShape(x)}`, range, [
        { message: `input of shape ${formatShape(x)} comes from here`, range: inputs[0]!.src },
        { message: `\`${m.path}\` is declared with ${d} features here`, range: m.range },
      ]);
      return POISON;
    }
    return this.op(op, inputs, { eps: m.settings.eps as number }, range, `\`${m.path}\``);
  }

  runBlock(m: ModuleInst, args: Value[], range: SourceRange): Value {
    const fwd = m.decl?.forward;
    if (!fwd) {
      this.r.error(Codes.NoForward, `block \`${m.decl?.name.name}\` (at \`${m.path}\`) has no forward`, m.decl?.range ?? range);
      return POISON;
    }
    if (fwd.params.length !== args.length) {
      this.r.error(Codes.BadArguments, `\`${m.path || m.name}\` takes ${fwd.params.length} input${fwd.params.length === 1 ? '' : 's'} (${fwd.params.map((p) => p.name).join(', ')}), given ${args.length}`, range);
      return POISON;
    }
    const env: Env = new Map();
    fwd.params.forEach((p, i) => env.set(p.name, args[i]!));
    this.stack.push(m);
    const out = this.runForward(m, fwd, env);
    this.stack.pop();
    return out;
  }

  // ---------------------------------------------------------------- forward bodies

  private runForward(m: ModuleInst, fwd: Forward, env: Env): Value {
    for (const s of fwd.body) {
      const ret = this.stmt(m, s, env);
      if (ret) return ret;
    }
    this.r.error(Codes.NoReturn, `the forward of \`${m.decl?.name.name}\` ends without \`return\``, fwd.range);
    return POISON;
  }

  private stmt(m: ModuleInst, s: Stmt, env: Env): Value | undefined {
    const v = this.expr(m, s.value, env);
    if (s.kind === 'return') return v;
    if (s.targets.length === 1) {
      env.set(s.targets[0]!.name, v);
      return undefined;
    }
    if (v.kind === 'poison') {
      for (const t of s.targets) env.set(t.name, POISON);
    } else if (v.kind !== 'tuple' || v.items.length !== s.targets.length) {
      this.r.error(Codes.TypeMismatch, `cannot unpack ${describe(v)} into ${s.targets.length} names`, s.range);
      for (const t of s.targets) env.set(t.name, POISON);
    } else {
      s.targets.forEach((t, i) => env.set(t.name, v.items[i]!));
    }
    return undefined;
  }

  expr(m: ModuleInst, e: Expr, env: Env): Value {
    switch (e.kind) {
      case 'number':
        return { kind: 'num', v: e.value };
      case 'string':
        return { kind: 'str', v: e.value };
      case 'bool':
        return { kind: 'bool', v: e.value };
      case 'list':
        return { kind: 'tuple', items: e.items.map((i) => this.expr(m, i, env)) };
      case 'ident':
        return this.lookup(m, e.name, e.range, env);
      case 'unary':
        return this.arith(m, '*', { kind: 'num', v: -1 }, this.expr(m, e.operand, env), e.range);
      case 'binary':
        return this.arith(m, e.op, this.expr(m, e.left, env), this.expr(m, e.right, env), e.range);
      case 'call':
        return this.call(m, e, env);
    }
  }

  private lookup(m: ModuleInst, name: string, range: SourceRange, env: Env, quiet = false): Value {
    const local = env.get(name);
    if (local) return local;
    const sub = child(m, name);
    if (sub) return { kind: 'module', inst: sub };
    const c = m.scope.get(name);
    if (c) return c;
    if (!quiet) {
      const names = [...env.keys(), ...m.children.map((c) => c.name), ...m.scope.names()];
      this.r.error(Codes.UnknownName, `unknown name \`${name}\`.${didYouMean(name, names)}`, range);
    }
    return POISON;
  }

  private arith(m: ModuleInst, op: '+' | '-' | '*' | '/', a: Value, b: Value, range: SourceRange): Value {
    if (a.kind === 'poison' || b.kind === 'poison') return POISON;
    if (a.kind === 'num' && b.kind === 'num') {
      const v = op === '+' ? a.v + b.v : op === '-' ? a.v - b.v : op === '*' ? a.v * b.v : a.v / b.v;
      return { kind: 'num', v };
    }
    if (a.kind === 'tensor' && b.kind === 'tensor') {
      if (op === '+') return this.op('add', [a, b], {}, range, 'addition');
      if (op === '*') return this.op('mul', [a, b], {}, range, 'multiplication');
      if (op === '-') {
        const nb = this.op('scale', [b], { factor: -1 }, range);
        return nb.kind === 'tensor' ? this.op('add', [a, nb], {}, range, 'subtraction') : POISON;
      }
    }
    if (op === '*' || op === '/') {
      const [t, n] = a.kind === 'tensor' ? [a, b] : [b, a];
      if (t.kind === 'tensor' && n.kind === 'num' && !(op === '/' && a.kind !== 'tensor')) {
        return this.op('scale', [t], { factor: op === '*' ? n.v : 1 / n.v }, range);
      }
    }
    this.r.error(Codes.TypeMismatch, `cannot apply \`${op}\` to ${describe(a)} and ${describe(b)}`, range);
    return POISON;
  }

  private call(m: ModuleInst, e: Call, env: Env): Value {
    const name = e.callee.name;
    const target = this.lookup(m, name, e.callee.range, env, true);
    if (target.kind === 'module') {
      if (e.args.some((a) => a.name)) {
        this.r.error(Codes.BadArguments, `module \`${target.inst.path}\` takes its inputs by position`, e.range);
        return POISON;
      }
      return this.callModule(target.inst, e.args.map((a) => this.expr(m, a.value, env)), e.range);
    }
    if (isFunction(name)) return callFunction(this, m, e, env);
    const names = [...m.children.map((c) => c.name), ...Object.keys(FUNCTIONS)];
    const what = target.kind === 'poison' ? 'unknown function or module' : `${describe(target)} is not callable:`;
    this.r.error(Codes.NotCallable, `${what} \`${name}\`.${didYouMean(name, names)}`, e.callee.range);
    return POISON;
  }
}

function methodInfo(app: MethodRef): MethodInfo {
  return { name: app.method as MethodInfo['name'], module: app.module.path, settings: app.settings };
}

export { exprText };
