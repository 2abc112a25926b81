// Rank selection for LoRA, beyond a fixed `rank = r`:
//
//   rank = auto(target = 8, init = 12, …)   AdaLoRA (Zhang et al. 2023): ΔW = B·diag(E ⊙ m)·A,
//       A [init, in], E [init] (the singular values), B [out, init], s = alpha / init; m is the
//       module's rank mask, an f32 [init] graph input of zeros and ones (fill 1) that the runtime
//       (runtime/rank.ts) lowers as the global budget falls on AdaLoRA's cubic schedule, keeping the
//       most important singular triplets. The orthogonality regulariser γ·(‖AAᵀ − I‖² + ‖BᵀB − I‖²)
//       enters the training IR's gradients (orthogonalityGradients below).
//   rank = dynamic(max = 8)                 DyLoRA (Valipour et al. 2023): ΔW = B·diag(m)·A with
//       A [max, in], B [out, max]; the mask input carries the scale too: m_i = alpha/b for i < b,
//       0 beyond, b drawn per training step; fill alpha/max, i.e. the full rank.
//
// Both are ordinary IR: the mask is an `input` node named `rank_mask.<module>`, multiplied into
// the branch with `mul` (suffix broadcasting over [r]).
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { TrainingGraph } from '../autodiff/backward.ts';
import { Codes } from '../codes.ts';
import type { Reporter } from '../evaluate.ts';
import { opSpec } from '../ir/ops.ts';
import type { Attrs, Graph, Node } from '../ir/types.ts';
import type { ModuleInst } from '../modules.ts';
import type { Tensor, Tracer } from '../trace.ts';
import { formatConst, POISON, type Const, type Value } from '../values.ts';
import type { MethodApp } from './assign.ts';
import type { Settings } from './methods.ts';

export type RankMode = 'fixed' | 'auto' | 'dynamic';

/** Hugging Face PEFT's AdaLoraConfig defaults (beta1 = beta2 = 0.85, orth_reg_weight 0.5, …). */
export const AUTO_DEFAULTS = { target: 8, init: 12, tinit: 0, tfinal: 0, delta_t: 1, beta1: 0.85, beta2: 0.85, orth: 0.5 };
/** The settings of `auto(…)` that one global budget needs every module to share. */
export const SHARED_AUTO = ['tinit', 'tfinal', 'delta_t', 'beta1', 'beta2'] as const;

const AUTO_ARGS = ['target', 'init', 'tinit', 'tfinal', 'delta_t', 'beta1', 'beta2', 'orth'] as const;

export const rankMaskName = (module: string): string => `rank_mask.${module}`;

export function rankMode(s: Settings): RankMode {
  return s.rank_mode === 'auto' || s.rank_mode === 'dynamic' ? s.rank_mode : 'fixed';
}

/**
 * `rank = auto(…)` or `rank = dynamic(…)` as flat settings (`rank` is the parameters' rank: `init`
 * or `max`); undefined with an error reported; null when `rank` is not such a call.
 */
export function rankSettings(v: Const, range: SourceRange, r: Reporter): Settings | undefined | null {
  if (v.kind !== 'ctor' || (v.name !== 'auto' && v.name !== 'dynamic')) return null;
  const names: readonly string[] = v.name === 'auto' ? AUTO_ARGS : ['max'];
  const given = new Map<string, Const>();
  const fail = (msg: string): undefined => {
    r.error(Codes.BadMethodSetting, msg, range);
    return undefined;
  };
  if (v.args.length > 1 || (v.args.length === 1 && v.name === 'auto' && v.named.has('target'))) {
    return fail(`\`${v.name}(…)\` takes its settings by name: ${names.map((n) => `${n} = …`).join(', ')}`);
  }
  if (v.args[0]) given.set(names[0]!, v.args[0]);
  for (const [k, c] of v.named) {
    if (!names.includes(k)) return fail(`\`${v.name}(…)\` has no setting \`${k}\`; its settings: ${names.join(', ')}`);
    given.set(k, c);
  }
  const out: Settings = {};
  for (const k of names) {
    const c = given.get(k);
    const dflt = v.name === 'auto' ? AUTO_DEFAULTS[k as keyof typeof AUTO_DEFAULTS] : undefined;
    if (!c) {
      if (dflt === undefined) return fail(`\`dynamic(…)\` needs \`max\`, the largest rank: \`rank = dynamic(max = 8)\``);
      out[k] = dflt;
      continue;
    }
    if (c.kind !== 'num') return fail(`\`${v.name}(…)\`'s ${k} must be a number; found ${formatConst(c)}`);
    out[k] = c.v;
  }
  const int = (k: string, min: number) => Number.isInteger(out[k]) && (out[k] as number) >= min;
  if (v.name === 'dynamic') {
    if (!int('max', 1)) return fail(`\`dynamic(…)\`'s max must be an integer ≥ 1; found ${out.max}`);
    return { rank: out.max!, rank_mode: 'dynamic' };
  }
  for (const [k, min] of [['init', 1], ['target', 1], ['tinit', 0], ['tfinal', 0], ['delta_t', 1]] as const) {
    if (!int(k, min)) return fail(`\`auto(…)\`'s ${k} must be an integer ≥ ${min}; found ${out[k]}`);
  }
  if ((out.target as number) > (out.init as number)) return fail(`\`auto(…)\`'s target rank ${out.target} exceeds its initial rank ${out.init}`);
  for (const k of ['beta1', 'beta2']) {
    if (!((out[k] as number) >= 0 && (out[k] as number) < 1)) return fail(`\`auto(…)\`'s ${k} must be in [0, 1); found ${out[k]}`);
  }
  if (!((out.orth as number) >= 0)) return fail(`\`auto(…)\`'s orth (the orthogonality weight) must be ≥ 0; found ${out.orth}`);
  const { init, ...rest } = out;
  return { rank: init!, rank_mode: 'auto', ...rest };
}

