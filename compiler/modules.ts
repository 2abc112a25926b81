// The module tree: every block, layer and repeated instance of the model with its
// dotted path (`h.0.attn.c_attn`) and its own parameters, built from the declarations
// with the config and block arguments evaluated.
import type { BlockDecl, Call, Expr, Member, ModelDecl } from '../grammar/ast.ts';
import type { SourceRange } from '../grammar/diagnostics.ts';
import { Codes } from './codes.ts';
import { bindArgs, ConstScope, evalConst, expectSize, exprText, type Reporter } from './evaluate.ts';
import { isLayer, LAYERS, type LayerKind, type LayerSettings, type ParamDecl } from './layers.ts';
import { didYouMean } from './suggest.ts';
import { type Const, describeConst } from './consts.ts';

/** More layers than any real model has; keeps a typo like `repeat(1e9, …)` from hanging. */
export const MAX_REPEAT = 4096;

export type ModuleKind = LayerKind | 'block' | 'repeat' | 'Tied';

export interface ModuleInst {
  path: string;
  name: string;
  kind: ModuleKind;
  /** For blocks and the model: the declaration whose forward runs. */
  decl?: BlockDecl | ModelDecl;
  /** Constants visible in the block's forward (its arguments, then the config). */
  scope: ConstScope;
  /** Builtin layer settings (`in`, `out`, `layout`, `eps`, …). */
  settings: LayerSettings;
  children: ModuleInst[];
  params: ParamDecl[];
  /** For `Tied(wte)`: the embedding whose table is reused. */
  tiedTo?: ModuleInst;
  /** Inline PEFT methods written with `with`. */
  inline: Call[];
  range: SourceRange;
  parent?: ModuleInst;
}

export function childPath(parent: string, name: string): string {
  return parent ? `${parent}.${name}` : name;
}

export function child(m: ModuleInst, name: string): ModuleInst | undefined {
  return m.children.find((c) => c.name === name);
}

/** Every module of the tree in pre-order. */
export function* walk(m: ModuleInst): Generator<ModuleInst> {
  yield m;
  for (const c of m.children) yield* walk(c);
}

export class ModuleBuilder {
  private readonly stack: string[] = [];
  /** Members whose construction failed (already reported), by parent: `Tied(wte)` to one is not a second error. */
  private readonly failed = new Map<ModuleInst, Set<string>>();

  constructor(
    private readonly blocks: Map<string, BlockDecl>,
    private readonly config: ConstScope,
    private readonly initStd: number,
    private readonly r: Reporter,
  ) {}

  model(decl: ModelDecl): ModuleInst {
    const root = this.blank('', decl.name.name, 'block', this.config, decl.range);
    root.decl = decl;
    this.members(root, decl.members);
    return root;
  }

  private failedNames(parent: ModuleInst): Set<string> {
    let names = this.failed.get(parent);
    if (!names) this.failed.set(parent, (names = new Set()));
    return names;
  }

  private blank(path: string, name: string, kind: ModuleKind, scope: ConstScope, range: SourceRange): ModuleInst {
    return { path, name, kind, scope, settings: {}, children: [], params: [], inline: [], range };
  }

  private members(parent: ModuleInst, members: Member[]): void {
    for (const m of members) {
      const name = m.name.name;
      if (child(parent, name)) {
        this.r.error(Codes.Duplicate, `\`${name}\` is already a member of \`${parent.decl?.name.name ?? parent.path}\``, m.name.range);
        continue;
      }
      const inst = this.construct(m.value, childPath(parent.path, name), name, parent);
      if (!inst) {
        this.failedNames(parent).add(name);
        continue;
      }
      inst.inline = m.methods;
      inst.range = m.range;
      inst.parent = parent;
      parent.children.push(inst);
    }
  }

  /** Builds the module a member expression describes: a layer, a block, `repeat` or `Tied`. */
  private construct(e: Expr, path: string, name: string, parent: ModuleInst): ModuleInst | undefined {
    if (e.kind !== 'call') {
      this.r.error(Codes.NotCallable, `a member must be a layer or a block, like \`Linear(…)\`; found \`${exprText(e)}\``, e.range);
      return undefined;
    }
    const callee = e.callee.name;
    if (callee === 'repeat') return this.repeat(e, path, name, parent);
    if (callee === 'Tied') return this.tied(e, path, name, parent);
    if (isLayer(callee)) return this.layer(callee, e, path, name, parent.scope);
    const block = this.blocks.get(callee);
    if (block) return this.block(block, e, path, name, parent.scope);
    const known = ['repeat', 'Tied', ...Object.keys(LAYERS), ...this.blocks.keys()];
    this.r.error(Codes.UnknownName, `unknown layer or block \`${callee}\`.${didYouMean(callee, known)}`, e.callee.range);
    return undefined;
  }

  private args(e: Call, scope: ConstScope) {
    return e.args.map((a) => ({
      name: a.name?.name,
      value: evalConst(a.value, scope, this.r, { symbols: true }),
      range: a.range,
    }));
  }

