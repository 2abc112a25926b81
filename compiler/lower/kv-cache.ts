// Lowering the decoding ops (compiler/decode/ops.ts) into a plan. kv_attention becomes two
// kernels over the key/value cache: one pair of plan buffers per attention layer, of kind
// 'kv-cache', [rows, slots, kv width] f32, that keep their contents between runs and that every
// plan of one decoder shares (the runtime binds them by label: runtime/webgpu/executor.ts).
// decode_rope gets the largest position the cache holds, which sizes its angle reduction.
// The cache's size is the plan's (PlanOptions.kvCache): a constant in every kernel; the chunk's
// batch and length are open (a uniform), so prefills of every length bucket share the pipelines.
import type { Node } from '../ir/types.ts';
import type { Group } from './fuse.ts';
import type { BindingName, OpKernelRequest } from './kernels.ts';
import type { Lowering } from './lowering.ts';
import { PlanError } from './plan-error.ts';
import type { KvAttentionSpec, KvCacheSize, KvKernel } from './kv-cache-spec.ts';
import type { Phase, Region } from './types.ts';

export type * from './kv-cache-spec.ts';

/** The ops this file lowers. */
export const DECODE_LOWERED: ReadonlySet<string> = new Set(['kv_attention', 'decode_rope']);

const OPERANDS = ['q', 'k', 'v', 'past', 'rows', 'prefix_k', 'prefix_v'];

export function lowerDecodeOp(low: Lowering, gr: Group, phase: Phase, head: Node, out: Region): void {
  const size = low.opts.kvCache;
  if (!size) throw new PlanError(`${low.label(gr)}: ${head.op} reads a key/value cache; plan it with a cache size (kvCache)`);
  if (head.op === 'decode_rope') return lowerDecodeRope(low, gr, phase, head, out, size);
  const [B, S, qd] = low.shapes[head.inputs[0]!]! as [number, number, number];
  const kvd = low.shapes[head.inputs[1]!]![2]!;
  const heads = head.attrs.heads as number;
  const spec: KvAttentionSpec = { B, S, heads, kvHeads: head.attrs.kv_heads as number, hd: qd / heads, prefix: head.attrs.prefix as number, rows: size.rows, slots: (head.attrs.prefix as number) + size.positions, prefixGiven: head.inputs.length > 5 };
  if (!low.backend.kvAttention) throw new PlanError(`${low.label(gr)}: this kernel backend has no kv_attention kernels`);
  const layer = head.attrs.layer as number;
  const bind: Record<string, Region> = { out, cache_k: cacheBuffer(low, layer, 'k', spec, kvd), cache_v: cacheBuffer(low, layer, 'v', spec, kvd) };
  head.inputs.forEach((x, i) => (bind[OPERANDS[i]!] = low.region(x)));
  const { append, attend } = low.backend.kvAttention(spec);
  dispatch(low, gr, phase, append, bind, ['cache_k', 'cache_v']);
  dispatch(low, gr, phase, attend, bind, ['out']);
}

/** decode_rope as rope's kernel with per-row positions, up to the last the cache holds. */
function lowerDecodeRope(low: Lowering, gr: Group, phase: Phase, head: Node, out: Region, size: KvCacheSize): void {
  const offset = (head.attrs.offset as number | undefined) ?? 0;
  const req: OpKernelRequest = { op: head.op, attrs: { ...head.attrs, max_position: offset + size.positions - 1 }, inputs: head.inputs.map((i) => low.spec(i)), output: low.spec(gr.output) };
  const bind: Partial<Record<BindingName, Region>> = { out };
  head.inputs.forEach((x, i) => (bind[`in${i}`] = low.region(x)));
  low.push(gr, phase, low.backend.op(req), bind);
}

/** Layer `layer`'s keys or values: a cache buffer made once per plan, the whole of it bound. */
function cacheBuffer(low: Lowering, layer: number, side: 'k' | 'v', s: KvAttentionSpec, kvd: number): Region {
  const label = `kv.${layer}.${side}`;
  const bytes = 4 * s.rows * s.slots * kvd;
  low.checkBinding(`the key/value cache of attention ${layer} (${s.rows} rows of ${s.slots} slots)`, bytes);
  const id = low.buffers.find((b) => b.label === label)?.id ?? low.buffer(label, 'kv-cache', bytes);
  return { buffer: id, offset: 0, bytes };
}

function dispatch(low: Lowering, gr: Group, phase: Phase, k: KvKernel, bind: Record<string, Region>, written: string[]): void {
  const bindings = k.bindings.map((b) => {
    const r = bind[b];
    if (!r) throw new PlanError(`kernel ${k.label} binds \`${b}\`, which ${low.label(gr)} does not provide`);
    return r;
  });
  const writes = k.bindings.flatMap((b, i) => (written.includes(b) ? [i] : []));
  low.steps.push({ kind: 'dispatch', label: `${low.label(gr)} ${k.label.split(' ')[0]}`, shader: low.shader(k.label, k.wgsl), workgroups: k.workgroups, bindings, writes, phase, nodes: gr.nodes, ...(k.sizes ? { sizes: [...k.sizes] } : {}) });
}
