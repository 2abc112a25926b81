// The names of a program and where each is declared and used: blocks, the model, config
// constants, members, block parameters, forward locals, imports, and the builtins (layers,
// functions, PEFT methods) for hover. Built from the compiler's ASTs (no second parser), by
// the language's scoping rules: a forward sees its locals, then its block's members and
// parameters, then the config; a member's arguments see the block's parameters, then the config.
import type * as ast from '../../grammar/ast.ts';
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { isFunction } from '../../compiler/functions.ts';
import { isLayer } from '../../compiler/layers.ts';
import { isMethod } from '../../compiler/peft/methods.ts';

export type SymbolKind = 'block' | 'model' | 'const' | 'member' | 'param' | 'local' | 'import' | 'layer' | 'function' | 'method';

export interface PeftSymbol {
  /** Identity: two occurrences with one key name the same thing. */
  key: string;
  kind: SymbolKind;
  name: string;
  /** Where it is declared (its name); none for builtins. For an import: the string. */
  decl?: SourceRange;
  /** The block or model a member, parameter or local belongs to. */
  owner?: string;
  /** An import's file, as the host resolved it. */
  target?: string;
}

export interface Occurrence {
  symbol: PeftSymbol;
  range: SourceRange;
  isDecl: boolean;
}

/** Builtins the module tree knows besides the layers. */
const MODULE_BUILTINS = new Set(['repeat', 'Tied']);

export class SymbolIndex {
  readonly occurrences: Occurrence[] = [];
  readonly blocks = new Map<string, PeftSymbol>();
  readonly constants = new Map<string, PeftSymbol>();
  model?: PeftSymbol;

  constructor(files: readonly ast.SourceFile[], resolveImport: (from: string, spec: string) => string) {
    for (const f of files) this.declareGlobals(f);
    for (const f of files) {
      for (const item of f.items) this.item(item, f.path, resolveImport);
    }
  }

  /** The occurrence at `offset` in `file` (a name's end counts, where a cursor stops after typing it). */
  at(file: string, offset: number): Occurrence | undefined {
    return this.occurrences.find((o) => o.range.file === file && o.range.start.offset <= offset && offset <= o.range.end.offset);
  }

  /** Every occurrence of the symbol with `key`, its declaration first. */
  occurrencesOf(key: string): Occurrence[] {
    return this.occurrences.filter((o) => o.symbol.key === key).sort((a, b) => Number(b.isDecl) - Number(a.isDecl));
  }

  private add(symbol: PeftSymbol, range: SourceRange, isDecl = false): void {
    if (range.end.offset > range.start.offset) this.occurrences.push({ symbol, range, isDecl });
  }

  private declareGlobals(f: ast.SourceFile): void {
    for (const item of f.items) {
      if (item.kind === 'block' && !this.blocks.has(item.name.name)) {
        this.blocks.set(item.name.name, { key: `block:${item.name.name}`, kind: 'block', name: item.name.name, decl: item.name.range });
      } else if (item.kind === 'model' && !this.model) {
        this.model = { key: `model:${item.name.name}`, kind: 'model', name: item.name.name, decl: item.name.range };
      } else if (item.kind === 'config') {
        for (const e of item.entries) {
          if (!this.constants.has(e.name.name)) this.constants.set(e.name.name, { key: `const:${e.name.name}`, kind: 'const', name: e.name.name, decl: e.name.range });
        }
      }
    }
  }

  private item(item: ast.Item, file: string, resolveImport: (from: string, spec: string) => string): void {
    switch (item.kind) {
      case 'import': {
        const target = resolveImport(file, item.path.value);
        this.add({ key: `import:${target}`, kind: 'import', name: item.path.value, decl: item.path.range, target }, item.path.range);
        return;
      }
      case 'config':
        for (const e of item.entries) {
          this.add(this.constants.get(e.name.name) ?? constant(e), e.name.range, true);
          this.expr(e.value, () => undefined);
        }
        return;
      case 'block':
      case 'model':
        return this.body(item);
      case 'peft':
        for (const rule of item.rules) if (rule.kind === 'method_rule') this.methodCall(rule.method, () => undefined);
    }
  }