  private layer(kind: LayerKind, e: Call, path: string, name: string, scope: ConstScope): ModuleInst | undefined {
    const spec = LAYERS[kind];
    const bound = bindArgs(kind, spec.args, this.args(e, scope), e.range, this.r);
    if (!bound) return undefined;
    const settings: LayerSettings = {};
    let ok = true;
    for (const [k, v] of bound) {
      const argExpr = e.args.find((a) => a.name?.name === k)?.value ?? e.args[spec.args.findIndex((s) => s.name === k)]?.value ?? e;
      const val = this.setting(kind, k, v, argExpr, spec.sizes.includes(k), spec.options?.[k], scope);
      if (val === undefined) ok = false;
      else settings[k] = val;
    }
    if (!ok) return undefined;
    const inst = this.blank(path, name, kind, scope, e.range);
    inst.settings = settings;
    inst.params = spec.params(settings, this.initStd);
    return inst;
  }

  private setting(
    kind: string,
    key: string,
    v: Const,
    e: Expr,
    isSize: boolean,
    options: string[] | undefined,
    scope: ConstScope,
  ): number | boolean | string | undefined {
    if (isSize) return expectSize(e, v, scope, this.r, `\`${kind}\`'s ${key}`);
    if (options) {
      if (v.kind === 'sym' && options.includes(v.name)) return v.name;
      this.r.error(Codes.TypeMismatch, `\`${kind}\`'s ${key} must be one of ${options.join(', ')}; found ${describeConst(v)}`, e.range);
      return undefined;
    }
    if (v.kind === 'num' || v.kind === 'bool') return v.v;
    if (v.kind === 'sym') {
      this.r.error(Codes.UnknownName, `unknown name \`${v.name}\`.${didYouMean(v.name, scope.names())}`, e.range);
      return undefined;
    }
    this.r.error(Codes.TypeMismatch, `\`${kind}\`'s ${key} must be a number or boolean; found ${describeConst(v)}`, e.range);
    return undefined;
  }

  private block(decl: BlockDecl, e: Call, path: string, name: string, outer: ConstScope): ModuleInst | undefined {
    const bname = decl.name.name;
    if (this.stack.includes(bname)) {
      this.r.error(Codes.Recursion, `block \`${bname}\` contains itself (${[...this.stack, bname].join(' → ')})`, e.range);
      return undefined;
    }
    const specs = decl.params.map((p) => {
      const d = p.default ? evalConst(p.default, this.config, this.r, { symbols: true }) : undefined;
      return d ? { name: p.name.name, default: d } : { name: p.name.name };
    });
    const bound = bindArgs(bname, specs, this.args(e, outer), e.range, this.r);
    if (!bound) return undefined;
    const scope = new ConstScope(this.config);
    for (const [k, v] of bound) scope.set(k, v);
    const inst = this.blank(path, name, 'block', scope, e.range);
    inst.decl = decl;
    this.stack.push(bname);
    this.members(inst, decl.members);
    this.stack.pop();
    return inst;
  }

  private repeat(e: Call, path: string, name: string, parent: ModuleInst): ModuleInst | undefined {
    const [countArg, bodyArg] = e.args;
    if (e.args.length !== 2 || !countArg || !bodyArg || countArg.name || bodyArg.name) {
      this.r.error(Codes.BadArguments, '`repeat` takes a count and a layer or block: `repeat(n_layer, Block(…))`', e.range);
      return undefined;
    }
    const n = expectSize(countArg.value, evalConst(countArg.value, parent.scope, this.r), parent.scope, this.r, 'the repeat count');
    if (n === undefined) return undefined;
    if (n > MAX_REPEAT) {
      this.r.error(Codes.NotAnInteger, `repeat count ${n} is over the limit of ${MAX_REPEAT} layers`, countArg.value.range);
      return undefined;
    }
    const inst = this.blank(path, name, 'repeat', parent.scope, e.range);
    for (let i = 0; i < n; i++) {
      const c = this.construct(bodyArg.value, childPath(path, String(i)), String(i), parent);
      if (!c) return undefined;
      c.parent = inst;
      inst.children.push(c);
    }
    return inst;
  }

  private tied(e: Call, path: string, name: string, parent: ModuleInst): ModuleInst | undefined {
    const a = e.args[0];
    if (e.args.length !== 1 || !a || a.value.kind !== 'ident') {
      this.r.error(Codes.BadArguments, '`Tied` takes the embedding whose table it reuses: `Tied(wte)`', e.range);
      return undefined;
    }
    const target = child(parent, a.value.name);
    if (!target && this.failedNames(parent).has(a.value.name)) return undefined;
    if (!target || target.kind !== 'Embedding') {
      const embeddings = parent.children.filter((c) => c.kind === 'Embedding').map((c) => c.name);
      this.r.error(Codes.UnknownName, `\`Tied\` needs an Embedding member declared before it; \`${a.value.name}\` is not one.${didYouMean(a.value.name, embeddings)}`, a.value.range);
      return undefined;
    }
    const inst = this.blank(path, name, 'Tied', parent.scope, e.range);
    inst.tiedTo = target;
    return inst;
  }
}
