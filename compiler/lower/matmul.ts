// Lowering the matrix products: linear layers and their weight gradients as MatmulSpecs
// (compiler/lower/matmul-spec.ts), with what the fusions add to them (alpha, a folded scale, an
// activation, an epilogue, a second product, f16 or quantized weights), as one dispatch or as pieces
// (split.ts) when an operand is larger than one binding.
import type { Node } from '../ir/types.ts';
import type { Group } from './fuse.ts';
import type { BindingName } from './kernels.ts';
import { type Lowering, last, whole, within } from './lowering.ts';
import type { Activation, GradActivation, MatmulSpec } from './matmul-spec.ts';
import { numel } from './memory.ts';
import { type MatmulPiece, splitMatmul } from './split.ts';
import type { Phase, Region } from './types.ts';

type Product = { spec: MatmulSpec; a: number; b: number; bias?: number };

/** A matmul group (linear, linear_grad_weight, or a sum of two products) as its dispatches. */
export function lowerMatmul(lw: Lowering, gr: Group, phase: Phase, out: Region): void {
  if (gr.products) return lowerProducts(lw, gr, phase, out);
  const m = matmulOf(lw, gr);
  if (gr.into !== undefined) m.spec.accumulate = true; // C += result: the add's other operand is there
  setEpilogue(lw, gr, m.spec);
  emitMatmul(lw, gr, phase, m, out);
}

/** linear / linear_grad_weight as C = op(A)·op(B) (+ bias), rows of every operand flattened. */
function matmulOperands(lw: Lowering, n: Node): Product {
  const [x, w, bias] = n.inputs as [number, number, number | undefined];
  const xs = lw.shapes[x]!;
  const layout = n.attrs.layout;
  if (n.op === 'linear') {
    const K = last(xs);
    const M = numel(xs) / K;
    const ws = lw.shapes[w]!;
    const spec: MatmulSpec =
      layout === 'in_out' ? { M, K, N: ws[1]!, bias: bias !== undefined } : { M, K, N: ws[0]!, transB: true, bias: bias !== undefined };
    return { spec, a: x, b: w, ...(bias !== undefined ? { bias } : {}) };
  }
  // linear_grad_weight(x, dy): in_out → xᵀ·dy [in, out]; out_in → dyᵀ·x [out, in]; K = rows.
  const dy = w;
  const ds = lw.shapes[dy]!;
  const R = numel(xs) / last(xs);
  return layout === 'in_out'
    ? { spec: { M: last(xs), N: last(ds), K: R, transA: true }, a: x, b: dy }
    : { spec: { M: last(ds), N: last(xs), K: R, transA: true }, a: dy, b: x };
}

/** A matmul group's product: operands, alpha (scale_alpha, folded scales), activation, f16 or quantized B. */
function matmulOf(lw: Lowering, gr: Group): Product {
  const m = matmulOperands(lw, lw.nodes[gr.nodes[0]!]!);
  const { spec } = m;
  if (gr.fusion === 'bias_activation') spec.activation = lw.nodes[gr.output]!.op as 'gelu' | 'relu' | 'silu';
  if (gr.fusion === 'scale_alpha') spec.alpha = lw.nodes[gr.nodes[1]!]!.attrs.factor as number;
  // Folded scales (scale_fold): read their operand, multiply alpha by their factor.
  for (const x of [m.a, m.b]) if (lw.folded.has(x)) spec.alpha = (spec.alpha ?? 1) * lw.folded.get(x)!;
  if (lw.half.has(lw.root(m.b))) spec.halfB = true;
  const q = lw.quant.get(lw.root(m.b));
  if (q) spec.quantB = q;
  return m;
}

/** A matmul group's epilogue (fuse.ts) as the fields of the MatmulSpec that computes it. */
function setEpilogue(lw: Lowering, gr: Group, spec: MatmulSpec): void {
  const ep = gr.epilogue;
  if (!ep) return;
  const op = lw.nodes[ep.nodes[0]!]!.op;
  if (ep.kind === 'activation_aux') spec.activationOut = op as Activation;
  if (ep.kind === 'activation_grad') spec.activationGrad = op.replace(/_grad$/, '') as GradActivation;
  if (ep.kind === 'residual') spec.residual = true;
  if (ep.dropout !== undefined) {
    const { p, seed } = lw.nodes[ep.dropout]!.attrs;
    spec.dropout = { p: p as number, seed: seed as number };
  }
}