  private body(decl: ast.BlockDecl | ast.ModelDecl): void {
    const owner = decl.name.name;
    const self = decl.kind === 'block' ? this.blocks.get(owner) : this.model;
    if (self) this.add(self, decl.name.range, self.decl === decl.name.range);
    const params = new Map<string, PeftSymbol>();
    for (const p of decl.kind === 'block' ? decl.params : []) {
      const sym: PeftSymbol = { key: `param:${owner}:${p.name.name}`, kind: 'param', name: p.name.name, decl: p.name.range, owner };
      params.set(p.name.name, sym);
      this.add(sym, p.name.range, true);
    }
    for (const p of decl.kind === 'block' ? decl.params : []) if (p.default) this.expr(p.default, () => undefined);
    const members = new Map<string, PeftSymbol>();
    for (const m of decl.members) {
      const sym: PeftSymbol = { key: `member:${owner}:${m.name.name}`, kind: 'member', name: m.name.name, decl: m.name.range, owner };
      if (!members.has(m.name.name)) members.set(m.name.name, sym);
      this.add(members.get(m.name.name)!, m.name.range, true);
    }
    const inBlock = (name: string) => params.get(name);
    for (const m of decl.members) {
      this.moduleExpr(m.value, inBlock, members);
      for (const method of m.methods) this.methodCall(method, inBlock);
    }
    if (decl.forward) this.forward(decl.forward, owner, params, members);
  }

  /** A member's value: layer, block, `repeat` or `Tied` calls, nested. */
  private moduleExpr(e: ast.Expr, local: (name: string) => PeftSymbol | undefined, members: Map<string, PeftSymbol>): void {
    if (e.kind !== 'call') return this.expr(e, local);
    const name = e.callee.name;
    const block = this.blocks.get(name);
    if (block) this.add(block, e.callee.range);
    else if (isLayer(name) || MODULE_BUILTINS.has(name)) this.add(builtin('layer', name), e.callee.range);
    for (const a of e.args) {
      if (name === 'Tied' && a.value.kind === 'ident' && members.has(a.value.name)) this.add(members.get(a.value.name)!, a.value.range);
      else if (a.value.kind === 'call') this.moduleExpr(a.value, local, members);
      else this.expr(a.value, local);
    }
  }

  private methodCall(call: ast.Call, local: (name: string) => PeftSymbol | undefined): void {
    if (isMethod(call.callee.name)) this.add(builtin('method', call.callee.name), call.callee.range);
    for (const a of call.args) this.expr(a.value, local);
  }

  private forward(fwd: ast.Forward, owner: string, params: Map<string, PeftSymbol>, members: Map<string, PeftSymbol>): void {
    const locals = new Map<string, PeftSymbol>();
    const declare = (id: ast.Ident) => {
      let sym = locals.get(id.name);
      const first = !sym;
      if (!sym) locals.set(id.name, (sym = { key: `local:${owner}:${fwd.range.start.offset}:${id.name}`, kind: 'local', name: id.name, decl: id.range, owner }));
      this.add(sym, id.range, first);
    };
    const lookup = (name: string) => locals.get(name) ?? members.get(name) ?? params.get(name);
    fwd.params.forEach(declare);
    for (const s of fwd.body) {
      this.expr(s.value, lookup);
      if (s.kind === 'assign') s.targets.forEach(declare);
    }
  }

  /** Names inside an expression: `local` first, then the config; callees may be builtin functions. */
  private expr(e: ast.Expr, local: (name: string) => PeftSymbol | undefined): void {
    switch (e.kind) {
      case 'ident': {
        const sym = local(e.name) ?? this.constants.get(e.name);
        if (sym) this.add(sym, e.range);
        return;
      }
      case 'binary':
        this.expr(e.left, local);
        return this.expr(e.right, local);
      case 'unary':
        return this.expr(e.operand, local);
      case 'list':
        for (const i of e.items) this.expr(i, local);
        return;
      case 'call': {
        const name = e.callee.name;
        const sym = local(name) ?? (isFunction(name) ? builtin('function', name) : this.blocks.get(name) ?? (isLayer(name) ? builtin('layer', name) : undefined));
        if (sym) this.add(sym, e.callee.range);
        for (const a of e.args) this.expr(a.value, local);
      }
    }
  }
}

function constant(e: ast.ConfigEntry): PeftSymbol {
  return { key: `const:${e.name.name}`, kind: 'const', name: e.name.name, decl: e.name.range };
}

function builtin(kind: 'layer' | 'function' | 'method', name: string): PeftSymbol {
  return { key: `${kind}:${name}`, kind, name };
}
