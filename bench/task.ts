// One part of `npm run bench` in a process of its own (bench/run.ts starts one per part and
// adapter: one Dawn instance per process, and a crash or a hang in one part costs only that
// part). Progress goes to stderr; the result is the last line of stdout, one JSON object.
//
//   npx tsx bench/task.ts train   --adapter llvmpipe [--warmup 1] [--reps 5] [--no-tfjs] [--torch-threads 2] [--profile]
//   npx tsx bench/task.ts matmul  --adapter llvmpipe [--reps 7] [--no-tfjs]
//   npx tsx bench/task.ts compile [--reps 15]
import type { AdapterChoice } from '../runtime/webgpu/device.ts';
import { runCompileBench } from './compile.ts';
import { runMatmulBench } from './matmul-peers.ts';
import { flag } from './model.ts';
import { runTrainBench } from './train.ts';

const log = (line: string) => process.stderr.write(`  ${line}\n`);
const task = process.argv[2];
const adapter = flag('adapter', 'llvmpipe') as AdapterChoice;
const tfjs = !process.argv.includes('--no-tfjs');

let result: unknown;
switch (task) {
  case 'train':
    result = await runTrainBench({
      adapter,
      warmup: Number(flag('warmup', '1')),
      reps: Number(flag('reps', '5')),
      tfjs,
      torchThreads: Number(flag('torch-threads', '0')),
      profile: process.argv.includes('--profile'),
      log,
    });
    break;
  case 'matmul':
    result = await runMatmulBench({ adapter, reps: Number(flag('reps', '7')), tfjs, log });
    break;
  case 'compile':
    result = runCompileBench(Number(flag('reps', '15')));
    break;
  default:
    process.stderr.write(`bench/task.ts: unknown task ${task} (train, matmul, compile)\n`);
    process.exit(2);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