/** The rank-mask input of a module: f32 [r], the value `fill` when a batch leaves it out. */
function maskInput(t: Tracer, module: string, r: number, fill: number): Tensor {
  const name = rankMaskName(module);
  const id = t.b.input(name, [r], 'f32');
  t.b.node(id).attrs.fill = fill;
  t.inputs[name] = id;
  return { kind: 'tensor', id, src: t.root.range };
}

/** AdaLoRA: y' = y + s · ((dropout(x)·Aᵀ) ⊙ (E ⊙ m)) · Bᵀ. HF PEFT's init: E zeros, A and B normal(0, 0.02). */
export function applyAdaLora(t: Tracer, app: MethodApp, m: ModuleInst, x: Tensor, y: Tensor, range: SourceRange): Value {
  const s = app.settings;
  const r = s.rank as number;
  const opts = { origin: 'lora' as const, module: m.path, method: app, src: app.range };
  const A = t.param(`${m.path}.lora_A.weight`, [r, m.settings.in as number], { ...opts, init: { kind: 'normal', std: 0.02 } });
  const E = t.param(`${m.path}.lora_E.weight`, [r], { ...opts, init: { kind: 'zeros' } });
  const B = t.param(`${m.path}.lora_B.weight`, [m.settings.out as number, r], { ...opts, init: { kind: 'normal', std: 0.02 } });
  const mask = maskInput(t, m.path, r, 1);
  return chain(t, range, x, [
    (v) => t.dropout(v, s.dropout as number, range),
    (v) => t.op('linear', [v, A], { layout: 'out_in' }, range, 'lora_A'),
    (v) => {
      const gate = t.op('mul', [E, mask], {}, range, 'lora_E');
      return gate.kind === 'tensor' ? t.op('mul', [v, gate], {}, range, 'lora_E') : POISON;
    },
    (v) => t.op('linear', [v, B], { layout: 'out_in' }, range, 'lora_B'),
    (v) => t.op('scale', [v], { factor: (s.alpha as number) / r }, range),
    (v) => t.op('add', [y, v], {}, range, 'lora'),
  ]);
}

/** DyLoRA: y' = y + ((dropout(x)·Aᵀ) ⊙ m) · Bᵀ, m_i = alpha/b for i < b (the scale rides on the mask). */
export function applyDyLora(t: Tracer, app: MethodApp, m: ModuleInst, x: Tensor, y: Tensor, range: SourceRange): Value {
  const s = app.settings;
  const r = s.rank as number;
  const fin = m.settings.in as number;
  const opts = { origin: 'lora' as const, module: m.path, method: app, src: app.range };
  const A = t.param(`${m.path}.lora_A.weight`, [r, fin], { ...opts, init: { kind: 'uniform', bound: 1 / Math.sqrt(fin) } });
  const B = t.param(`${m.path}.lora_B.weight`, [m.settings.out as number, r], { ...opts, init: { kind: 'zeros' } });
  const mask = maskInput(t, m.path, r, (s.alpha as number) / r);
  return chain(t, range, x, [
    (v) => t.dropout(v, s.dropout as number, range),
    (v) => t.op('linear', [v, A], { layout: 'out_in' }, range, 'lora_A'),
    (v) => t.op('mul', [v, mask], {}, range, 'rank mask'),
    (v) => t.op('linear', [v, B], { layout: 'out_in' }, range, 'lora_B'),
    (v) => t.op('add', [y, v], {}, range, 'lora'),
  ]);
}

