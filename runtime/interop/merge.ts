// Folding a fine-tune into its base weights: W' = W + s·B·A for a [out, in] Linear, and
// W' = W + s·(B·A)ᵀ for a Conv1D stored [in, out]; IA³ scales W's output features and the bias
// by l (its input features with `feedforward`, the bias unchanged), after any LoRA of the same
// module, as the IA³ rewrite wraps it; weights of `train` modules (or a full
// fine-tune) replace the base's. Every tensor of the base file comes out under its own name,
// in its own dtype (merged ones rounded once from a float64 sum); nothing else changes, so the
// result loads wherever the base did. Prompts, prefixes and bottleneck adapters add computation
// that no base weight holds: a checkpoint with any of them is refused, pointing to export.
import { loraScale } from '../../compiler/peft/lora.ts';
import { lowRankStream } from '../init.ts';
import { loraFactors, subtractFactors, weightOutIn } from '../lora-init.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { firstNonFinite, getFloat32, type ReadTensor, type SafetensorsFile, type WriteTensor } from '../io/safetensors.ts';
import { float32ToHalf } from '../io/half.ts';
import { fmtShape, InteropError, listSome } from './errors.ts';
import { linearLayout } from './graph-info.ts';
import type { BaseLoadPlan } from './hf-weights.ts';

export interface MergeResult {
  tensors: Map<string, WriteTensor>;
  /** File names of the weights LoRA was folded into. */
  merged: string[];
  /** File names replaced by trained weights (added when the base lacked them). */
  replaced: string[];
}

/** Checks that `adapter` (path → values) holds exactly the kept trainable parameters of `g`. */
export function checkAdapterValues(g: Graph, adapter: Map<string, { shape: readonly number[] }>, where: string): void {
  const kept = g.params.filter((p) => p.partition === 'trainable' && !p.transient);
  const problems: string[] = [];
  const missing = kept.filter((p) => !adapter.has(p.path)).map((p) => p.path);
  const known = new Set(kept.map((p) => p.path));
  const extra = [...adapter.keys()].filter((k) => !known.has(k));
  if (missing.length) problems.push(`it lacks ${missing.length} trainable parameter(s) of the model: ${listSome(missing)}`);
  if (extra.length) problems.push(`it holds ${extra.length} tensor(s) the model does not train: ${listSome(extra)}`);
  for (const p of kept) {
    const t = adapter.get(p.path);
    if (t && (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))) problems.push(`\`${p.path}\` is ${fmtShape(t.shape)}, the model's ${fmtShape(p.shape)}`);
  }
  if (problems.length) throw InteropError.of(`${where} does not fit the .peft model`, problems);
}

