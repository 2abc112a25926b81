// Inverted dropout with a stateless hash mask (runtime/cpu/rng.ts), so the mask is a pure
// function of (seed, step, element index) and the WGSL kernel reproduces it bit for bit.
// The backward of dropout is dropout itself (same seed and step): the op is linear in x.
import { dropoutKey, dropoutThreshold, pcg } from '../rng.ts';
import { fail, floatIn, floatOut, type KernelOf } from './common.ts';

/**
 * dropout: element i is kept iff pcg(i + pcg(seed + pcg(step))) ≥ floor(p·2³²), and kept values
 * are scaled by 1/(1−p). Identity when p = 0 or ctx.training is false.
 */
export const dropout: KernelOf<'dropout'> = (inputs, { p, seed }, ctx) => {
  const op = 'dropout';
  const x = floatIn(op, inputs, 0, 'x'); // p in [0, 1): the catalog's rule
  if (!Number.isInteger(ctx.step) || ctx.step < 0) fail(op, `step must be a non-negative integer, got ${ctx.step}`);
  const out = floatOut(x.shape, ctx);
  const xd = x.data, o = out.data;
  if (p === 0 || !ctx.training) {
    o.set(xd);
    return out;
  }
  const threshold = dropoutThreshold(p);
  const key = dropoutKey(seed, ctx.step);
  const s = 1 / (1 - p);
  for (let i = 0; i < xd.length; i++) o[i] = pcg((i + key) >>> 0) >= threshold ? xd[i]! * s : 0;
  return out;
};
