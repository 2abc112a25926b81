// One part of `npm run bench` in a process of its own (bench/run.ts starts one per part and
// adapter: one Dawn instance per process, and a crash or a hang in one part costs only that
// part). Progress goes to stderr; the result is the last line of stdout, one JSON object.
//
//   npx tsx bench/task.ts train   --gpu llvmpipe [--warmup 1] [--reps 5] [--no-tfjs] [--torch-threads 2] [--profile]
//   npx tsx bench/task.ts matmul  --gpu llvmpipe [--reps 7] [--no-tfjs]
//   npx tsx bench/task.ts compile [--reps 15]
//   npx tsx bench/task.ts gpt2s   [--plan '1:llvmpipe,swiftshader,cpu,wasm;4:llvmpipe,swiftshader,cpu,wasm'] [--warmup 1] [--reps 2] [--torch-threads 1,2]
// (--adapter is the old name of --gpu.)
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import { runCompileBench } from './compile.ts';
import { FULL_GPT2S_PLAN, parseGpt2sPlan, runGpt2sBench } from './gpt2s.ts';
import { runMatmulBench } from './matmul-peers.ts';
import { flag, gpuFlag } from './model.ts';
import { chooseBlas } from './peers/blas.ts';
import { torchMissing } from './peers/torch.ts';
import { runTrainBench } from './train.ts';

const log = (line: string) => process.stderr.write(`  ${line}\n`);
const task = process.argv[2];
const choice = gpuFlag('llvmpipe') as GpuChoice;
const tfjs = !process.argv.includes('--no-tfjs');

let result: unknown;
switch (task) {
  case 'train':
    result = await runTrainBench({
      gpu: choice,
      warmup: Number(flag('warmup', '1')),
      reps: Number(flag('reps', '5')),
      tfjs,
      torchThreads: Number(flag('torch-threads', '0')),
      profile: process.argv.includes('--profile'),
      log,
    });
    break;
  case 'matmul':
    result = await runMatmulBench({ gpu: choice, reps: Number(flag('reps', '7')), tfjs, log });
    break;
  case 'compile':
    result = runCompileBench(Number(flag('reps', '15')));
    break;
  case 'gpt2s': {
    const threads = flag('torch-threads', '1,2').split(',').map(Number).filter((n) => n > 0);
    const missing = threads.length ? torchMissing() : 'not asked for (--torch-threads 0)';
    result = await runGpt2sBench({
      plan: parseGpt2sPlan(flag('plan', FULL_GPT2S_PLAN)),
      warmup: Number(flag('warmup', '1')),
      reps: Number(flag('reps', '2')),
      torchThreads: threads,
      // bench/run.ts has chosen it already (and set its variables for this process's children).
      blas: missing ? { skipped: missing } : process.env.PEFTC_BENCH_BLAS ? JSON.parse(process.env.PEFTC_BENCH_BLAS) : chooseBlas(Math.max(...threads), log),
      log,
    });
    break;
  }
  default:
    process.stderr.write(`bench/task.ts: unknown task ${task} (train, matmul, compile, gpt2s)\n`);
    process.exit(2);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
