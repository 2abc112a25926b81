// Inverted dropout with the stateless PCG hash of runtime/cpu/rng.ts, bit for bit:
//   element i (flat index) is kept iff pcg(i + pcg(seed + pcg(step))) ≥ floor(p·2³²),
//   kept values are scaled by 1/(1 − p) (rounded to f32).
// The threshold is computed on the host in f64 (dropoutThreshold) and baked in as a u32; the
// step is read from globals[0], so one pipeline serves every step, and the seed and the size from
// the sizes uniform, so one pipeline serves every layer (each its own seed) and every length. One
// invocation per element, or per 4 elements when the size is a multiple of 4.
//
// The kernel always applies the mask: for evaluation the plan leaves dropout out (or uses
// p = 0, which generates a plain copy that binds no `globals`). Dropout is its own backward
// (same seed, same step).
import { dropoutThreshold } from '../../compiler/ir/dropout.ts';
import { SIZES_UNIFORM } from '../../compiler/lower/kernels.ts';
import { checkOutput, declare, f32, fail, fmt, grid, numel, operand, u32, widthFor } from './common.ts';
import type { OpKernelGenOf, OpKernelTable } from './types.ts';

/** The PCG hash in WGSL (runtime/cpu/rng.ts has the same text and the JS twin). */
export const PCG_WGSL = `fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}`;

/** pcg on four lanes at once. */
export const PCG4_WGSL = `fn pcg4(v: vec4<u32>) -> vec4<u32> {
  let state = v * 747796405u + vec4<u32>(2891336453u);
  let word = ((state >> ((state >> vec4<u32>(28u)) + vec4<u32>(4u))) ^ state) * 277803737u;
  return (word >> vec4<u32>(22u)) ^ word;
}`;

/** dropout: x [n] → out [n]. */
export const dropout: OpKernelGenOf<'dropout'> = (req, caps) => {
  const shape = operand(req, 0, 'x', 'f32').shape;
  const { p, seed } = req.attrs;
  if (!(p >= 0 && p < 1)) fail(req.op, `p must be in [0, 1), got ${p}`);
  checkOutput(req, shape);
  const n = numel(shape);
  if (n > 0xffffffff) fail(req.op, `${n} elements do not fit the u32 element index of the hash`);
  const g = grid(req.op, n, caps);
  if (p === 0) {
    const d = declare([
      { name: 'in0', variable: 'x', type: 'f32' },
      { name: 'out', variable: 'out', type: 'f32' },
    ]);
    const wgsl = `// dropout with p = 0: x ${fmt(shape)} → out = x
${d.wgsl}
${g.entry}
${g.prologue}
  out[i] = x[i];
}
`;
    return { label: `dropout_copy_${n}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
  }
  // Four elements per invocation when n % 4 = 0 (the hash of a vec4<u32> is the same per lane).
  const w = widthFor(n);
  const gv = grid(req.op, n / w, caps, { count: 'sizes.x' });
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const d = declare([
    { name: 'in0', variable: 'x', type: T },
    { name: 'out', variable: 'out', type: T },
    { name: 'globals', variable: 'globals', type: 'u32' },
  ]);
  const body =
    w === 4
      ? `  let e = i * 4u + vec4<u32>(0u, 1u, 2u, 3u); // element indices
  out[i] = select(vec4<f32>(0.0), x[i] * SCALE, pcg4(e + key) >= vec4<u32>(THRESHOLD));`
      : '  out[i] = select(0.0, x[i] * SCALE, pcg(i + key) >= THRESHOLD);';
  const wgsl = `// dropout: x → out, p = ${p}, ${w === 4 ? 'four elements' : 'one element'} per invocation; the step is globals[0], the seed sizes.y
const THRESHOLD = ${u32(dropoutThreshold(p))}; // floor(p·2³²), computed in f64
const SCALE = ${f32(1 / (1 - p))};
${d.wgsl}
${SIZES_UNIFORM(d.bindings.length)}
${PCG_WGSL}
${w === 4 ? PCG4_WGSL : ''}
${gv.entry}
${gv.prologue}
  let key = pcg(sizes.y + pcg(globals[0]));
${body}
}
`;
  return { label: `dropout_w${w}_p${p}`, wgsl, bindings: d.bindings, workgroups: gv.workgroups, sizes: [n / w, seed >>> 0] };
};

export const DROPOUT_KERNELS = { dropout } satisfies OpKernelTable;
