// IA³ (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
// In-Context Learning") as Hugging Face PEFT computes it, as a rewrite of one Linear call:
//   y' = (x·W + b) ⊙ l            l [out], the module's output (bias included) scaled
//   y' = (x ⊙ l)·W + b            l [in], with `feedforward = true` (PEFT's feedforward_modules)
// l starts at one (PEFT's init_ia3_weights), so the model starts exactly at the base. PEFT keeps
// l as [out, 1] or [1, in]; the graph keeps it one-dimensional and the export reshapes it.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { ModuleInst } from '../modules.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';
import type { Value } from '../values.ts';
import type { MethodApp } from './assign.ts';

/** The learned vector's parameter path: PEFT's `ia3_l`, under the module. */
export const ia3Path = (module: string): string => `${module}.ia3_l`;

/** PEFT's shape of the vector: [1, in] for a feed-forward module, else [out, 1]. */
export function ia3FileShape(feedforward: boolean, length: number): number[] {
  return feedforward ? [1, length] : [length, 1];
}

/**
 * `base(inputs)` traces the module's call (with whatever else rewrites it) on the given inputs;
 * `x` and `y` are its input and, once called, its output.
 */
export function applyIa3(t: MethodHost, app: MethodApp, m: ModuleInst, x: Tensor, base: (x: Tensor) => Value, range: SourceRange): Value {
  const ff = app.settings.feedforward === true;
  const n = (ff ? m.settings.in : m.settings.out) as number;
  const l = t.param(ia3Path(m.path), [n], { origin: 'ia3', module: m.path, method: app, init: { kind: 'ones' }, src: app.range });
  if (ff) {
    const scaled = t.op('mul', [x, l], {}, range, 'ia3 (input)');
    return scaled.kind === 'tensor' ? base(scaled) : scaled;
  }
  const y = base(x);
  return y.kind === 'tensor' ? t.op('mul', [y, l], {}, range, 'ia3') : y;
}