/** The regions a matmul group's epilogue binds: `pre`, `res` and `activated` are laid out like C (and windowed like it). */
function epilogueRegions(lw: Lowering, gr: Group): { likeC: Partial<Record<BindingName, Region>>; other: Partial<Record<BindingName, Region>> } {
  const ep = gr.epilogue;
  const likeC: Partial<Record<BindingName, Region>> = {};
  if (ep?.kind === 'activation_aux') likeC.activated = lw.region(gr.extraOutput!);
  if (ep?.kind === 'activation_grad') likeC.pre = lw.region(ep.operand!);
  if (ep?.kind === 'residual') likeC.res = lw.region(ep.operand!);
  return { likeC, other: ep?.dropout !== undefined ? { globals: lw.globals() } : {} };
}

/**
 * A product's pieces (split.ts): where a binding is too large, and split-K where the backend asks
 * for it (K slices added into C in order); null for one dispatch.
 */
export function productPieces(lw: Lowering, gr: Group, spec: MatmulSpec): MatmulPiece[] | null {
  return lw.pieces(gr, () => splitMatmul(spec, lw.limit, lw.backend.matmulKSlice?.(spec)));
}

/** One product as dispatches: one, or pieces (compiler/lower/split.ts) when a binding is too large or K is long. */
function emitMatmul(lw: Lowering, gr: Group, phase: Phase, m: Product, out: Region, second?: { a: number; b: number }): void {
  const { spec, bias } = m;
  const a = lw.region(m.a);
  const b = lw.region(m.b);
  const biasRegion = bias !== undefined ? lw.region(bias) : undefined;
  const { likeC, other } = epilogueRegions(lw, gr);
  const extra: Partial<Record<BindingName, Region>> = second ? { a2: lw.region(second.a), b2: lw.region(second.b), ...other } : { ...other };
  const pieces = second ? null : productPieces(lw, gr, spec);
  const all = pieces ?? [{ spec, a: whole(a), b: whole(b), c: whole(out), ...(biasRegion ? { bias: whole(biasRegion) } : {}) }];
  all.forEach((p, i) => {
    const k = lw.backend.matmul(p.spec);
    const bind: Partial<Record<BindingName, Region>> = { a: within(a, p.a), b: within(b, p.b), c: within(out, p.c), ...extra };
    for (const [name, r] of Object.entries(likeC) as [BindingName, Region][]) bind[name] = within(r, p.c);
    if (p.bias) bind.bias = within(biasRegion!, p.bias);
    lw.push(gr, phase, k, bind, all.length > 1 ? ` [piece ${i + 1}/${all.length}]` : '');
  });
}

/**
 * sum_of_products: both products in one kernel (MatmulSpec.second) where the backend computes a
 * second product (regblock). Where that does not apply (the tiled variant, a product split into
 * pieces, a second B in f16), the main product is written and the second accumulates into it:
 * two dispatches, still no add. An epilogue goes with the kernel that completes the sum.
 */
function lowerProducts(lw: Lowering, gr: Group, phase: Phase, out: Region): void {
  const main = matmulOf(lw, gr.products!.main);
  const second = matmulOf(lw, gr.products!.second);
  const s = second.spec;
  const one =
    lw.backend.secondProduct() &&
    productPieces(lw, gr, main.spec) === null &&
    productPieces(lw, gr, s) === null &&
    !s.halfB && !s.quantB && !s.bias && !s.activation && s.M === main.spec.M && s.N === main.spec.N;
  if (one) {
    main.spec.second = { K: s.K, ...(s.transA ? { transA: true } : {}), ...(s.transB ? { transB: true } : {}), ...(s.alpha !== undefined ? { alpha: s.alpha } : {}) };
    setEpilogue(lw, gr, main.spec);
    return emitMatmul(lw, gr, phase, main, out, second);
  }
  // The epilogue needs the whole sum: the second, accumulating dispatch applies it.
  emitMatmul(lw, gr, phase, main, out);
  second.spec.accumulate = true;
  setEpilogue(lw, gr, second.spec);
  emitMatmul(lw, gr, phase, second, out);
}
