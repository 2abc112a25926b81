// `init = pissa(niter = K)`: PiSSA from torch.svd_lowrank's randomised SVD with K power
// iterations, Hugging Face PEFT's init_lora_weights "pissa_niter_K" (runtime/lora-init.ts). The
// call becomes the flat settings init = pissa, niter = K; plain `init = …` symbols are left to
// the option check.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { Codes } from '../codes.ts';
import type { Reporter } from '../evaluate.ts';
import { formatConst, type Const } from '../values.ts';

export const MAX_NITER = 100;

/** { niter } from `init = pissa(niter = K)` (`bound`'s init then reads `pissa`); null for any other init; undefined with an error reported. */
export function lowRankPissa(bound: Map<string, Const>, range: SourceRange, r: Reporter): { niter: number } | null | undefined {
  const v = bound.get('init');
  if (v?.kind !== 'ctor') return null;
  const fail = (msg: string): undefined => {
    r.error(Codes.BadMethodSetting, msg, range);
    return undefined;
  };
  if (v.name !== 'pissa') return fail(`\`init = ${v.name}(…)\` takes no settings; only \`init = pissa(niter = K)\` does (the randomised SVD)`);
  const extra = [...v.named.keys()].find((k) => k !== 'niter');
  if (extra !== undefined) return fail(`\`pissa(…)\` has no setting \`${extra}\`; its one setting is niter, the power iterations: \`init = pissa(niter = 4)\``);
  const niter = v.named.get('niter') ?? v.args[0];
  if (v.args.length + v.named.size !== 1 || !niter) return fail('`pissa(…)` takes one setting, niter, the power iterations: `init = pissa(niter = 4)` (plain `init = pissa` is the exact SVD)');
  // PEFT uses a handful (4 to 16); each one is two products with W, so the bound keeps a typo from running for hours.
  if (niter.kind !== 'num' || !Number.isInteger(niter.v) || niter.v < 0 || niter.v > MAX_NITER) return fail(`\`pissa(…)\`'s niter must be an integer from 0 to ${MAX_NITER}; found ${formatConst(niter)}`);
  bound.set('init', { kind: 'sym', name: 'pissa' });
  return { niter: niter.v };
}
