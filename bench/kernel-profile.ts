// Where the LoRA step and the full fine-tuning step of the benchmark model spend their time, per
// kernel family, and which part of it the two steps share. Each dispatch is submitted and waited
// for on its own (GpuExecutor.profile); the LoRA and full profiles alternate, --reps times, and
// every plan step's time is the median over the repetitions, so one burst of load on the shared
// machine moves one sample, not the table. Not a test: it measures and prints.
//
//   npx tsx bench/kernel-profile.ts [--gpu swiftshader,llvmpipe] [--reps 5] [--top 14]
//
// "shared": families both plans dispatch, counted at the LoRA plan's time; "LoRA only" / "full
// only": what one plan dispatches beyond the other (by dispatch count per family).
import type { GpuExecutor } from '../runtime/webgpu/executor.ts';
import { createExecutor } from '../runtime/webgpu/plans.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { benchBatch, benchStore, benchTraining, BATCH, flag, gpuFlag, type Method } from './model.ts';

const choices = gpuFlag('swiftshader,llvmpipe').split(',').filter(Boolean) as GpuChoice[];
const reps = Number(flag('reps', '5'));
const top = Number(flag('top', '14'));
const family = (kernel: string): string => kernel.replace(/_\d.*$/, '').replace(/_\[.*$/, '');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const choice of choices) {
  const gpu = await openNodeGpu({ gpu: choice });
  const batch = benchBatch();
  const execs = new Map<Method, GpuExecutor>();
  for (const method of ['lora', 'full'] as const) {
    const t = benchTraining(method);
    execs.set(method, await createExecutor(gpu, t, BATCH, { store: benchStore(t.graph) }));
  }
  const samples = new Map<Method, { kernel: string; ms: number[] }[]>();
  for (let r = 0; r < reps; r++) {
    for (const [method, exec] of execs) {
      const prof = await exec.profile(batch);
      const acc = samples.get(method) ?? prof.map((p) => ({ kernel: p.kernel, ms: [] as number[] }));
      prof.forEach((p, i) => acc[i]!.ms.push(p.ms));
      samples.set(method, acc);
    }
  }
  const byFamily = (method: Method) => {
    const m = new Map<string, { ms: number; count: number }>();
    for (const s of samples.get(method)!) {
      const f = m.get(family(s.kernel)) ?? { ms: 0, count: 0 };
      f.ms += median(s.ms);
      f.count++;
      m.set(family(s.kernel), f);
    }
    return m;
  };
  const lora = byFamily('lora');
  const full = byFamily('full');
  const total = (m: Map<string, { ms: number }>) => [...m.values()].reduce((a, v) => a + v.ms, 0);
  const names = [...new Set([...lora.keys(), ...full.keys()])].sort((a, b) => (full.get(b)?.ms ?? lora.get(b)!.ms) - (full.get(a)?.ms ?? lora.get(a)!.ms));
  console.log(`\n${choice}: per-dispatch medians of ${reps} profiles; LoRA ${total(lora).toFixed(0)} ms, full ${total(full).toFixed(0)} ms, ratio ${(total(lora) / total(full)).toFixed(3)}`);
  console.log(`${'kernel family'.padEnd(34)} ${'LoRA n'.padStart(6)} ${'LoRA ms'.padStart(8)} ${'full n'.padStart(6)} ${'full ms'.padStart(8)}  ms/dispatch (LoRA | full)`);
  for (const f of names.slice(0, top)) {
    const a = lora.get(f);
    const b = full.get(f);
    const per = (v?: { ms: number; count: number }) => (v ? (v.ms / v.count).toFixed(2) : '—');
    console.log(`${f.padEnd(34)} ${String(a?.count ?? 0).padStart(6)} ${(a?.ms ?? 0).toFixed(1).padStart(8)} ${String(b?.count ?? 0).padStart(6)} ${(b?.ms ?? 0).toFixed(1).padStart(8)}  ${per(a)} | ${per(b)}`);
  }
  const rest = names.slice(top);
  const sum = (m: Map<string, { ms: number }>) => rest.reduce((a, f) => a + (m.get(f)?.ms ?? 0), 0);
  console.log(`${`everything else (${rest.length} families)`.padEnd(34)} ${''.padStart(6)} ${sum(lora).toFixed(1).padStart(8)} ${''.padStart(6)} ${sum(full).toFixed(1).padStart(8)}`);
  for (const e of execs.values()) e.destroy();
  gpu.destroy();
}
process.exit(0);
