// The bank graph: a base model with N adapters' LoRA and bottleneck-adapter weights stacked
// along a leading axis, and one adapter index per sequence (input `adapter_ids`, i32 [B]), so one
// pass serves a batch whose sequences use different adapters; index −1 is the base alone.
//
//   LoRA on m:     y += linear_gather(linear_gather(x, A [N, R, in], ids), B [N, out, R], ids)
//   adapter on m:  y += linear_gather(act(linear_gather(src, D [N, W, din], ids, bD [N, W])), U [N, dout, W], ids, bU [N, dout])
//
// R (W) is the largest rank (width) of the N adapters at m: smaller ones are padded with zeros,
// which add nothing (act(0) = 0 for relu, gelu, silu and tanh). Each adapter's scale (and a
// combination weight) is folded into its B (U, bU) when the bank is packed (runtime/multi/set.ts),
// so the graph has no scale op. The stacked weights are the graph's second ("trainable") arena:
// served forward-only; a training graph over it trains every adapter on its own sequences.
import type { Graph, Param } from '../ir/types.ts';
import { ACTIVATION_OPS } from '../peft/adapter.ts';
import { addHook, GraphEditor, linearSite, moduleSite, MultiGraphError, type Hook } from './edit.ts';

export const ADAPTER_IDS = 'adapter_ids';

export interface BankSpec {
  /** N: adapters in the bank. */
  count: number;
  lora: { module: string; rank: number }[];
  adapters: { module: string; width: number; activation: string; placement: 'serial' | 'parallel' }[];
}

/** Parameter paths of the stacked tensors. */
export const bankPaths = {
  loraA: (m: string) => `${m}.lora_A.stacked.weight`,
  loraB: (m: string) => `${m}.lora_B.stacked.weight`,
  down: (m: string) => `${m}.adapters.stacked.down.weight`,
  downBias: (m: string) => `${m}.adapters.stacked.down.bias`,
  up: (m: string) => `${m}.adapters.stacked.up.weight`,
  upBias: (m: string) => `${m}.adapters.stacked.up.bias`,
};

const ACTIVATIONS = new Set(Object.keys(ACTIVATION_OPS));

export function bankGraph(base: Graph, spec: BankSpec): Graph {
  const peft = base.params.filter((p) => p.origin !== 'base' && p.origin !== 'head');
  if (peft.length) throw new MultiGraphError(`the base model must have no PEFT methods; it has ${peft[0]!.path}`);
  if (!Number.isInteger(spec.count) || spec.count < 1) throw new MultiGraphError(`a bank holds at least one adapter, not ${spec.count}`);
  const N = spec.count;
  const hooks = new Map<number, Hook[]>();
  let ids = -1;
  const stacked = (path: string, shape: number[], origin: 'lora' | 'adapter', module: string, settings: Record<string, number | string | boolean>): Param => ({
    path, shape, dtype: 'f32', init: { kind: 'zeros' }, partition: 'trainable', origin, module,
    method: { name: origin, module: module.replace(/\.adapters\.stacked$/, ''), settings: { ...settings, stacked: N } },
  });

  for (const { module: m, rank } of spec.lora) {
    const site = linearSite(base, m);
    addHook(hooks, site.node, (ed, y) => {
      ed.scope = m;
      const A = ed.param(stacked(bankPaths.loraA(m), [N, rank, site.fin], 'lora', m, { rank }));
      const B = ed.param(stacked(bankPaths.loraB(m), [N, site.fout, rank], 'lora', m, { rank }));
      const down = ed.emit('linear_gather', [ed.value(site.x), A, ids], { layout: 'out_in' });
      const up = ed.emit('linear_gather', [down, B, ids], { layout: 'out_in' });
      return ed.emit('add', [y, up]);
    });
  }
  // Deeper modules first, so an adapter on a sub-layer sits inside one on its block.
  const adapters = [...spec.adapters].sort((a, b) => b.module.split('.').length - a.module.split('.').length);
  for (const a of adapters) {
    if (!ACTIVATIONS.has(a.activation)) throw new MultiGraphError(`adapter activation ${a.activation} is not one of ${[...ACTIVATIONS].join(', ')}`);
    const site = moduleSite(base, a.module);
    if (a.placement === 'parallel' && site.input === undefined) throw new MultiGraphError(`a parallel adapter on \`${a.module}\` needs the module's one input, which this graph does not show`);
    addHook(hooks, site.output, (ed, y) => {
      const m = `${a.module}.adapters.stacked`;
      ed.scope = m;
      const src = a.placement === 'parallel' ? ed.value(site.input!) : y;
      const din = ed.shape(src).at(-1) as number;
      const dout = ed.shape(y).at(-1) as number;
      const settings = { bottleneck: a.width, activation: a.activation, placement: a.placement };
      const D = ed.param(stacked(bankPaths.down(a.module), [N, a.width, din], 'adapter', m, settings));
      const bD = ed.param(stacked(bankPaths.downBias(a.module), [N, a.width], 'adapter', m, settings));
      const U = ed.param(stacked(bankPaths.up(a.module), [N, dout, a.width], 'adapter', m, settings));
      const bU = ed.param(stacked(bankPaths.upBias(a.module), [N, dout], 'adapter', m, settings));
      const h = ed.emit('linear_gather', [src, D, ids, bD], { layout: 'out_in' });
      const act = ed.emit(ACTIVATION_OPS[a.activation]!, [h]);
      const up = ed.emit('linear_gather', [act, U, ids, bU], { layout: 'out_in' });
      return ed.emit('add', [y, up]);
    });
  }
  const tokens = base.nodes[base.inputs.tokens!]!;
  const g = new GraphEditor(base).build(hooks, (ed) => {
    ids = ed.input(ADAPTER_IDS, [tokens.shape[0]!], 'i32');
  });
  // The base is the frozen arena, whatever its own program said (a program without PEFT trains everything).
  for (const p of g.params) if (p.origin === 'base' || p.origin === 'head') p.partition = 'frozen';
  return g;
}