function chain(t: Tracer, range: SourceRange, start: Tensor, steps: ((v: Tensor) => Value)[]): Value {
  let v: Value = start;
  for (const step of steps) {
    if (v.kind !== 'tensor') return POISON;
    v = step(v);
  }
  void t;
  void range;
  return v;
}

/** All modules with `rank = auto(…)` share one budget: their schedule settings must agree. */
export function checkAutoAgreement(apps: MethodApp[], r: Reporter): void {
  const auto = apps.filter((a) => a.method === 'lora' && a.settings.rank_mode === 'auto');
  const first = auto[0];
  for (const a of auto.slice(1)) {
    const diff = SHARED_AUTO.filter((k) => a.settings[k] !== first!.settings[k]);
    if (diff.length) {
      r.error(Codes.ConflictingMethods, `every \`rank = auto(…)\` module shares one rank budget and schedule; \`${a.module.path}\` sets ${diff.join(', ')} differently`, a.range, [
        { message: 'the first auto rank is set here', range: first!.range },
      ]);
      return;
    }
  }
}

// ------------------------------------------------------------------ graph-level views

/** A LoRA module with a rank mask, as the runtime and the exporters see it. */
export interface RankedModule {
  module: string;
  mode: 'auto' | 'dynamic';
  /** The parameters' rank: auto's init, dynamic's max. */
  rank: number;
  alpha: number;
  settings: Record<string, number | string | boolean>;
  /** The mask input's name. */
  input: string;
  A: string;
  B: string;
  /** AdaLoRA's singular values. */
  E?: string;
}

/** The modules of `g` whose LoRA rank is `auto(…)` or `dynamic(…)`, in model order. */
export function rankedModules(g: Graph): RankedModule[] {
  const out: RankedModule[] = [];
  for (const p of g.params) {
    const m = p.method;
    if (!m || m.name !== 'lora' || p.path !== `${m.module}.lora_A.weight`) continue;
    const mode = rankMode(m.settings);
    if (mode === 'fixed') continue;
    const rm: RankedModule = {
      module: m.module,
      mode,
      rank: m.settings.rank as number,
      alpha: m.settings.alpha as number,
      settings: m.settings,
      input: rankMaskName(m.module),
      A: p.path,
      B: `${m.module}.lora_B.weight`,
    };
    if (mode === 'auto') rm.E = `${m.module}.lora_E.weight`;
    out.push(rm);
  }
  return out;
}

/**
 * The orthogonality regulariser of AdaLoRA, γ·(‖AAᵀ − I‖²_F + ‖BᵀB − I‖²_F) per module, as the
 * terms it adds to the gradients of A and B (the logged loss stays the task's loss):
 *   ∂/∂A = 4γ·(AAᵀA − A),   ∂/∂B = 4γ·(BBᵀB − B),
 * written in catalog ops (linear, linear_grad_weight, scale, add) after the backward pass.
 */
export function orthogonalityGradients(t: TrainingGraph): TrainingGraph {
  const mods = rankedModules(t.graph).filter((m) => m.mode === 'auto' && (m.settings.orth as number) > 0);
  if (!mods.length) return t;
  const nodes = t.graph.nodes;
  const paramNode = new Map<string, number>();
  for (const n of nodes) if (n.op === 'param') paramNode.set(n.attrs.path as string, n.id);
  let scope = '';
  const emit = (op: string, inputs: number[], attrs: Attrs = {}): number => {
    const shape = opSpec(op).shape(inputs.map((i) => nodes[i]!.shape), attrs);
    if (typeof shape === 'string') throw new Error(`orthogonality regulariser: ${op}: ${shape}`);
    const id = nodes.length;
    const n: Node = { id, op, inputs, attrs, shape, dtype: 'f32', scope };
    nodes.push(n);
    return id;
  };
  const grads = t.grads.map((g) => ({ ...g }));
  for (const m of mods) {
    const gamma = m.settings.orth as number;
    for (const [path, side] of [[m.A, 'A'], [m.B, 'B']] as const) {
      const entry = grads.find((g) => g.path === path);
      const w = paramNode.get(path);
      if (!entry || w === undefined) continue;
      scope = `${m.module} ∂orthogonality`;
      // A [r, in]: G = A·Aᵀ [r, r], then G·A.   B [out, r]: G = Bᵀ·B [r, r], then B·G.
      const gram = side === 'A' ? emit('linear', [w, w], { layout: 'out_in' }) : emit('linear_grad_weight', [w, w], { layout: 'in_out' });
      const prod = side === 'A' ? emit('linear', [gram, w], { layout: 'in_out' }) : emit('linear', [w, gram], { layout: 'in_out' });
      const reg = emit('add', [emit('scale', [prod], { factor: 4 * gamma }), emit('scale', [w], { factor: -4 * gamma })]);
      entry.node = emit('add', [entry.node, reg]);
    }
  }
  return { ...t, grads };
}