/** `seed`: the model seed the fine-tune was initialised with (`init = pissa(niter = …)` draws from it). */
export function mergeIntoBase(g: Graph, plan: BaseLoadPlan, base: SafetensorsFile, adapter: Map<string, Float32Array>, seed?: number): MergeResult {
  const kept = g.params.filter((p) => p.partition === 'trainable' && !p.transient);
  const unmergeable = kept.filter((p) => p.method && !['lora', 'ia3', 'train'].includes(p.method.name));
  if (unmergeable.length) {
    const methods = [...new Set(unmergeable.map((p) => p.method!.name))].join(', ');
    throw new InteropError(`merge folds LoRA and IA³ (and trained base weights) into the base; this fine-tune also has ${methods}, which no base weight can hold: export it with \`peftc export --format hf-peft\` instead`);
  }
  const fileName = new Map(plan.assign.map((a) => [a.path, a.name]));
  const out = new Map<string, WriteTensor>();
  for (const [name, t] of base.tensors) out.set(name, { dtype: t.dtype, shape: t.shape, data: t.data });
  const res: MergeResult = { tensors: out, merged: [], replaced: [] };
  /** Merged values by file name, before they are written in the base's dtype. */
  const values = new Map<string, Float32Array>();
  const current = (name: string) => values.get(name) ?? Float32Array.from(getFloat32(base, name));
  const loraMods = [...new Set(kept.filter((p) => p.method?.name === 'lora').map((p) => p.method!.module))];
  for (const m of loraMods) {
    if (g.params.some((p) => p.path === `${m}.lora_embedding_A`)) {
      values.set(...mergeEmbeddingLora(g, m, adapter, fileName, current));
      continue;
    }
    const A = g.params.find((p) => p.path === `${m}.lora_A.weight`)!;
    const name = fileName.get(`${m}.weight`);
    if (!name) throw new InteropError(`the base weights lack \`${m}.weight\`, which LoRA adapts`);
    const w = current(name);
    const [r, fin] = A.shape as [number, number];
    const a = adapter.get(A.path)!;
    const b = adapter.get(`${m}.lora_B.weight`)!;
    const fout = b.length / r;
    const s = loraScale(A.method!.settings);
    // rank = auto(…) (AdaLoRA): B·diag(E)·A, pruned singular values being zero; rank =
    // dynamic(…) (DyLoRA) merges at its full rank, where the scale is alpha/max.
    const e = adapter.get(`${m}.lora_E.weight`);
    const inOut = linearLayout(g, m) === 'in_out';
    // PiSSA / OLoRA trained on the residual of the base: W − s·B₀·A₀ + s·B·A.
    if (A.init.kind === 'pissa' || A.init.kind === 'olora') {
      const W = weightOutIn(w, fout, fin, A.init.layout);
      if (A.init.niter !== undefined && seed === undefined) throw new InteropError(`\`${m}\` has init = pissa(niter = ${A.init.niter}): its residual base comes from the seed it was trained with, which merge was not given`);
      const rng = A.init.niter === undefined ? undefined : lowRankStream(seed!, A.init.weight);
      subtractFactors(w, W, loraFactors(A.init, W, r, s, rng), r, s, A.init.layout);
    }
    for (let o = 0; o < fout; o++) {
      for (let i = 0; i < fin; i++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += b[o * r + k]! * (e ? e[k]! : 1) * a[k * fin + i]!;
        const at = inOut ? i * fout + o : o * fin + i;
        w[at] = w[at]! + s * acc;
      }
    }
    const mag = adapter.get(`${m}.lora_magnitude_vector`);
    if (mag) applyMagnitude(w, mag, inOut);
    values.set(name, w);
  }
  for (const p of kept.filter((x) => x.method?.name === 'ia3')) mergeIa3(g, p.method!.module, p.method!.settings.feedforward === true, adapter.get(p.path)!, fileName, current, values);
  for (const [name, w] of values) {
    out.set(name, like(base.tensors.get(name)!, w));
    res.merged.push(name);
  }
  for (const p of kept.filter((x) => x.origin === 'base')) {
    const name = fileName.get(p.path) ?? plan.names.toHf(p.path);
    const orig = base.tensors.get(name);
    out.set(name, orig ? like(orig, adapter.get(p.path)!) : { dtype: 'F32', shape: p.shape, data: adapter.get(p.path)! });
    res.replaced.push(name);
  }
  return res;
}

/**
 * DoRA's merge, as PEFT's: W + s·B·A (already in `w`) with each output feature's weights scaled
 * to its magnitude, W' = (m / ‖W + s·B·A‖) ⊙ (W + s·B·A), rows of [out, in] or columns of [in, out].
 */
function applyMagnitude(w: Float32Array, mag: Float32Array, inOut: boolean): void {
  const fout = mag.length;
  const fin = w.length / fout;
  const at = (o: number, i: number) => (inOut ? i * fout + o : o * fin + i);
  for (let o = 0; o < fout; o++) {
    let s = 0;
    for (let i = 0; i < fin; i++) s += w[at(o, i)]! * w[at(o, i)]!;
    const k = mag[o]! / Math.sqrt(s);
    for (let i = 0; i < fin; i++) w[at(o, i)] = w[at(o, i)]! * k;
  }
}

