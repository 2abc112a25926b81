// Rotary position embedding, Hugging Face LLaMA convention (rotate_half): within each head,
// feature k < hd/2 pairs with feature k + hd/2, rotated by a = p·theta^(−2k/hd), p = offset + s.
//
// One invocation per (batch, position, pair index k); it computes sin and cos of its angle once
// and rotates that pair in every head.
//
// The angle is computed without WGSL's sin/cos, which are too coarse on SwiftShader (absolute
// error 2e-4 on [−π, π], measured): the generator splits each frequency f_k (computed in f64 on
// the host, as the CPU reference does) into f_hi + f_lo with f_hi short enough that p·f_hi is
// exact in f32 for every position of the request; the kernel reduces p·f modulo π/2 with a
// three-part π/2 (Cody–Waite; q·A is exact) and evaluates sin and cos by their Taylor series on
// |r| ≤ π/4 (truncation < 1e-9). The angle's error is a few f32 ulps of r while positions stay
// below 4096, and grows like 2^(2·bits(p_max) − 24) beyond (1e-6 at 16383).
import { checkOutput, declare, f32, fail, failLimit, fmt, grid, intAttr, numAttr, operand, u32, boolAttr } from './common.ts';
import type { GpuCaps, OpKernel, OpKernelGen, OpKernelGenOf, OpKernelTable, OpRequest } from './types.ts';

const bitLength = (n: number): number => (n <= 0 ? 1 : Math.floor(Math.log2(n)) + 1);

/** x rounded to a float with `bits` significant bits. */
function roundToBits(x: number, bits: number): number {
  const ulp = 2 ** (Math.floor(Math.log2(x)) - bits + 1);
  return Math.round(x / ulp) * ulp;
}

/** sin and cos of a = p·(FH + FL) for an integer p ≥ 0 with p·FH exact (see the header). */
function sinCosWgsl(pMax: number): string {
  const qMax = Math.ceil(pMax * (2 / Math.PI)) + 1;
  const A = roundToBits(Math.PI / 2, 24 - bitLength(qMax));
  const Bp = Math.fround(Math.PI / 2 - A);
  const C = Math.fround(Math.PI / 2 - A - Bp);
  const inv = (n: number): number => 1 / [1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880, 3628800, 39916800, 479001600][n]!;
  return `const PIO2_A = ${f32(A)}; // π/2 in three parts; q·PIO2_A is exact for q ≤ ${qMax}
const PIO2_B = ${f32(Bp)};
const PIO2_C = ${f32(C)};
const TWO_OVER_PI = ${f32(2 / Math.PI)};
fn sinCos(p: f32, fh: f32, fl: f32) -> vec2<f32> {
  let ah = p * fh; // exact
  let al = p * fl;
  let q = round((ah + al) * TWO_OVER_PI);
  let r = ((ah - q * PIO2_A) - q * PIO2_B) - q * PIO2_C + al;
  let r2 = r * r;
  let s = r + r * r2 * (${f32(-inv(3))} + r2 * (${f32(inv(5))} + r2 * (${f32(-inv(7))} + r2 * (${f32(inv(9))} + r2 * ${f32(-inv(11))}))));
  let c = 1.0 + r2 * (-0.5 + r2 * (${f32(inv(4))} + r2 * (${f32(-inv(6))} + r2 * (${f32(inv(8))} + r2 * (${f32(-inv(10))} + r2 * ${f32(inv(12))})))));
  switch (u32(q) & 3u) {
    case 0u: { return vec2<f32>(s, c); }
    case 1u: { return vec2<f32>(c, -s); }
    case 2u: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}`;
}

/** rope: x [B, S, heads·hd] → out [B, S, heads·hd]. */
export const rope: OpKernelGenOf<'rope'> = (req, caps) => ropeKernel(req, caps);

/**
 * decode_rope (compiler/decode/ops.ts): rope at position offset + past[b] + s, `past` i32 [B] the
 * second operand; attr `max_position` bounds the positions (the planner's: the cache's last).
 */
