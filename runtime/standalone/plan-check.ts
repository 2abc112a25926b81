// plan.json, checked before anything runs: every field the executor reads has its type, every
// index points into what it indexes (a step's shader, a region's buffer, a region inside its
// buffer), the batch shape is the manifest's, and the parameter layouts hold the manifest's
// parameters. A truncated or hand-edited plan is then one line naming the field, not a
// TypeError or a GPU validation error in the middle of a step.
import { FROZEN_DTYPES, isQuantDtype } from '../../compiler/quant/dtype.ts';
import { slotBytes } from '../../compiler/quant/slot.ts';
import type { QuantDtype } from '../../compiler/quant/weight.ts';
import { JsonFields } from './fields.ts';
import { TrainerError } from './trainer-error.ts';
import type { KernelKind, PlanSet, TrainerManifest } from './manifest.ts';

const BUFFER_KINDS = ['frozen', 'trainable', 'grads', 'optim-state', 'optim-scratch', 'activation', 'input', 'globals'] as const;
const PHASES = ['forward', 'backward', 'optimizer'] as const;
/** No plan of a model a trainer could hold comes near this: a guard against absurd allocations. */
const MAX_BUFFER_BYTES = 2 ** 40;
const REQUIRED_IDS = ['frozen', 'trainable', 'grads', 'globals', 'tokens', 'targets'] as const;
const OPTIONAL_IDS = ['m', 'v', 'decay', 'hyper', 'partials', 'clip'] as const;

/** Parses plan.json and checks it against the manifest (trainer.json, already checked). */
export function parsePlanSet(text: string, where: string, manifest: TrainerManifest): PlanSet {
  const f = new JsonFields(where);
  const set = f.object(f.parse(text), 'the plan set');
  for (const kind of Object.keys(set)) f.oneOf(kind, 'a plan set\'s kind', ['hardware', 'software'] as const);
  for (const kind of manifest.target.kernels) {
    if (set[kind] === undefined) throw new TrainerError(`${where}: no ${kind} plans, though trainer.json lists them in target.kernels; rebuild the trainer with \`peftc build\``);
  }
  for (const kind of Object.keys(set) as KernelKind[]) {
    const plans = f.object(set[kind], kind);
    checkPlan(f, plans.train, `${kind}.train`, 'train', manifest);
    f.optional(plans.eval, `${kind}.eval`, (v, p) => checkPlan(f, v, p, 'eval', manifest));
  }
  return set as PlanSet;
}

function checkPlan(f: JsonFields, v: unknown, path: string, dropout: 'train' | 'eval', m: TrainerManifest): void {
  const plan = f.object(v, path);
  const dims = f.object(plan.dims, `${path}.dims`);
  if (dims.B !== m.dims.B || dims.T !== m.dims.T) f.fail(`${path}.dims`, `trainer.json's ${m.dims.B}×${m.dims.T}`, `${String(dims.B)}×${String(dims.T)}`);
  f.oneOf(plan.dropout, `${path}.dropout`, [dropout]);
  f.bool(plan.training, `${path}.training`);
  const gpu = f.object(plan.gpu, `${path}.gpu`);
  f.bool(gpu.isSoftware, `${path}.gpu.isSoftware`);
  f.int(gpu.maxStorageBufferBindingSize, `${path}.gpu.maxStorageBufferBindingSize`);
  const sizes = f.array(plan.buffers, `${path}.buffers`, (b, p) => {
    const o = f.object(b, p);
    f.string(o.label, `${p}.label`);
    f.oneOf(o.kind, `${p}.kind`, BUFFER_KINDS);
    return f.int(o.bytes, `${p}.bytes`, 0, MAX_BUFFER_BYTES);
  });
  (plan.buffers as { id: unknown }[]).forEach((b, i) => f.int(b.id, `${path}.buffers[${i}].id`, i, i));
  const region = (r: unknown, p: string): void => {
    const o = f.object(r, p);
    const buffer = f.int(o.buffer, `${p}.buffer`, 0, sizes.length - 1);
    const offset = f.int(o.offset, `${p}.offset`, 0, sizes[buffer]!);
    f.int(o.bytes, `${p}.bytes`, 0, sizes[buffer]! - offset);
  };
  const shaders = f.array(plan.shaders, `${path}.shaders`, (s, p) => {
    const o = f.object(s, p);
    f.string(o.label, `${p}.label`);
    return f.string(o.wgsl, `${p}.wgsl`);
  });
  const steps = f.array(plan.steps, `${path}.steps`, (s, p) => checkStep(f, s, p, shaders, region));
  const forwardEnd = f.int(plan.forwardEnd, `${path}.forwardEnd`, 0, steps.length);
  f.int(plan.backwardEnd, `${path}.backwardEnd`, forwardEnd, steps.length);
  checkLayout(f, plan.frozen, `${path}.frozen`, m, 'frozen');
  checkLayout(f, plan.trainable, `${path}.trainable`, m, 'trainable');
  const ids = f.object(plan.ids, `${path}.ids`);
  const id = (x: unknown, p: string) => f.int(x, p, 0, sizes.length - 1);
  for (const k of REQUIRED_IDS) id(ids[k], `${path}.ids.${k}`);
  for (const k of OPTIONAL_IDS) f.optional(ids[k], `${path}.ids.${k}`, id);
  f.optional(ids.frozenParts, `${path}.ids.frozenParts`, (parts, p) => f.array(parts, p, (part, q) => {
    const o = f.object(part, q);
    id(o.buffer, `${q}.buffer`);
    f.int(o.start, `${q}.start`);
    f.int(o.bytes, `${q}.bytes`);
  }));
  const io = f.object(plan.io, `${path}.io`);
  const shaped = (r: unknown, p: string) => {
    region(r, p);
    f.ints((r as Record<string, unknown>).shape, `${p}.shape`, 1);
  };
  for (const k of ['tokens', 'targets'] as const) shaped(io[k], `${path}.io.${k}`);
  // A plan that computes the loss over chunks of rows (lossChunkBytes) has no whole logits.
  f.optional(io.logits, `${path}.io.logits`, shaped);
  region(io.loss, `${path}.io.loss`);
  f.optional(io.extra, `${path}.io.extra`, (x, p) => f.record(x, p, (r, q) => {
    region(r, q);
    f.optional((r as Record<string, unknown>).fill, `${q}.fill`, (n, s) => f.number(n, s));
  }));
  f.array(plan.values, `${path}.values`, (r, p) => (r === null ? null : region(r, p)));
  f.array(plan.grads, `${path}.grads`, (g, p) => {
    const o = f.object(g, p);
    f.string(o.path, `${p}.path`);
    f.int(o.node, `${p}.node`);
    region(o.region, `${p}.region`);
  });
  const opt = f.object(plan.optimizer, `${path}.optimizer`);
  f.oneOf(opt.kind, `${path}.optimizer.kind`, [m.optimizer.kind]);
  f.object(plan.stats, `${path}.stats`);
}