/**
 * An embedding's table with its LoRA folded in, as PEFT's lora.Embedding merges:
 * table[v][d] += s · Σ_k B[d][k] · A[k][v]. A head tied to the table would change with it (PEFT
 * merges into the one shared tensor), so a tied table is refused: the merged model would differ.
 */
function mergeEmbeddingLora(
  g: Graph, m: string, adapter: Map<string, Float32Array>, fileName: Map<string, string>, current: (name: string) => Float32Array,
): [string, Float32Array] {
  const A = g.params.find((p) => p.path === `${m}.lora_embedding_A`)!;
  if (linearLayout(g, m)) throw new InteropError(`LoRA on \`${m}\` cannot be merged: the output head is tied to its table, and merging would change the head too (unmerged, the head reads the base table); export it with \`peftc export --format hf-peft\` instead`);
  const name = fileName.get(`${m}.weight`);
  if (!name) throw new InteropError(`the base weights lack \`${m}.weight\`, which LoRA adapts`);
  const w = current(name);
  const [r, num] = A.shape as [number, number];
  const a = adapter.get(A.path)!;
  const b = adapter.get(`${m}.lora_embedding_B`)!;
  const dim = b.length / r;
  const s = loraScale(A.method!.settings);
  for (let v = 0; v < num; v++) {
    for (let d = 0; d < dim; d++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += b[d * r + k]! * a[k * num + v]!;
      w[v * dim + d] = w[v * dim + d]! + s * acc;
    }
  }
  // DoRA (DoraEmbeddingVariant.merge): each column of the table [num, dim] scaled to its magnitude.
  const mag = adapter.get(`${m}.lora_magnitude_vector`);
  if (mag) applyMagnitude(w, mag, true);
  return [name, w];
}

/** W (and b, for an output scaling) of `module` with IA³'s vector `l` folded in, into `values`. */
function mergeIa3(
  g: Graph, module: string, feedforward: boolean, l: Float32Array, fileName: Map<string, string>,
  current: (name: string) => Float32Array, values: Map<string, Float32Array>,
): void {
  const name = fileName.get(`${module}.weight`);
  if (!name) throw new InteropError(`the base weights lack \`${module}.weight\`, which IA³ scales`);
  const w = current(name);
  const inOut = linearLayout(g, module) === 'in_out';
  const n = l.length;
  const other = w.length / n;
  // l runs along W's columns when it scales the out features of [in, out] or the in features of [out, in].
  const alongColumns = inOut !== feedforward;
  for (let k = 0; k < w.length; k++) w[k] = w[k]! * l[alongColumns ? k % n : Math.floor(k / other)]!;
  values.set(name, w);
  const bias = fileName.get(`${module}.bias`);
  if (!feedforward && bias) {
    const b = current(bias);
    for (let o = 0; o < n; o++) b[o] = b[o]! * l[o]!;
    values.set(bias, b);
  }
}

/** Values in the dtype and shape of the tensor they replace. */
function like(t: ReadTensor, values: Float32Array): WriteTensor {
  if (t.dtype === 'F64') return { dtype: 'F64', shape: t.shape, data: Float64Array.from(values) };
  return { dtype: t.dtype === 'F16' || t.dtype === 'BF16' ? t.dtype : 'F32', shape: t.shape, data: values };
}

/**
 * Refuses a merge whose result is not finite: finite inputs can still overflow (a large LoRA
 * product, or rounding to F16's ±65504). Checks the merged and replaced tensors as they will be
 * written (in their file dtype).
 */
export function checkMergedFinite(res: MergeResult, outPath: string): void {
  for (const name of [...res.merged, ...res.replaced]) {
    const t = res.tensors.get(name)!;
    const dtype = t.dtype ?? 'F32';
    const data = (dtype === 'F16' || dtype === 'BF16') && t.data instanceof Float32Array ? float32ToHalf(t.data, dtype) : t.data;
    const at = firstNonFinite(dtype, data);
    if (at >= 0) throw new InteropError(`${outPath}: merged tensor \`${name}\` is not finite at index ${at} (in ${dtype}); the fine-tune's weights overflow the base's (pass --allow-nonfinite to write it anyway)`);
  }
}
