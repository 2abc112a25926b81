// Where a change moved the time: the benchmark model's training step profiled per dispatch
// (GpuExecutor.profile) by another checkout of this repository (`--base`, e.g. a
// `git worktree add ../base <commit>` of the tree before the change) and by this one, in
// interleaved rounds in one process on one device, so a burst of load on the shared machine hits
// both alike. Prints the median over rounds of each kernel family's milliseconds (summed over the
// step) for both trees. Not a test: it measures and prints.
//
//   npx tsx bench/ab-profile.ts --base ../base [--gpu swiftshader] [--method lora|full] [--reps 5]
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import type { GpuExecutor } from '../runtime/webgpu/executor.ts';
import type { Gpu } from '../runtime/webgpu/gpu.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import * as model from './model.ts';

const base = resolve(model.flag('base', ''));
if (!model.flag('base', '')) throw new Error('--base <path of the checkout to compare with> is required');
const choice = model.gpuFlag('swiftshader') as GpuChoice;
const method = model.flag('method', 'lora') as model.Method;
const reps = Number(model.flag('reps', '5'));

type Executor = Pick<GpuExecutor, 'profile'>;
const baseModel = (await import(`${base}/bench/model.ts`)) as typeof model;
const gpu = await openNodeGpu({ gpu: choice });
const family = (kernel: string): string => kernel.replace(/_\d.*$/, '').replace(/_\[.*$/, '').replace(/_wg$/, '');
const median = (xs: number[] = []): number => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : 0);

type Create = (gpu: Gpu, t: ReturnType<typeof model.benchTraining>, dims: typeof model.BATCH, opts: { store: ReturnType<typeof model.benchStore> }) => Promise<Executor>;

/** A tree's way to plan and open an executor: createExecutor, or (trees before it) GpuExecutor.create. */
async function creator(root: string): Promise<Create> {
  if (existsSync(`${root}/runtime/webgpu/plans.ts`)) return ((await import(`${root}/runtime/webgpu/plans.ts`)) as { createExecutor: Create }).createExecutor;
  const { GpuExecutor: Exec } = (await import(`${root}/runtime/webgpu/executor.ts`)) as { GpuExecutor: { create: Create } };
  return Exec.create.bind(Exec);
}

async function executor(root: string, m: typeof model): Promise<Executor> {
  const t = m.benchTraining(method);
  return (await creator(root))(gpu, t, m.BATCH, { store: m.benchStore(t.graph) });
}
const trees: { name: string; exec: Executor; families: Map<string, number[]>; totals: number[] }[] = [
  { name: 'base', exec: await executor(base, baseModel), families: new Map(), totals: [] },
  { name: 'this', exec: await executor(resolve(import.meta.dirname, '..'), model), families: new Map(), totals: [] },
];
const batch = model.benchBatch();
for (let r = 0; r < reps; r++) {
  for (const tree of r % 2 ? [...trees].reverse() : trees) {
    const sums = new Map<string, number>();
    for (const p of await tree.exec.profile(batch)) sums.set(family(p.kernel), (sums.get(family(p.kernel)) ?? 0) + p.ms);
    for (const [f, ms] of sums) tree.families.set(f, [...(tree.families.get(f) ?? []), ms]);
    tree.totals.push([...sums.values()].reduce((a, b) => a + b, 0));
  }
}
const [old, now] = trees as [(typeof trees)[0], (typeof trees)[0]];
console.log(`${choice}, ${method} step: ms per step summed over dispatches, median of ${reps} interleaved rounds (base ${base})`);
console.log(`${'kernel family'.padEnd(36)} ${'base'.padStart(8)} ${'this'.padStart(8)}`);
console.log(`${'total'.padEnd(36)} ${median(old.totals).toFixed(1).padStart(8)} ${median(now.totals).toFixed(1).padStart(8)}`);
const names = [...new Set([...old.families.keys(), ...now.families.keys()])];
names.sort((a, b) => Math.max(median(old.families.get(b)), median(now.families.get(b))) - Math.max(median(old.families.get(a)), median(now.families.get(a))));
for (const f of names) console.log(`${f.padEnd(36)} ${median(old.families.get(f)).toFixed(1).padStart(8)} ${median(now.families.get(f)).toFixed(1).padStart(8)}`);
gpu.destroy();
process.exit(0);
