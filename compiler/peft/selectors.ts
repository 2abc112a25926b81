// Target selectors: bare names written where a pattern goes (`lora(rank = 8) on all_linear`),
// standing for a set of modules chosen by kind rather than by path.
//
// `all_linear` is Hugging Face PEFT's `target_modules="all-linear"`
// (tuners_utils._maybe_include_all_linear_layers): every Linear except the model's output head,
// the layer that makes the logits (PEFT leaves out the output embedding of a language model and
// the `score`/`classifier` head of a classifier; here it is the Linear the model's `forward`
// returns through).
import type { Expr, ModelDecl, Stmt } from '../../grammar/ast.ts';
import { child, type ModuleInst } from '../modules.ts';

export const SELECTORS: Record<string, (modules: ModuleInst[]) => ModuleInst[]> = {
  all_linear: (modules) => {
    const root = modules[0]?.parent;
    const head = root ? outputHead(root) : undefined;
    return modules.filter((m) => m.kind === 'Linear' && m !== head);
  },
};

export function isSelector(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(SELECTORS, name);
}

/**
 * The Linear member of the model that its `forward` returns through, looking past functions
 * (`dropout(score(x))`) and local names (`y = score(x)`, `return y`); none for a tied head.
 */
export function outputHead(root: ModuleInst): ModuleInst | undefined {
  const body = (root.decl as ModelDecl | undefined)?.forward?.body ?? [];
  let at = body.findIndex((s) => s.kind === 'return');
  let e: Expr | undefined = at >= 0 ? body[at]!.value : undefined;
  while (e) {
    if (e.kind === 'ident') {
      // The value the name holds at this statement: its last assignment before it.
      const name = e.name;
      do at--;
      while (at >= 0 && !assigns(body[at]!, name));
      e = at >= 0 ? body[at]!.value : undefined;
    } else if (e.kind === 'call') {
      const m = child(root, e.callee.name);
      if (m) return m.kind === 'Linear' ? m : undefined;
      e = e.args[0]?.value;
    } else return undefined;
  }
  return undefined;
}

function assigns(s: Stmt, name: string): boolean {
  return s.kind === 'assign' && s.targets.length === 1 && s.targets[0]!.name === name;
}
