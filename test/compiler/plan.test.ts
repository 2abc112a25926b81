// The planner (compiler/lower/plan.ts) as a pure function: memory layout, liveness reuse,
// fusions, limits and the text forms — with stand-in op kernels over the WGSL backend's
// products, pairs, loss and optimizer (the WGSL of the real op kernels is checked on the
// adapters by test/webgpu/plan-*.test.ts), and with a backend that generates no code at all.
import { describe, expect, it } from 'vitest';
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { ALIGN } from '../../compiler/lower/memory.ts';
import { FUSION_KINDS as FUSIONS } from '../../compiler/lower/fuse.ts';
import { formatPlan, formatWgsl } from '../../compiler/lower/format.ts';
import { buildPlan, type KernelBackend, type Plan, PlanError, type PlanOptions } from '../../compiler/lower/plan.ts';
import type { BindingName, Kernel } from '../../compiler/lower/kernels.ts';
import type { MatmulSpec } from '../../compiler/lower/matmul-spec.ts';
import { wgslBackend } from '../../codegen/wgsl/backend.ts';
import { DEFAULT_CAPS } from '../../codegen/wgsl/caps.ts';
import type { GpuCaps, OpKernel, OpKernelRequest } from '../../codegen/wgsl/types.ts';
import { graphOf, graphOfText, tinySet, TINY } from '../helpers.ts';

/** WebGPU's default limits, which every adapter offers. */
const LIMITS: GpuCaps['limits'] = DEFAULT_CAPS.limits;
const CAPS: GpuCaps = { isSoftware: true, features: [], limits: LIMITS };

/**
 * A stand-in generator: the request as a comment, operands then `out` (and `globals` for dropout).
 * As in the registry, operands that only give a shape are not bound.
 */
const SHAPE_ONLY: Record<string, number> = { sum_to: 1, expand_batch: 1, positions: 0, pool_grad: 1 };
const stub = (req: OpKernelRequest): OpKernel => ({
  label: `${req.op}_stub`,
  wgsl: `// ${req.op} ${JSON.stringify(req)}`,
  bindings: [
    ...req.inputs.flatMap((_, i) => (SHAPE_ONLY[req.op] === i ? [] : [`in${i}` as const])),
    'out',
    ...(req.op === 'dropout' && req.attrs.p !== 0 ? ['globals' as const] : []),
  ],
  workgroups: [1, 1, 1],
});

const plan = (t: TrainingGraph, o: Partial<PlanOptions> = {}, caps = CAPS, dims = { B: 2, T: 8 }): Plan =>
  buildPlan(t, dims, { ...wgslBackend(caps), op: stub }, o);
const tg = (name: string, extra: string[] = [], full = false) => buildTrainingGraph(graphOf(name, [...tinySet(name), ...extra], full));

