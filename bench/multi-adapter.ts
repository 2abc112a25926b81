// Serving 4 LoRA adapters over one base: one mixed batch (the bank graph, each sequence reading
// its own adapter through linear_gather) against 4 separate passes, one per adapter, each through
// that adapter's own graph (plain LoRA, the one-adapter path) over its own sequences. Forward
// only, logits read back. Not a test: it measures and prints the median of --reps runs after one
// warm-up (the two forms alternate, so a busy machine slows both alike), on the CPU reference and on each WebGPU adapter named (--gpu).
//
//   npx tsx bench/multi-adapter.ts [--gpu swiftshader,llvmpipe,hardware] [--reps 5] [--per 2] [--seq 64]
//                                  [--rank 8] [--set vocab_size=256,n_positions=128,n_embd=128,n_layer=4,n_head=4]
import { resolve } from 'node:path';
import { compile } from '../compiler/build.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { nodeHost } from '../cli/node-host.ts';
import { Arena, createStore, type ParamStore } from '../runtime/arena.ts';
import { CpuExecutor } from '../runtime/cpu/executor.ts';
import { fillNormal, Random } from '../runtime/cpu/random.ts';
import type { Tensor } from '../runtime/cpu/tensor.ts';
import { initParams } from '../runtime/init.ts';
import { AdapterSet, servingGraph, type LoadedAdapter } from '../runtime/multi/set.ts';
import { IGNORE } from '../runtime/targets.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import { createExecutor } from '../runtime/webgpu/plans.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const N = 4;
const per = Number(arg('per', '2'));
const T = Number(arg('seq', '64'));
const reps = Number(arg('reps', '5'));
const rank = Number(arg('rank', '8'));
const setting = arg('set', 'vocab_size=256,n_positions=128,n_embd=128,n_layer=4,n_head=4');
const gpus = arg('gpu', '').split(',').filter(Boolean) as GpuChoice[];
const B = N * per;

const EX = resolve(import.meta.dirname, '../examples');
function compileText(text: string): Graph {
  const entry = resolve(EX, '__bench_multi__.peft');
  const res = compile(entry, { read: (p) => (p === entry ? text : nodeHost.read(p)), resolve: nodeHost.resolve }, { set: [setting], derivedPrefix: true });
  if (!res.graph) throw new Error(res.diagnostics.map((d) => d.message).join('\n'));
  return res.graph;
}

const baseGraph = compileText('import "gpt2.peft"\n');
const arena = new Arena(baseGraph.params, 'f32');
initParams(baseGraph, { frozen: arena, trainable: new Arena([], 'f32') }, { seed: 0 });
const base = { graph: baseGraph, arena };
const adapters: LoadedAdapter[] = Array.from({ length: N }, (_, k) => {
  const graph = compileText(`import "gpt2.peft"\npeft { lora(rank = ${rank}, alpha = ${2 * rank}) on "c_attn", "c_proj" }\n`);
  const values = new Map<string, Float32Array>();
  const rng = new Random(100 + k);
  for (const p of graph.params.filter((q) => q.partition === 'trainable')) {
    const v = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    fillNormal(v, rng, 0.05);
    values.set(p.path, v);
  }
  return { name: `task${k}`, graph, values, source: 'bench' };
});
const set = AdapterSet.create(base, adapters);
const rng = new Random(1);
const tokens: Tensor = { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(256)) };
// Sequences interleaved: task0, task1, task2, task3, task0, …
const use = Array.from({ length: B }, (_, b) => `task${b % N}`);
const rowsOf = (k: number) => use.map((u, b) => (u === `task${k}` ? b : -1)).filter((b) => b >= 0);
const sub = (rows: number[]): Tensor => ({ shape: [rows.length, T], data: Int32Array.from(rows.flatMap((b) => Array.from(tokens.data.subarray(b * T, (b + 1) * T)))) });
const targetsFor = (n: number) => ({ shape: [n, T], data: new Int32Array(n * T).fill(IGNORE) });