export const decodeRope: OpKernelGen = (req, caps) => {
  const past = operand(req, 1, 'past', 'i32').shape;
  const B = operand(req, 0, 'x', 'f32').shape[0];
  if (past.length !== 1 || past[0] !== B) fail(req.op, `past must be [${B}], got ${fmt(past)}`);
  // Checked against decode_rope's schema already (index.ts); read as rope's attributes.
  const attrs = { heads: intAttr(req, 'heads'), theta: numAttr(req, 'theta'), inverse: boolAttr(req, 'inverse'), offset: intAttr(req, 'offset', 0) };
  return ropeKernel({ ...req, attrs }, caps, intAttr(req, 'max_position'));
};

/** rope's kernel; with `maxPosition`, each row's positions start at offset + past[b]. */
function ropeKernel(req: OpRequest<'rope'>, caps: GpuCaps, maxPosition?: number): OpKernel {
  const perRow = maxPosition !== undefined;
  const shape = operand(req, 0, 'x', 'f32').shape;
  const { heads, theta, inverse, offset = 0 } = req.attrs;
  if (shape.length !== 3) fail(req.op, `x must be [B, S, heads·hd], got ${fmt(shape)}`);
  const [B, S, D] = shape as [number, number, number];
  if (heads <= 0 || D % heads !== 0) fail(req.op, `features ${D} are not divisible by heads ${heads}`);
  const hd = D / heads;
  if (hd % 2 !== 0) fail(req.op, `head size ${hd} must be even`);
  if (!(theta > 0)) fail(req.op, `theta must be positive, got ${theta}`);
  if (offset < 0) fail(req.op, `offset must be ≥ 0, got ${offset}`);
  checkOutput(req, shape);
  const half = hd / 2;
  const pMax = perRow ? Math.max(maxPosition, offset + S - 1) : offset + Math.max(S - 1, 0);
  const hb = 24 - bitLength(pMax); // significant bits of f_hi
  if (hb < 8) failLimit(req.op, `positions up to ${pMax} are beyond what the f32 angle reduction supports (< 65536)`);
  const cases: string[] = [];
  for (let k = 0; k < half; k++) {
    const f = Math.pow(theta, (-2 * k) / hd);
    const fh = roundToBits(f, hb);
    cases.push(`    case ${u32(k)}: { fh = ${f32(fh)}; fl = ${f32(f - fh)}; }`);
  }
  const g = grid(req.op, B * S * half, caps);
  const d = declare([
    { name: 'in0', variable: 'x', type: 'f32' },
    ...(perRow ? [{ name: 'in1' as const, variable: 'past', type: 'i32' as const }] : []),
    { name: 'out', variable: 'out', type: 'f32' },
  ]);
  const wgsl = `// ${req.op}: x ${fmt(shape)} → out ${fmt(shape)}: ${heads} heads of ${hd}, positions ${offset} … ${pMax}, theta ${theta}${inverse ? ', inverse (rotates by −a)' : ''}
const S = ${u32(S)};
const H = ${u32(heads)};
const HD = ${u32(hd)};
const HALF = ${u32(half)};
const OFFSET = ${u32(offset)};
${d.wgsl}
${sinCosWgsl(pMax)}
${g.entry}
${g.prologue}
  let k = i % HALF;
  let row = i / HALF; // b·S + s
  let p = f32(OFFSET + ${perRow ? 'u32(past[row / S]) + ' : ''}row % S);
  // frequency theta^(−2k/hd) = fh + fl
  var fh = 0.0;
  var fl = 0.0;
  switch (k) {
${cases.join('\n')}
    default: {}
  }
  let sc = sinCos(p, fh, fl);
  let sn = ${inverse ? '-sc.x' : 'sc.x'};
  let cs = sc.y;
  for (var h = 0u; h < H; h++) {
    let base = row * H * HD + h * HD + k;
    let x1 = x[base];
    let x2 = x[base + HALF];
    out[base] = x1 * cs - x2 * sn;
    out[base + HALF] = x2 * cs + x1 * sn;
  }
}
`;
  return { label: `${req.op}_${B}x${S}x${D}_h${heads}${inverse ? '_inv' : ''}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
}

export const ROPE_KERNELS = { rope, decode_rope: decodeRope } satisfies OpKernelTable;