describe('plan: memory', () => {
  const t = tg('gpt2-lora.peft');
  const p = plan(t);

  it('puts the frozen parameters in one buffer and the trainable ones in another, 256-aligned', () => {
    const byKind = (k: string) => p.buffers.filter((b) => b.kind === k);
    expect(byKind('frozen')).toHaveLength(1);
    expect(byKind('trainable')).toHaveLength(1);
    expect(byKind('grads')).toHaveLength(1);
    const g = t.graph;
    expect(p.frozen.slots.map((s) => s.path)).toEqual(g.params.filter((x) => x.partition === 'frozen').map((x) => x.path));
    expect(p.trainable.slots.map((s) => s.path)).toEqual(g.params.filter((x) => x.partition === 'trainable').map((x) => x.path));
    for (const s of [...p.frozen.slots, ...p.trainable.slots]) expect(s.offset % ALIGN).toBe(0);
    for (const s of p.steps) if (s.kind === 'dispatch') for (const r of s.bindings) expect(r.offset % ALIGN).toBe(0);
  });

  it('gives frozen parameters no gradient memory: the gradient arena has the trainable layout', () => {
    expect(p.buffers[p.ids.grads]!.bytes).toBe(p.trainable.bytes);
    expect(p.stats.gradBytes).toBe(p.stats.trainableBytes);
    expect(p.grads.map((x) => x.path).sort()).toEqual(t.grads.map((x) => x.path).sort());
    for (const g of p.grads) {
      const slot = p.trainable.slots.find((s) => s.path === g.path)!;
      expect(g.region).toEqual({ buffer: p.ids.grads, offset: slot.offset, bytes: slot.bytes });
    }
    // Each gradient node's kernel writes straight into its slot: no copies.
    expect(p.steps.filter((s) => s.kind === 'copy' && s.phase !== 'optimizer')).toEqual([]);
    for (const g of p.grads) {
      const writer = p.steps.find((s) => s.kind === 'dispatch' && s.nodes.includes(g.node));
      expect(writer?.kind === 'dispatch' && writer.writes.map((i) => writer.bindings[i])).toEqual([g.region]);
    }
  });

  it('reuses activation buffers by liveness: peak bytes well below one buffer per value', () => {
    const none = plan(t, { reuse: false });
    expect(none.stats.activationPeakBytes).toBe(none.stats.activationNoReuseBytes);
    expect(p.stats.activationPeakBytes).toBeLessThan(0.5 * none.stats.activationPeakBytes);
    expect(p.stats.activationPeakBytes).toBeGreaterThanOrEqual(p.stats.activationLiveMaxBytes);
    expect(p.buffers.filter((b) => b.kind === 'activation').length).toBeLessThan(none.buffers.filter((b) => b.kind === 'activation').length);
  });

  it('never overwrites a value before its last reader', () => {
    for (const [name, dropout] of [['gpt2-lora.peft', 'train'], ['gpt2-lora.peft', 'eval'], ['gpt2-prefix.peft', 'eval'], ['llama-lora.peft', 'train'], ['bert-adapter.peft', 'eval']] as const) {
      const q = plan(tg(name), { dropout });
      const nodes = tg(name).graph.nodes;
      // For every pooled value: no other dispatch writes an overlapping range between its writer and its last reader.
      const writeStep = new Map<number, number>();
      const lastRead = new Map<number, number>();
      q.steps.forEach((s, i) => {
        for (const n of s.nodes) {
          writeStep.set(n, i); // a group of several dispatches has its result after the last
          for (const x of nodes[n]!.inputs) {
            // Reading a dropout alias or a folded scale reads its root's memory.
            let r = x;
            while (!q.steps.some((st) => st.nodes.includes(r)) && ['dropout', 'scale'].includes(nodes[r]!.op)) r = nodes[r]!.inputs[0]!;
            lastRead.set(r, i);
          }
        }
      });
      for (const [n, w] of writeStep) {
        const r = q.values[n];
        if (!r || !q.buffers[r.buffer] || q.buffers[r.buffer]!.kind !== 'activation') continue;
        const end = lastRead.get(n) ?? w;
        for (let i = w + 1; i < end; i++) {
          const s = q.steps[i]!;
          const written = s.kind === 'dispatch' ? s.writes.map((j) => s.bindings[j]!) : [s.dst];
          for (const o of written) {
            const clash = o.buffer === r.buffer && o.offset < r.offset + r.bytes && r.offset < o.offset + o.bytes;
            expect(clash, `${name}: step ${i} (${s.label}) overwrites %${n} before step ${end} reads it`).toBe(false);
          }
        }
      }
    }
  });

  it("LoRA's trainable state (parameters, gradients, Adam m and v) is a small fraction of a full fine-tune's", () => {
    const set = ['vocab_size=256,n_positions=64,n_embd=128,n_layer=4,n_head=4'];
    const lora = plan(buildTrainingGraph(graphOf('gpt2-lora.peft', set)));
    const full = plan(buildTrainingGraph(graphOf('gpt2-lora.peft', set, true)));
    const state = (q: Plan) => q.stats.trainableBytes + q.stats.gradBytes + q.stats.optimizerStateBytes;
    expect(state(lora)).toBeLessThan(0.05 * state(full));
    expect(full.stats.frozenBytes).toBeLessThanOrEqual(ALIGN); // nothing frozen
    expect(state(lora)).toBe(4 * lora.stats.trainableBytes);
  });

  it('lays out the decay mask as runtime/optim.ts decides weight decay: rank ≥ 2 only', () => {
    const q = plan(tg('bert-adapter.peft'));
    for (const s of q.trainable.slots) expect(s.decay).toBe(s.shape.length >= 2);
    expect(q.trainable.slots.some((s) => s.decay) && q.trainable.slots.some((s) => !s.decay)).toBe(true);
  });

  it('in evaluation, dropout is no kernel: its value is its input, which lives as long as both', () => {
    const ev = plan(t, { dropout: 'eval' });
    const ops = (q: Plan) => q.steps.flatMap((s) => s.nodes.map((n) => t.graph.nodes[n]!.op));
    expect(ops(p).filter((o) => o === 'dropout').length).toBeGreaterThan(0);
    expect(ops(ev).filter((o) => o === 'dropout')).toEqual([]);
    for (const n of t.graph.nodes) if (n.op === 'dropout' && ev.values[n.id]) expect(ev.values[n.id]).toEqual(ev.values[n.inputs[0]!]);
    expect(ev.dropout).toBe('eval');
    expect(ev.steps.length).toBeLessThan(p.steps.length);
  });

  it('a forward-only plan has no gradient arena, backward or optimizer', () => {
    const q = plan(t, { backward: false });
    expect(q.training).toBe(false);
    expect(q.steps.every((s) => s.phase === 'forward')).toBe(true);
    expect(q.stats.gradBytes).toBe(0);
    expect(q.buffers.some((b) => b.kind === 'optim-state')).toBe(false);
  });
});