/** A shader that reads open sizes declares the sizes uniform (bound after its storage regions). */
const SIZES_UNIFORM = /var<uniform>\s+sizes\s*:/;

function checkStep(f: JsonFields, s: unknown, p: string, shaders: string[], region: (r: unknown, p: string) => void): void {
  const o = f.object(s, p);
  const kind = f.oneOf(o.kind, `${p}.kind`, ['dispatch', 'copy'] as const);
  f.string(o.label, `${p}.label`);
  f.oneOf(o.phase, `${p}.phase`, PHASES);
  f.ints(o.nodes, `${p}.nodes`);
  if (kind === 'copy') {
    region(o.src, `${p}.src`);
    region(o.dst, `${p}.dst`);
    return;
  }
  const shader = f.int(o.shader, `${p}.shader`, 0, shaders.length - 1);
  const wg = f.ints(o.workgroups, `${p}.workgroups`, 1);
  if (wg.length !== 3) f.fail(`${p}.workgroups`, 'three counts', wg);
  const bindings = f.array(o.bindings, `${p}.bindings`, (r, q) => region(r, q));
  f.array(o.writes, `${p}.writes`, (w, q) => f.int(w, q, 0, bindings.length - 1));
  // A kernel's open sizes, bound as a uniform after the regions: present exactly when its shader
  // reads them, at most the uniform's four.
  if (SIZES_UNIFORM.test(shaders[shader]!)) {
    const sizes = f.ints(o.sizes, `${p}.sizes`);
    if (sizes.length === 0 || sizes.length > 4) f.fail(`${p}.sizes`, "one to four sizes (the shader's sizes uniform)", sizes);
  } else if (o.sizes !== undefined) f.fail(`${p}.sizes`, 'no sizes (the shader has no sizes uniform)', o.sizes);
}

/** An arena layout: slots of the manifest's parameters of that partition, in order, inside `bytes`. */
function checkLayout(f: JsonFields, v: unknown, path: string, m: TrainerManifest, partition: 'frozen' | 'trainable'): void {
  const layout = f.object(v, path);
  const bytes = f.int(layout.bytes, `${path}.bytes`, 0, MAX_BUFFER_BYTES);
  const params = m.params.filter((p) => p.partition === partition);
  // Trainable slots are f32; frozen ones f32 or the dtype trainer.json says the plans store them in.
  const recorded = m.model.frozenDtype;
  const storable = partition === 'trainable' ? (['f32'] as const) : recorded === undefined ? FROZEN_DTYPES : recorded === 'f32' ? ['f32'] : ['f32', recorded];
  const slots = f.array(layout.slots, `${path}.slots`, (s, p) => {
    const o = f.object(s, p);
    const offset = f.int(o.offset, `${p}.offset`, 0, bytes);
    f.int(o.bytes, `${p}.bytes`, 0, bytes - offset);
    const dtype = f.oneOf(o.dtype, `${p}.dtype`, storable);
    const shape = f.ints(o.shape, `${p}.shape`, 1);
    if (isQuantDtype(dtype)) checkQuantSlot(f, o, p, dtype, shape);
    f.bool(o.decay, `${p}.decay`);
    return { path: f.string(o.path, `${p}.path`), shape: shape.join('×') };
  });
  if (slots.length !== params.length) f.fail(`${path}.slots`, `the ${params.length} ${partition} parameters of trainer.json`, slots);
  slots.forEach((s, i) => {
    const want = params[i]!;
    if (s.path !== want.path || s.shape !== want.shape.join('×')) f.fail(`${path}.slots[${i}]`, `${want.path} of shape ${want.shape.join('×')} (trainer.json's params, in order)`, `${s.path} of shape ${s.shape}`);
  });
}

/** A quantized slot: a matrix with a layout, whose bytes are exactly its codes and scales (the upload writes that many). */
function checkQuantSlot(f: JsonFields, o: Record<string, unknown>, p: string, dtype: QuantDtype, shape: number[]): void {
  const layout = f.oneOf(o.layout, `${p}.layout`, ['out_in', 'in_out', 'table'] as const);
  if (shape.length !== 2) f.fail(`${p}.shape`, `a matrix's two dimensions (it is stored in ${dtype})`, shape);
  const want = slotBytes({ dtype, layout, rows: shape[0]!, cols: shape[1]! });
  if (o.bytes !== want) f.fail(`${p}.bytes`, `${want} (the codes and scales of a ${dtype} [${shape.join(', ')}] ${layout} matrix)`, o.bytes);
}