/** Each adapter's own graph and store (base values shared by copy: what one-adapter serving holds). */
function ownStore(a: LoadedAdapter): ParamStore {
  const s = createStore(a.graph, 'f32');
  for (const slot of s.frozen.slots) s.frozen.view(slot.param.path).set(arena.view(slot.param.path));
  for (const [p, v] of a.values) s.trainable.view(p).set(v);
  return s;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Medians of the two, timed alternately (a busy machine slows both alike), after one warm-up each. */
async function timePair(a: () => Promise<unknown> | unknown, b: () => Promise<unknown> | unknown): Promise<[number, number]> {
  await a();
  await b();
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < reps; i++) {
    for (const [f, out] of [[a, ta], [b, tb]] as const) {
      const t0 = performance.now();
      await f();
      out.push(performance.now() - t0);
    }
  }
  return [median(ta), median(tb)];
}

const rows: { backend: string; mixed: number; separate: number; note: string }[] = [];
console.log(`GPT-2 (${setting}), ${N} LoRA adapters (rank ${rank} on c_attn and c_proj), ${B} sequences × ${T} tokens (${per} per adapter), forward + logits, median of ${reps} (alternating)`);

{
  const stores = adapters.map(ownStore);
  const execs = adapters.map((a) => new CpuExecutor(servingGraph(a.graph)));
  const subs = adapters.map((_, k) => sub(rowsOf(k)));
  const [mixed, separate] = await timePair(
    () => set.logits(tokens, use),
    () => adapters.forEach((_, k) => execs[k]!.run(stores[k]!, { tokens: subs[k]!, targets: targetsFor(per) }, { precision: 'f32', training: false, step: 0, backward: false })),
  );
  rows.push({ backend: 'cpu (reference, f32)', mixed, separate, note: '' });
}

for (const choice of gpus) {
  const gpu = await openNodeGpu({ gpu: choice });
  const g = set.graphOf(null);
  const bank = await createExecutor(gpu, servingGraph(g), { B, T }, { store: set.bankStore, plan: { backward: false } });
  const batch = set.batchFor(g, tokens, use.map((u) => set.info(u).placement.kind === 'bank' ? (set.info(u).placement as { slot: number }).slot : -1));
  const own = await Promise.all(adapters.map((a) => createExecutor(gpu, servingGraph(a.graph), { B: per, T }, { store: ownStore(a), plan: { backward: false } })));
  const subs = adapters.map((_, k) => sub(rowsOf(k)));
  const opts = { training: false, step: 0, backward: false, read: { logits: true, grads: false } } as const;
  const [mixed, separate] = await timePair(
    () => bank.run(batch, opts),
    async () => {
      for (const [k, e] of own.entries()) await e.run({ tokens: subs[k]!, targets: targetsFor(per) }, opts);
    },
  );
  const frozen = bank.plan.stats.frozenBytes;
  const sepFrozen = own.reduce((a, e) => a + e.plan.stats.frozenBytes, 0);
  rows.push({ backend: `webgpu ${choice} (${gpu.info.device || gpu.info.architecture})`, mixed, separate, note: `GPU params: mixed ${(frozen / 2 ** 20).toFixed(2)} MiB base + ${(bank.plan.stats.trainableBytes / 2 ** 10).toFixed(0)} KiB bank; separate ${(sepFrozen / 2 ** 20).toFixed(2)} MiB (base ×${N})` });
  bank.destroy();
  for (const e of own) e.destroy();
  gpu.destroy();
}

const mem = set.memory();
console.log(`memory (CPU arenas): base ${(mem.base.bytes / 2 ** 20).toFixed(2)} MiB once + bank ${(mem.bank!.bytes / 2 ** 10).toFixed(0)} KiB (${N} slots) = ${(mem.totalBytes / 2 ** 20).toFixed(2)} MiB`);
const pad = (x: string, n: number) => x + ' '.repeat(Math.max(0, n - x.length));
console.log(`\n${pad('backend', 44)} ${pad('mixed ms', 10)} ${pad('4 passes ms', 12)} ${pad('mixed tok/s', 12)} ${pad('4 passes tok/s', 15)} ratio`);
for (const r of rows) {
  const tps = (ms: number) => ((B * T) / (ms / 1000)).toFixed(0);
  console.log(`${pad(r.backend, 44)} ${pad(r.mixed.toFixed(1), 10)} ${pad(r.separate.toFixed(1), 12)} ${pad(tps(r.mixed), 12)} ${pad(tps(r.separate), 15)} ${(r.separate / r.mixed).toFixed(2)}×${r.note ? `  ${r.note}` : ''}`);
}
process.exit(0);