describe('plan: fusions', () => {
  const kinds = (q: Plan) => q.fusions.map((f) => f.kind);

  it("LoRA's scale folds into the lora_B matmul (alpha), cross-entropy and its gradient are one kernel", () => {
    const t = tg('gpt2-lora.peft');
    const q = plan(t);
    expect(kinds(q).filter((k) => k === 'scale_alpha')).toHaveLength(2); // one per layer
    expect(kinds(q).filter((k) => k === 'cross_entropy')).toHaveLength(1);
    const ce = q.fusions.find((f) => f.kind === 'cross_entropy')!;
    expect(ce.nodes.map((n) => t.graph.nodes[n]!.op)).toEqual(['cross_entropy', 'cross_entropy_grad']);
    const lora = q.steps.find((s) => s.kind === 'dispatch' && s.nodes.some((n) => t.graph.nodes[n]!.op === 'scale'));
    expect(lora?.kind === 'dispatch' && q.shaders[lora.shader]!.wgsl).toMatch(/2\.0 \* acc/);
    // Without fusion: one more dispatch per matmul fusion; the cross-entropy pair is three (per-row
    // losses, their sum, the gradient) instead of two (the fused kernel and the sum); q, k, v's
    // pad+pad+add+pad+add become 2 concats.
    const plain = plan(t, { fuse: false });
    expect(plain.fusions).toEqual([]);
    // sum_of_products saves the add and one of its two matmuls; residual the add and, in
    // training, the dropout between ([product, dropout, add]).
    const saved = (f: Plan['fusions'][number]) =>
      f.kind === 'pad_concat' ? f.nodes.length - 2 : f.kind === 'sum_of_products' ? 2 : f.kind === 'residual' ? f.nodes.length - 1 : 1;
    expect(plain.steps.length - q.steps.length).toBe(q.fusions.reduce((a, f) => a + saved(f), 0));
    expect(kinds(q).filter((k) => k === 'pad_concat')).toHaveLength(2); // one per layer
    const concat = q.fusions.find((f) => f.kind === 'pad_concat')!;
    expect(concat.nodes.map((n) => t.graph.nodes[n]!.op).sort()).toEqual(['add', 'add', 'pad', 'pad', 'pad']);
  });

  it("LoRA's adds become one kernel computing both products (or, on hardware, the second accumulating)", () => {
    const t = tg('gpt2-lora.peft');
    const nodes = t.graph.nodes;
    const q = plan(t);
    // Per layer: base + scale·x·A·B forward; dy·Wᵀ + (scale·dy·B)·A backward (layer 1 only: layer 0's input needs no gradient).
    const sums = q.fusions.filter((f) => f.kind === 'sum_of_products');
    expect(sums).toHaveLength(3);
    for (const f of sums) {
      const sum = f.nodes.at(-1)!;
      expect(nodes[sum]!.op).toBe('add');
      expect(f.nodes.filter((n) => nodes[n]!.op === 'linear')).toHaveLength(2);
      const steps = q.steps.filter((s) => s.kind === 'dispatch' && s.nodes.includes(sum));
      expect(steps).toHaveLength(1);
      const step = steps[0]!;
      // The second product (K = the rank, 8 in the tiny model) binds a2 and b2 before c.
      expect(step.kind === 'dispatch' && q.shaders[step.shader]!.wgsl).toMatch(/const K2 = 8u;/);
      expect(step.kind === 'dispatch' && step.bindings[step.writes[0]!]).toEqual(q.values[sum]);
    }
    // The tiled variant has no second product: the main product, then the second accumulating.
    const hw = plan(t, {}, { ...CAPS, isSoftware: false });
    for (const f of hw.fusions.filter((x) => x.kind === 'sum_of_products')) {
      const steps = hw.steps.filter((s) => s.kind === 'dispatch' && s.nodes.includes(f.nodes.at(-1)!));
      expect(steps).toHaveLength(2);
      expect(steps.map((s) => s.kind === 'dispatch' && s.bindings[s.writes[0]!])).toEqual([hw.values[f.nodes.at(-1)!], hw.values[f.nodes.at(-1)!]]);
    }
    expect(plan(t, { fuse: FUSIONS.filter((k) => k !== 'sum_of_products') }).steps.length - q.steps.length).toBe(sums.length);
  });

  it("without sum_of_products, LoRA's adds become matmuls accumulating into the other operand; its backward scale folds into both gradient products", () => {
    const t = tg('gpt2-lora.peft');
    const nodes = t.graph.nodes;
    const q = plan(t, { fuse: FUSIONS.filter((k) => k !== 'sum_of_products') });
    // Per layer: base + scale·x·A·B forward; dy·Wᵀ + (scale·dy·B)·A backward (layer 1 only: layer 0's input needs no gradient).
    const acc = q.fusions.filter((f) => f.kind === 'accumulate');
    expect(acc).toHaveLength(3);
    for (const f of acc) {
      const [into, b, sum] = f.nodes as [number, number, number];
      expect(nodes[sum]!.op).toBe('add');
      expect(nodes[sum]!.inputs).toContain(into);
      expect(q.values[sum]).toEqual(q.values[into]); // the add's value is its operand's memory
      const step = q.steps.find((s) => s.kind === 'dispatch' && s.nodes.includes(sum))!;
      expect(step.kind === 'dispatch' && step.nodes.map((n) => nodes[n]!.op)).toEqual(nodes[b]!.op === 'scale' ? ['linear', 'scale', 'add'] : ['linear', 'add']);
      expect(step.kind === 'dispatch' && q.shaders[step.shader]!.wgsl).toMatch(/\+=/);
      expect(step.kind === 'dispatch' && step.bindings[step.writes[0]!]).toEqual(q.values[into]);
    }
    const folds = q.fusions.filter((f) => f.kind === 'scale_fold');
    expect(folds).toHaveLength(2); // one per layer
    for (const f of folds) {
      const s = f.nodes[0]!;
      expect(q.values[s]).toBeNull();
      expect(q.steps.some((st) => st.nodes.includes(s))).toBe(false);
      const readers = q.steps.filter((st) => st.kind === 'dispatch' && st.nodes.some((n) => nodes[n]!.inputs.includes(s)));
      expect(readers).toHaveLength(2); // lora_B's weight gradient and the gradient through it
      for (const r of readers) {
        expect(r.kind === 'dispatch' && q.shaders[r.shader]!.wgsl).toMatch(/2\.0 \* acc/);
        expect(r.kind === 'dispatch' && r.bindings).toContainEqual(q.values[nodes[s]!.inputs[0]!]);
      }
    }
    // Each saves one dispatch (counted with residual off: it takes the adds accumulate leaves);
    // full fine-tuning has neither (no LoRA branch to add or scale).
    const some = FUSIONS.filter((k) => k !== 'sum_of_products' && k !== 'residual');
    const without = plan(t, { fuse: some.filter((k) => k !== 'accumulate' && k !== 'scale_fold') });
    expect(without.steps.length - plan(t, { fuse: some }).steps.length).toBe(acc.length + folds.length);
    // Without accumulate, residual takes LoRA's adds: the same dispatches, the sum in a value of its own.
    const residual = plan(t, { fuse: FUSIONS.filter((k) => k !== 'sum_of_products' && k !== 'accumulate') });
    expect(residual.steps.length).toBe(q.steps.length);
    for (const f of acc) expect(residual.fusions).toContainEqual({ kind: 'residual', nodes: f.nodes.slice(1) });
    const full = plan(tg('gpt2.peft', [], true));
    expect(full.fusions.filter((f) => f.kind === 'accumulate' || f.kind === 'scale_fold' || f.kind === 'sum_of_products')).toEqual([]);
  });

  it('accumulates only into a value the add alone reads: not the residual adds', () => {
    // The residual add reads the attention block's input, which layernorm also reads.
    const q = plan(tg('gpt2-lora.peft'), { backward: false, fuse: FUSIONS.filter((k) => k !== 'sum_of_products') });
    const nodes = tg('gpt2-lora.peft').graph.nodes;
    for (const f of q.fusions.filter((x) => x.kind === 'accumulate')) {
      const into = f.nodes[0]!;
      expect(nodes.filter((n) => n.inputs.includes(into))).toHaveLength(1);
    }
    expect(q.fusions.filter((x) => x.kind === 'accumulate')).toHaveLength(2); // LoRA's add, once per layer
  });

  it("attention writes its lse for the backward; attention's dk and dv are one kernel", () => {
    const t = tg('gpt2-lora.peft');
    const nodes = t.graph.nodes;
    const q = plan(t);
    const lse = q.fusions.filter((f) => f.kind === 'attention_lse');
    const kv = q.fusions.filter((f) => f.kind === 'attention_grad_kv');
    expect(lse).toHaveLength(2); // one per layer
    expect(kv).toHaveLength(2);
    for (const f of lse) {
      const [att, l] = f.nodes as [number, number];
      expect([nodes[att]!.op, nodes[l]!.op]).toEqual(['attention', 'attention_lse']);
      const step = q.steps.find((s) => s.kind === 'dispatch' && s.nodes.includes(l))!;
      expect(step.kind === 'dispatch' && step.phase).toBe('forward');
      // out and out1: the attention's output and the lse, each at its value's region
      expect(step.kind === 'dispatch' && step.writes.map((w) => step.bindings[w])).toEqual([q.values[att], q.values[l]]);
      // the gradients read that region in the backward
      const readers = q.steps.filter((s) => s.kind === 'dispatch' && s.phase === 'backward' && s.nodes.some((n) => nodes[n]!.inputs.includes(l)));
      expect(readers).toHaveLength(2); // grad_q, and grad_k + grad_v
      for (const r of readers) expect(r.kind === 'dispatch' && r.bindings).toContainEqual(q.values[l]);
    }
    for (const f of kv) {
      expect(f.nodes.map((n) => nodes[n]!.op)).toEqual(['attention_grad_k', 'attention_grad_v']);
      const step = q.steps.find((s) => s.kind === 'dispatch' && s.nodes.includes(f.nodes[1]!))!;
      expect(step.kind === 'dispatch' && step.writes.map((w) => step.bindings[w])).toEqual(f.nodes.map((n) => q.values[n]));
    }
    // Unfused: the lse is a kernel of its own in the backward, and dk, dv two kernels.
    const plain = plan(t, { fuse: FUSIONS.filter((k) => k !== 'attention_lse' && k !== 'attention_grad_kv') });
    expect(plain.steps.length - q.steps.length).toBe(lse.length + kv.length);
    const own = plain.steps.filter((s) => s.kind === 'dispatch' && s.nodes.length === 1 && nodes[s.nodes[0]!]!.op === 'attention_lse');
    expect(own.map((s) => s.kind === 'dispatch' && s.phase)).toEqual(['backward', 'backward']);
    // With lengths (BERT's padding mask), dk + dv would bind 9 storage buffers: fused only where allowed.
    const bert = tg('bert-adapter.peft');
    expect(bert.graph.nodes.some((n) => n.op === 'attention_grad_k' && n.inputs.length === 7)).toBe(true);
    expect(kinds(plan(bert))).not.toContain('attention_grad_kv'); // WebGPU's default: 8
    const roomy = { ...CAPS, limits: { ...LIMITS, maxStorageBuffersPerShaderStage: 10 } };
    expect(kinds(plan(bert, {}, roomy)).filter((k) => k === 'attention_grad_kv')).toHaveLength(1); // layer 1 (layer 0's q, k, v need none)
    // A forward-only plan computes no lse.
    const fwd = plan(t, { backward: false });
    expect(kinds(fwd)).not.toContain('attention_lse');
    expect(fwd.steps.some((s) => s.nodes.some((n) => nodes[n]!.op === 'attention_lse'))).toBe(false);
  });

  it('bias + gelu/silu go into the matmul epilogue where the pre-activation is not needed by a backward', () => {
    const fwd = plan(tg('gpt2-lora.peft'), { backward: false });
    expect(kinds(fwd).filter((k) => k === 'bias_activation')).toHaveLength(2); // c_fc + gelu per layer
    const step = fwd.steps.find((s) => s.kind === 'dispatch' && s.label.includes('linear+gelu'));
    expect(step?.kind === 'dispatch' && fwd.shaders[step.shader]!.wgsl).toMatch(/fn act\(/);
    const llama = plan(tg('llama-lora.peft'), { backward: false });
    expect(kinds(llama).filter((k) => k === 'bias_activation')).toHaveLength(2); // gate_proj + silu
    // Training with LoRA on the top layer only: layer 0 has no backward, so its MLP fuses.
    const top = buildTrainingGraph(graphOfText('import "gpt2.peft"\npeft { lora(rank = 4) on "h.1.attn.c_attn" }', [TINY.gpt2!]));
    expect(kinds(plan(top)).filter((k) => k === 'bias_activation')).toHaveLength(1);
    // Full LoRA: every gelu_grad reads the pre-activation, so nothing fuses there.
    expect(kinds(plan(tg('gpt2-lora.peft'))).filter((k) => k === 'bias_activation')).toHaveLength(0);
  });
});

describe('plan: epilogue fusions', () => {
  const t = tg('gpt2-lora.peft');
  const nodes = t.graph.nodes;
  const q = plan(t);
  const of = (p: Plan, kind: string) => p.fusions.filter((f) => f.kind === kind);
  const dispatches = (p: Plan, node: number) => p.steps.filter((s) => s.kind === 'dispatch' && s.nodes.includes(node));
  const ops = (ids: number[]) => ids.map((n) => nodes[n]!.op);

  it("GPT-2's training step: gelu with c_fc, gelu_grad with c_proj's input gradient, the residual adds (and dropout) with c_proj, the stream's gradient with the norms' — each one dispatch", () => {
    // Two layers: c_fc + gelu and c_proj's dx + gelu_grad per layer; two residual adds per layer;
    // ln_2's gradient per layer and ln_1's except the first layer's (nothing below needs it).
    expect(of(q, 'activation_aux').map((f) => ops(f.nodes))).toEqual([['linear', 'gelu'], ['linear', 'gelu']]);
    expect(of(q, 'activation_grad').map((f) => ops(f.nodes))).toEqual([['linear', 'gelu_grad'], ['linear', 'gelu_grad']]);
    expect(of(q, 'residual').map((f) => ops(f.nodes))).toEqual(Array(4).fill(['linear', 'dropout', 'add']));
    expect(of(q, 'norm_residual').map((f) => ops(f.nodes))).toEqual(Array(3).fill(['layernorm_grad_x', 'add']));
    for (const f of [...of(q, 'activation_aux'), ...of(q, 'activation_grad'), ...of(q, 'residual'), ...of(q, 'norm_residual')]) {
      expect(dispatches(q, f.nodes.at(-1)!), `${f.kind} ${f.nodes}`).toHaveLength(1);
    }
  });

  it('binds what each epilogue reads and writes: the pre-activation, the residual, the step, a second output', () => {
    const kernel = (node: number) => {
      const [s] = dispatches(q, node);
      if (s?.kind !== 'dispatch') throw new Error(`no dispatch computes %${node}`);
      return { step: s, wgsl: q.shaders[s.shader]!.wgsl, written: s.writes.map((i) => s.bindings[i]) };
    };
    for (const f of of(q, 'activation_aux')) {
      const [pre, act] = f.nodes as [number, number];
      const k = kernel(act);
      expect(k.written).toEqual([q.values[pre], q.values[act]]); // C = the pre-activation, then the activation
      expect(k.wgsl).toMatch(/var<storage, read_write> activated/);
    }
    for (const f of of(q, 'activation_grad')) {
      const grad = f.nodes[1]!;
      const k = kernel(grad);
      expect(k.step.bindings).toContainEqual(q.values[nodes[grad]!.inputs[0]!]); // the pre-activation
      expect(k.written).toEqual([q.values[grad]]);
      expect(k.wgsl).toMatch(/v = dact\(/);
    }
    for (const f of of(q, 'residual')) {
      const sum = f.nodes.at(-1)!;
      const x = nodes[sum]!.inputs.find((i) => i !== f.nodes.at(-2))!;
      const k = kernel(sum);
      expect(k.step.bindings).toContainEqual(q.values[x]);
      expect(k.step.bindings).toContainEqual({ buffer: q.ids.globals, offset: 0, bytes: 16 }); // dropout's step
      // The dropout's seed is an open size (sizes.y), so the layers share one product shader.
      expect(k.wgsl).toMatch(/var<private> DROP_SEED: u32; \/\/ sizes\.y/);
      expect(k.step.sizes?.[1]).toBe(nodes[f.nodes[1]!]!.attrs.seed);
      expect(q.values[f.nodes[1]!]).toBeNull(); // the dropout's value exists in no memory
    }
    for (const f of of(q, 'norm_residual')) {
      const sum = f.nodes[1]!;
      const g = nodes[sum]!.inputs.find((i) => i !== f.nodes[0])!;
      const k = kernel(sum);
      expect(k.step.bindings.at(-2)).toEqual(q.values[g]);
      expect(k.written).toEqual([q.values[sum]]);
    }
  });

  it('in evaluation (dropout the identity) the residual adds still fuse, without a mask', () => {
    const ev = plan(t, { dropout: 'eval' });
    expect(of(ev, 'residual').map((f) => ops(f.nodes))).toEqual(Array(4).fill(['linear', 'add']));
    for (const f of of(ev, 'residual')) {
      const [s] = dispatches(ev, f.nodes.at(-1)!);
      expect(s?.kind === 'dispatch' && ev.shaders[s.shader]!.wgsl).not.toMatch(/DROP_SEED/);
    }
  });

  it('full fine-tuning and LLaMA, BERT: the patterns they have', () => {
    const full = plan(tg('gpt2.peft', [], true));
    for (const kind of ['activation_aux', 'activation_grad', 'residual', 'norm_residual']) expect(of(full, kind).length, kind).toBeGreaterThanOrEqual(2);
    const lt = tg('llama-lora.peft');
    const llama = plan(lt);
    const ops = (ids: number[]) => ids.map((n) => lt.graph.nodes[n]!.op);
    // SwiGLU: silu(gate)·up, whose gradient reaches silu_grad through a mul (no product), and no dropout.
    expect(of(llama, 'activation_aux').map((f) => ops(f.nodes))).toEqual([['linear', 'silu'], ['linear', 'silu']]);
    expect(of(llama, 'activation_grad')).toEqual([]);
    // The blocks' residual adds (no dropout in LLaMA), and in the backward the gradient through
    // LoRA's input dropout (p = 0.05) added to the other paths' (layer 1 only: layer 0's input needs none).
    expect(of(llama, 'residual').map((f) => ops(f.nodes)).sort()).toEqual([...Array(4).fill(['linear', 'add']), ['linear', 'dropout', 'add']]);
    expect(of(llama, 'norm_residual').map((f) => ops(f.nodes))).toEqual(Array(3).fill(['rmsnorm_grad_x', 'add']));
    const bert = plan(tg('bert-adapter.peft'));
    expect(of(bert, 'activation_aux').length).toBeGreaterThanOrEqual(2);
    expect(of(bert, 'activation_grad').length).toBeGreaterThanOrEqual(2);
    expect(of(bert, 'residual').length).toBeGreaterThanOrEqual(2);
  });

  it('LoRA on the MLP: the epilogues go with sum_of_products (one kernel), or with the second, accumulating product (tiled)', () => {
    const mlp = buildTrainingGraph(graphOfText('import "gpt2.peft"\npeft { lora(rank = 4, alpha = 8) on "h.*.mlp.*" }', [TINY.gpt2!]));
    const sw = plan(mlp);
    const sums = (p: Plan, kind: string) => of(p, kind).filter((f) => mlp.graph.nodes[f.nodes[0]!]!.op === 'add');
    expect(sums(sw, 'activation_aux')).toHaveLength(2);
    expect(sums(sw, 'activation_grad')).toHaveLength(2);
    expect(sums(sw, 'residual')).toHaveLength(2); // c_proj's sum + dropout + the residual add
    for (const f of [...sums(sw, 'activation_aux'), ...sums(sw, 'activation_grad'), ...sums(sw, 'residual')]) {
      const [s] = dispatches(sw, f.nodes.at(-1)!);
      expect(s?.kind === 'dispatch' && sw.shaders[s.shader]!.wgsl).toMatch(/const K2 = 4u;/);
    }
    const hw = plan(mlp, {}, { ...CAPS, isSoftware: false });
    for (const f of [...sums(hw, 'activation_aux'), ...sums(hw, 'activation_grad'), ...sums(hw, 'residual')]) {
      const steps = dispatches(hw, f.nodes.at(-1)!);
      expect(steps).toHaveLength(2);
      const wgsl = steps.map((s) => (s.kind === 'dispatch' ? hw.shaders[s.shader]!.wgsl : ''));
      expect(wgsl[0]).not.toMatch(/dact|activated|DROP_SEED|var<storage, read> res/); // the main product: no epilogue
      expect(wgsl[1]).toMatch(/v \+= c\[ci\];/); // the second reads the first's sum before the epilogue
    }
  });

  it('split products window the epilogue operands like C; each fusion can be switched off', () => {
    // vocab 512 × n_embd 80 under 128 KiB: the MLP's hidden [128, 320] (160 KiB) splits.
    const set = ['vocab_size=512', 'n_positions=64', 'n_embd=80', 'n_layer=1', 'n_head=2'];
    const caps = { ...CAPS, limits: { ...LIMITS, maxStorageBufferBindingSize: 128 * 1024 } };
    const split = buildPlan(buildTrainingGraph(graphOf('gpt2.peft', set, true)), { B: 2, T: 64 }, wgslBackend(caps), {});
    const aux = of(split, 'activation_aux')[0]!;
    const pieces = dispatches(split, aux.nodes[1]!).filter((s) => s.kind === 'dispatch' && split.shaders[s.shader]!.wgsl.includes('activated'));
    expect(pieces.length).toBeGreaterThan(1);
    for (const s of pieces) {
      if (s.kind !== 'dispatch') continue;
      const [c, act] = s.writes.map((i) => s.bindings[i]!);
      const [pre, value] = [split.values[aux.nodes[0]!]!, split.values[aux.nodes[1]!]!];
      expect(c!.offset - pre.offset).toBe(act!.offset - value.offset);
      expect(c!.bytes).toBe(act!.bytes);
    }
    for (const kind of ['activation_aux', 'activation_grad', 'residual', 'norm_residual'] as const) {
      const off = plan(t, { fuse: FUSIONS.filter((k) => k !== kind) });
      expect(of(off, kind), kind).toEqual([]);
      expect(off.steps.length - q.steps.length, kind).toBe(of(q, kind).reduce((a, f) => a + (kind === 'residual' ? f.nodes.length - 1 : 1), 0));
    }
  });
});

describe('plan: limits and the optimizer', () => {
  it('a tensor over maxStorageBufferBindingSize that its op cannot split is a PlanError naming it and the limit', () => {
    const error = (limit: number, dims: { B: number; T: number }): Error | undefined => {
      try {
        plan(tg('gpt2-lora.peft'), {}, { ...CAPS, limits: { ...LIMITS, maxStorageBufferBindingSize: limit } }, dims);
      } catch (e) {
        return e as Error;
      }
    };
    // The embedding's output [8, 64, 16] (32 KiB) over a 4 KiB limit: a lookup splits by table rows, not by ids.
    const act = error(4096, { B: 8, T: 64 });
    expect(act).toBeInstanceOf(PlanError);
    expect(act!.message).toMatch(
      /^tensor %2 \(embedding in wte\) \[8, 64, 16\] needs 0\.031 MiB in one binding, more than this adapter's maxStorageBufferBindingSize \(0\.004 MiB\); embedding is not split across bindings/,
    );
    // A table whose windows of 64 rows do not fit either.
    const table = error(1024, { B: 1, T: 4 });
    expect(table!.message).toMatch(/embedding table \[32, 16\]: one window of 64 rows takes 4096 bytes, more than the binding limit \(1024\)/);
  });

  it('splits the vocabulary-sized tensors of GPT-2 into windows that fit, 256-aligned', () => {
    // vocab 512 × n_embd 80: wte 160 KiB and logits [128, 512] 256 KiB over a 128 KiB limit.
    const set = ['vocab_size=512', 'n_positions=64', 'n_embd=80', 'n_layer=1', 'n_head=2'];
    const limit = 128 * 1024;
    const caps = { ...CAPS, limits: { ...LIMITS, maxStorageBufferBindingSize: limit } };
    for (const [name, full] of [['gpt2-lora.peft', false], ['gpt2.peft', true]] as const) {
      const q = buildPlan(buildTrainingGraph(graphOf(name, set, full)), { B: 2, T: 64 }, wgslBackend(caps), {});
      const dispatches = q.steps.filter((s) => s.kind === 'dispatch');
      for (const s of dispatches) {
        for (const r of s.bindings) {
          expect(r.bytes, s.label).toBeLessThanOrEqual(limit);
          expect(r.offset % 256, s.label).toBe(0);
        }
      }
      const pieces = dispatches.filter((s) => / \[piece \d+\/\d+\]$/.test(s.label)).map((s) => s.label.replace(/ \[piece.*/, ''));
      const split = [...new Set(pieces)].join('\n');
      expect(split).toMatch(/embedding/); // the lookup, by table rows
      expect(split).toMatch(/cross_entropy/); // the fused loss, by rows of the logits
      expect(split).toMatch(/linear/); // the tied head and its input gradient
      if (full) expect(split).toMatch(/embedding_grad/);
    }
  });

  it('stores a frozen arena larger than maxBufferSize in several buffers of whole slots', () => {
    const t = tg('gpt2-lora.peft');
    const one = plan(t);
    const caps = { ...CAPS, limits: { ...LIMITS, maxBufferSize: 8192 } };
    const q = plan(t, {}, caps);
    const parts = q.ids.frozenParts!;
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.reduce((a, p) => a + p.bytes, 0)).toBe(q.frozen.bytes);
    for (const p of parts) expect(q.buffers[p.buffer]!.bytes).toBeLessThanOrEqual(8192);
    // every parameter's region is its slot, relative to its part
    for (const s of q.frozen.slots) {
      const part = parts.find((p) => s.offset >= p.start && s.offset < p.start + p.bytes)!;
      expect(s.offset + s.bytes).toBeLessThanOrEqual(part.start + part.bytes);
      const node = t.graph.nodes.find((n) => n.op === 'param' && n.attrs.path === s.path)!;
      expect(q.values[node.id]).toEqual({ buffer: part.buffer, offset: s.offset - part.start, bytes: s.bytes });
    }
    expect(one.ids.frozenParts).toBeUndefined();
    expect(() => plan(t, {}, { ...CAPS, limits: { ...LIMITS, maxBufferSize: 1024 } })).toThrow(/parameter wte\.weight needs 2048 bytes, more than one buffer may hold \(1024\)/);
  });

  it('splits the optimizer into chunks when the trainable arena exceeds one binding', () => {
    const t = tg('gpt2.peft', ['n_embd=32'], true); // full fine-tune: ~120 KiB of trainable parameters
    const caps = { ...CAPS, limits: { ...LIMITS, maxStorageBufferBindingSize: 65536 } };
    const q = plan(t, {}, caps, { B: 1, T: 4 });
    const total = q.trainable.bytes;
    expect(total).toBeGreaterThan(65536);
    const updates = q.steps.filter((s) => s.phase === 'optimizer' && s.label.startsWith('adamw'));
    expect(updates.length).toBe(Math.ceil(total / 65536));
    const covered = updates.map((s) => (s.kind === 'dispatch' ? s.bindings[0]! : null)!);
    expect(covered.map((r) => r.offset)).toEqual(covered.map((_, i) => i * 65536));
    expect(covered.reduce((a, r) => a + r.bytes, 0)).toBe(total);
  });

  it('the optimizer is one update dispatch over the whole trainable arena, after the clip reduction', () => {
    const q = plan(tg('gpt2-lora.peft'));
    const opt = q.steps.slice(q.backwardEnd);
    expect(opt.map((s) => (s.kind === 'copy' ? 'copy' : q.shaders[s.shader]!.label))).toEqual([
      'optimizer_sum_squares',
      'optimizer_clip_factor',
      'copy', // the loss beside the norm: one readback per step
      'optimizer_adamw',
    ]);
    const upd = opt[3]!;
    expect(upd.kind === 'dispatch' && upd.bindings[0]).toEqual({ buffer: q.ids.trainable, offset: 0, bytes: q.trainable.bytes });
    const sgd = buildTrainingGraph(graphOf('gpt2-lora.peft', tinySet('gpt2-lora.peft')), {
      kind: 'sgd', lr: 0.1, beta1: 0, beta2: 0, eps: 0, weightDecay: 0, momentum: 0.9, clipNorm: 0,
    });
    const qs = plan(sgd);
    expect(qs.shaders.some((s) => s.label === 'optimizer_sgd' && s.wgsl.includes('MOMENTUM'))).toBe(true);
    expect(qs.buffers.filter((b) => b.kind === 'optim-state')).toHaveLength(1); // momentum only
  });
});

describe('plan: data and text', () => {
  const q = plan(tg('gpt2-lora.peft'));

  it('is plain data (survives JSON)', () => {
    expect(JSON.parse(JSON.stringify(q))).toEqual(q);
  });

  it('prints kernels in order, buffers and bytes by category', () => {
    const text = formatPlan(q);
    for (const s of ['frozen params', 'trainable params', 'gradients', 'optimizer state', 'activations peak', 'inputs', 'forward', 'backward', 'optimizer']) {
      expect(text).toContain(s);
    }
    expect(text).toMatch(/fusions: .*cross_entropy ×1/);
    expect(text).toContain('optimizer_adamw');
  });

  it('prints every distinct shader once', () => {
    const text = formatWgsl(q);
    expect(text.match(/^\/\/ ---- shader/gm)).toHaveLength(q.shaders.length);
    expect(new Set(q.shaders.map((s) => s.wgsl)).size).toBe(q.shaders.length);
  });
});


describe('plan: the kernel backend', () => {
  /** A backend that generates no code: each kernel binds what the planner offers for its kind of work. */
  const blank = (label: string, bindings: readonly BindingName[]): Kernel => ({ label, wgsl: `// ${label} ${bindings.join(' ')}`, bindings, workgroups: [1, 1, 1] });
  const inputs = (req: OpKernelRequest): BindingName[] => req.inputs.map((_, i) => `in${i}` as const);
  const stand: KernelBackend = {
    target: CAPS,
    op: (req) => ({ ...stub(req) }),
    matmul: (s: MatmulSpec) =>
      blank(`mm_${s.M}x${s.N}x${s.K}`, [
        'a', 'b',
        ...(s.second ? (['a2', 'b2'] as const) : []),
        ...(s.bias ? (['bias'] as const) : []),
        ...(s.activationGrad ? (['pre'] as const) : []),
        ...(s.residual ? (['res'] as const) : []),
        ...(s.dropout ? (['globals'] as const) : []),
        'c',
        ...(s.activationOut ? (['activated'] as const) : []),
      ]),
    secondProduct: () => true,
    pair: (fusion, req) => blank(fusion, [...inputs(req), 'out', 'out1']),
    loss: (req, grad) => blank(`loss_${grad}`, ['in0', 'in1', ...(grad ? (['out'] as const) : []), 'loss']),
    sumSquares: (bytes) => ({ kernel: blank('sumsq', ['in0', 'out']), partialBytes: 4 * Math.min(4096, Math.ceil(bytes / 16)) }),
    clipFactor: () => blank('clip', ['in0', 'out']),
    update: (cfg) => blank(cfg.kind, ['p', 'g', ...(cfg.kind === 'adamw' ? (['m', 'v'] as const) : []), 'decay', 'hyper', 'clip']),
  };

  it('plans without a code generator: a stand-in backend gets the same buffers and steps as the WGSL one', () => {
    const t = tg('gpt2-lora.peft');
    const real = plan(t, {}, CAPS);
    const other = buildPlan(t, { B: 2, T: 8 }, stand);
    expect(other.steps.map((s) => s.label)).toEqual(real.steps.map((s) => s.label));
    expect(other.steps.map((s) => s.kind === 'dispatch' && s.writes)).toEqual(real.steps.map((s) => s.kind === 'dispatch' && s.writes));
    expect(other.buffers.filter((b) => b.label !== 'optim.partials')).toEqual(real.buffers.filter((b) => b.label !== 'optim.partials'));
    expect(other.shaders.every((s) => s.wgsl.startsWith('//'))).toBe(true);
  });

  it('names a binding the backend asks for that the planner does not provide', () => {
    const greedy: KernelBackend = { ...stand, loss: (req, grad) => blank('loss', ['in0', 'in1', 'in2', ...(grad ? (['out'] as const) : []), 'loss']) };
    expect(() => buildPlan(tg('tiny-gpt-lora.peft'), { B: 2, T: 8 }, greedy)).toThrow(/kernel loss binds `in2`, which %\d+ cross_entropy\+cross_entropy_grad/);
  });
});
