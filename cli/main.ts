// The `peftc` command. Thin: every verb parses flags and calls library functions.
// No stack trace reaches a user: unexpected failures print one line and exit 2.
import { Command } from 'commander';
import { printAst } from '../grammar/index.ts';
import { printGraph } from '../compiler/ir/printer.ts';
import { THREADS_HELP } from './backend-choice.ts';
import { addCompileFlags, addRuntimeFlags, compileFile, gpuTimeoutOption, report, type CompileFlags } from './common.ts';
import { recomputeOption } from './recompute-flag.ts';
import { buildTrainingGraph } from '../compiler/training.ts';
import { printTrainingGraph } from '../compiler/ir/printer.ts';
import { doctorCommand } from './doctor.ts';
import { isExpected } from './errors.ts';
import { gradCommand, type GradFlags } from './grad.ts';
import { planText, type PlanFlags } from './plan.ts';
import { frozenDtypeOption, paramsCommand, type ParamsFlags } from './params.ts';
import { vizCommand, type VizFlags } from './viz.ts';
import { trainCommand, type TrainFlags } from './train.ts';
import { buildCommand } from './build.ts';
import type { BuildFlags } from './build-flags.ts';
import { evalCommand, generateCommand, type EvalFlags, type GenerateFlags } from './evaluate.ts';
import { exportCommand, importCommand, mergeCommand } from './interop.ts';
import { registerMultiAdapter } from './multi-commands.ts';
import { registerMemory } from './memory.ts';
import { registerQuantize } from './quantize.ts';
import { registerWeightFlags } from './weight-flags.ts';
import { fmtCommand, type FmtFlags } from './fmt.ts';
import { playgroundCommand, type PlaygroundFlags } from './playground.ts';
import { tokenizeText, type TokenizeFlags } from './tokenize.ts';

// A reader that stops early (`peftc compile … | head`) closes the pipe: stop quietly, as
// Unix tools do, instead of throwing EPIPE.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

const program = new Command();
program.name('peftc').description('A language and compiler for parameter-efficient fine-tuning of Transformers on WebGPU').showHelpAfterError('(add --help for the options)');
program.option('--verbose', 'let the GPU drivers print their own notices (Dawn, Vulkan, EGL) on stderr').on('option:verbose', () => (process.env.PEFTC_VERBOSE = '1'));

addCompileFlags(program.command('check').argument('<file>', '.peft file').description('check a .peft file and print its diagnostics')).action(
  (file: string, flags: CompileFlags) => {
    const res = compileFile(file, flags);
    const failed = report(res);
    if (!failed) process.stdout.write(`${file}: ok\n`);
    process.exitCode = failed ? 1 : 0;
  },
);

addCompileFlags(
  program
    .command('params')
    .argument('<file>', '.peft file')
    .option('--json', 'print JSON')
    .option('--flat', 'one row per parameter instead of the module tree')
    .option('--adapter <dir>', 'a checkpoint directory: show the ranks lora(rank = auto(…)) allocated')
    .addOption(frozenDtypeOption())
    .description('show the module tree with trainable shares (or each parameter with --flat), and the trainable summary'),
).action((file: string, flags: ParamsFlags) => {
  process.exitCode = paramsCommand(file, flags);
});

addCompileFlags(
  program
    .command('viz')
    .argument('<file>', '.peft file')
    .option('-o, --output <file.html>', 'where to write the page', 'partitions.html')
    .option('--adapter <dir>', 'a checkpoint directory: show the ranks lora(rank = auto(…)) allocated')
    .option('--frozen-dtype <dtype>', 'f32 | f16 | int8 | nf4 | nf4dq: show what the frozen parameters weigh stored that way (default f32)')
    .description('write an interactive HTML view of what trains and what stays frozen, compared with a full fine-tune'),
).action((file: string, flags: VizFlags) => {
  process.exitCode = vizCommand(file, flags);
});

addCompileFlags(
  program
    .command('compile')
    .argument('<file>', '.peft file')
    .requiredOption('--emit <stage>', 'stage to print: ast | ir | train-ir | plan | wgsl')
    .option('--batch <n>', 'batch size the plan is made for (plan, wgsl)', '8')
    .option('--seq <n>', 'sequence length the plan is made for (plan, wgsl)', '128')
    .option('--gpu <choice>', 'plan for this WebGPU adapter\'s limits: auto | hardware | swiftshader | llvmpipe (default: WebGPU\'s default limits)')
    .option('--frozen-dtype <dtype>', 'plan, wgsl: store frozen weight matrices as f32, f16 (half their memory), int8, nf4 or nf4dq (codes and scales)', 'f32')
    .addOption(recomputeOption())
    .description('compile and print an intermediate form'),
).action(async (file: string, flags: CompileFlags & PlanFlags & { emit: string }) => {
  const res = compileFile(file, flags);
  if (report(res)) return void (process.exitCode = 1);
  if (flags.emit === 'ast') {
    for (const f of res.files) process.stdout.write(printAst(f));
  } else if (flags.emit === 'ir') {
    process.stdout.write(printGraph(res.graph!));
  } else if (flags.emit === 'train-ir') {
    process.stdout.write(printTrainingGraph(buildTrainingGraph(res.graph!)));
  } else if (flags.emit === 'plan' || flags.emit === 'wgsl') {
    process.stdout.write(await planText(res.graph!, flags.emit, flags));
  } else {
    process.stderr.write(`peftc: unknown stage \`${flags.emit}\`; choose ast, ir, train-ir, plan or wgsl\n`);
    process.exitCode = 1;
  }
});

addCompileFlags(
  program
    .command('grad')
    .argument('<file>', '.peft file')
    .option('--init <weights.safetensors>', 'parameter values by path; missing ones are initialised from --seed')
    .requiredOption('--tokens <tokens.json>', 'a JSON array of equal-length arrays of token ids; for a classifier {"tokens": […], "labels": […], "lengths"?: […], "token_types"?: […]}')
    .requiredOption('--out <out.safetensors>', 'where to write loss, logits and grad.<path>')
    .option('--backend <cpu|wasm|webgpu>', 'where to compute: cpu (the f64 reference) | wasm (f32 WebAssembly SIMD) | webgpu', 'cpu')
    .option('--threads <n>', THREADS_HELP)
    .option('--frozen-dtype <dtype>', 'f32, or int8 | nf4 | nf4dq: compute with the frozen base weight matrices quantized', 'f32')
    .option('--gpu <choice>', 'WebGPU adapter for --backend webgpu: auto | hardware | swiftshader | llvmpipe', 'auto')
    .addOption(gpuTimeoutOption())
    .option('--seed <n>', 'seed for parameters not in --init', '0')
    .addOption(recomputeOption())
    .description('compute the loss, logits and gradients of the trainable parameters'),
).action(async (file: string, flags: GradFlags) => {
  process.exitCode = await gradCommand(file, flags);
});

addRuntimeFlags(addCompileFlags(
  program
    .command('train')
    .argument('<file>', '.peft file')
    .option('--data <data>', 'training data: a text or .jsonl file, or a bundled corpus (moby-dick, sotu); required unless --resume (default: the checkpoint\'s)')
    .option('--valid <data>', 'validation data (default: the last 10% of --data)')
    .option('--max-data-bytes <size>', 'refuse data files larger than this (bytes, or like 512M, 2GiB)', '1GiB')
    .option('--init <base.safetensors>', 'base weights by parameter path')
    .option('--steps <n>', 'optimizer steps')
    .option('--epochs <n>', 'passes over the training data (when --steps is not given)', '1')
    .option('--batch <n>', 'sequences per step', '8')
    .option('--seq <n>', 'tokens per sequence (default: min(128, the model\'s positions))')
    .option('--lr <lr>', 'peak learning rate', '1e-3')
    .option('--schedule <kind>', 'constant | cosine', 'cosine')
    .option('--warmup <n>', 'linear warm-up steps', '0')
    .option('--eval-every <n>', 'validate and checkpoint every n steps (default: 5 times per run)')
    .option('--eval-rows <n>', 'validation rows evaluated, evenly spaced over the split', '256')
    .option('--optimizer <kind>', 'adamw | sgd', 'adamw')
    .option('--weight-decay <wd>', 'decoupled weight decay (matrices only)', '0.01')
    .option('--clip <norm>', 'clip gradients to this global norm (0: off)', '1')
    .option('--seed <n>', 'seed for initialisation and data order (default 0; on --resume, the run\'s own)')
    .option('--out <dir>', 'checkpoint directory (default: runs/<file name>)')
    .option('--resume <dir>', 'continue from a checkpoint directory')
    .option('--overwrite', 'replace the checkpoint already in --out (without it, train refuses to)')
    .option('--no-baseline', 'skip the bigram baseline')
    .option('--json', 'one JSON object per logged step on stdout')
    .addOption(recomputeOption())
    .description('fine-tune the trainable parameters on a dataset')),
).action(async (file: string, flags: TrainFlags) => {
  process.exitCode = await trainCommand(file, flags);
});

addCompileFlags(
  program
    .command('build')
    .argument('<file>', '.peft file')
    .requiredOption('-o, --out <dir>', 'the trainer folder to write (new, empty, or a trainer built before)')
    .option('--target <target>', 'webgpu (train.mjs and a browser page) | torch (a PyTorch trainer: model.py, train.py; docs/torch-target.md)', 'webgpu')
    .option('--data <data>', 'sample data to bundle (a text or .jsonl file, or a bundled corpus); checked now')
    .option('--max-data-bytes <size>', 'refuse data files larger than this (bytes, or like 512M, 2GiB)', '1GiB')
    .option('--init <base.safetensors>', 'base weights by parameter path (copied into the trainer)')
    .option('--batch <n>', 'sequences per step (fixed in the plan)', '8')
    .option('--seq <n>', 'tokens per sequence (fixed in the plan; default: min(128, the model\'s positions))')
    .option('--steps <n>', 'default optimizer steps of a run (default: one epoch of its data)')
    .option('--lr <lr>', 'default peak learning rate', '1e-3')
    .option('--schedule <kind>', 'default schedule: constant | cosine', 'cosine')
    .option('--warmup <n>', 'default linear warm-up steps', '0')
    .option('--eval-every <n>', 'default: validate and checkpoint every n steps (default: 5 times per run)')
    .option('--eval-rows <n>', 'default validation rows, evenly spaced over the split', '256')
    .option('--optimizer <kind>', 'adamw | sgd (fixed in the plan)', 'adamw')
    .option('--weight-decay <wd>', 'decoupled weight decay, matrices only (fixed in the plan)', '0.01')
    .option('--clip <norm>', 'clip gradients to this global norm, 0: off (fixed in the plan)', '1')
    .option('--seed <n>', 'seed of the initial parameters, and the default seed of the data order', '0')
    .option('--tokenizer <name>', 'byte | gpt2 | llama (default: from the vocabulary size)')
    .option('--kernels <kind>', 'kernels to plan: hardware (workgroup tiling) | software (no barriers, for CPU adapters) | both (default; each device runs the kind that suits it)')
    .option('--gpu <choice>', 'plan for this adapter\'s limits instead of WebGPU\'s defaults: auto | hardware | swiftshader | llvmpipe')
    .option('--frozen-dtype <dtype>', 'store frozen weight matrices as f32, f16 (half their memory), or int8 | nf4 | nf4dq (codes and scales in weights.safetensors, dequantized by the plans)', 'f32')
    .addOption(recomputeOption())
    .description('compile a standalone trainer (Node: train.mjs; browser: index.html) that runs without the compiler'),
).action(async (file: string, flags: BuildFlags) => {
  process.exitCode = await buildCommand(file, flags);
});

program
  .command('tokenize')
  .argument('<text>', 'the text (- reads standard input)')
  .requiredOption('--tokenizer <name|path>', 'byte | gpt2 | llama, or a Hugging Face tokenizer.json (its file or folder)')
  .option('--decode', 'the text is a JSON array of ids: print their text')
  .description('print the token ids of a text as one JSON array (no BOS/EOS added)')
  .action((text: string, flags: TokenizeFlags) => {
    process.stdout.write(tokenizeText(text, flags) + '\n');
  });

program
  .command('export')
  .argument('<ckpt-dir>', 'checkpoint directory written by `peftc train --out`')
  .requiredOption('--format <format>', 'hf-peft: Hugging Face PEFT folders (bottleneck adapters in AdapterHub\'s format)')
  .requiredOption('-o, --out <dir>', 'output folder (must not exist)')
  .option('--base-model <name>', 'base_model_name_or_path to record (default: the checkpoint\'s --init)')
  .option('--adapter-name <name>', 'name of a bottleneck adapter in the `adapters` library', 'peftc')
  .option('--family <family>', 'naming of the base model: gpt2 | llama | bert | custom (default: from the parameter names)')
  .option('--rank <n>', 'export lora(rank = dynamic(…)) modules at rank n (default: their max)')
  .option('--adalora-as-lora', 'write lora(rank = auto(…)) as the plain LoRA it has become, not as PEFT\'s ADALORA')
  .description('export a fine-tune\'s adapters for the PyTorch ecosystem')
  .action(async (ckpt: string, flags: Parameters<typeof exportCommand>[1]) => {
    process.exitCode = await exportCommand(ckpt, flags);
  });

addCompileFlags(
  program
    .command('import')
    .argument('<hf-dir>', 'a Hugging Face PEFT (or AdapterHub) adapter folder, or a folder of them')
    .option('--peft <file>', 'the .peft model the adapter belongs to')
    .option('-o, --out <dir>', 'checkpoint directory to write (must not exist)')
    .option('--emit-peft <base.peft>', 'print the .peft that matches the adapter, importing this base model')
    .option('--family <family>', 'naming of the base model: gpt2 | llama | bert | custom')
    .description('turn an adapter folder into a checkpoint directory, or print its .peft'),
).action(async (dir: string, flags: Parameters<typeof importCommand>[1]) => {
  process.exitCode = await importCommand(dir, flags);
});

addCompileFlags(
  program
    .command('merge')
    .argument('<file>', '.peft file of the fine-tune')
    .option('--init <base>', 'base weights: .safetensors, model.safetensors.index.json, or a folder (default: the base the checkpoint recorded)')
    .requiredOption('--adapter <ckpt-dir>', 'checkpoint directory (or its adapter.safetensors) of the fine-tune')
    .requiredOption('-o, --out <merged.safetensors>', 'merged weights, in the base\'s own names and layout')
    .option('--family <family>', 'naming of the base model: gpt2 | llama | bert | custom')
    .description('fold LoRA (and trained base weights) into the base weights'),
).action(async (file: string, flags: Parameters<typeof mergeCommand>[1]) => {
  process.exitCode = await mergeCommand(file, flags);
});

addRuntimeFlags(addCompileFlags(
  program
    .command('eval')
    .argument('<file>', '.peft file')
    .requiredOption('--data <data>', 'evaluation data: a text or .jsonl file, or a bundled corpus')
    .option('--max-data-bytes <size>', 'refuse data files larger than this (bytes, or like 512M, 2GiB)', '1GiB')
    .option('--init <base.safetensors>', 'base weights by parameter path')
    .option('--adapter <dir>', 'a checkpoint directory (or adapter file) of a fine-tune')
    .option('--batch <n>', 'sequences per batch', '8')
    .option('--seq <n>', 'tokens per sequence')
    .option('--json', 'print JSON')
    .option('--rank <n>', 'evaluate lora(rank = dynamic(…)) modules at rank n (default: their max)')
    .description('loss, perplexity (and accuracy for classifiers) on a dataset')),
).action(async (file: string, flags: EvalFlags) => {
  process.exitCode = await evalCommand(file, flags);
});

addRuntimeFlags(addCompileFlags(
  program
    .command('generate')
    .argument('<file>', '.peft file (a language model)')
    .requiredOption('--prompt <text>', 'the text to continue')
    .option('--init <base.safetensors>', 'base weights by parameter path')
    .option('--adapter <dir>', 'a checkpoint directory (or adapter file) of a fine-tune')
    .option('--max-tokens <n>', 'tokens to generate', '200')
    .option('--temperature <t>', 'sampling temperature; 0 is greedy', '0.8')
    .option('--top-k <k>', 'sample among the k most likely tokens (0: all)', '40')
    .option('--top-p <p>', 'sample among the most likely tokens up to this probability', '0.95')
    .option('--seed <n>', 'sampling seed', '0')
    .option('--rank <n>', 'use lora(rank = dynamic(…)) modules at rank n (default: their max)')
    .description('continue a prompt with the model')),
).action(async (file: string, flags: GenerateFlags) => {
  process.exitCode = await generateCommand(file, flags);
});

program
  .command('playground')
  .option('-o, --out <dir>', 'the folder to write', 'peftc-playground')
  .description('write the playground: a static page to edit a .peft file, see what trains and train it on WebGPU in the browser')
  .action(async (flags: PlaygroundFlags) => {
    process.exitCode = await playgroundCommand(flags);
  });

program
  .command('fmt')
  .argument('<files...>', '.peft files')
  .option('--check', 'change nothing; exit 1 if any file is not formatted')
  .description('rewrite .peft files in the canonical layout (comments kept)')
  .action((files: string[], flags: FmtFlags) => {
    process.exitCode = fmtCommand(files, flags);
  });

program
  .command('lsp')
  .option('--stdio', 'talk over stdin and stdout (the default)')
  .option('--node-ipc', 'talk over Node IPC (a client that forks the server)')
  .description('run the language server (diagnostics, hover, completion, definitions, rename, formatting)')
  .action(async (flags: { nodeIpc?: boolean }) => {
    // Loaded on demand: the other verbs need not load the protocol library.
    const { lspCommand } = await import('./lsp/command.ts');
    await lspCommand(flags.nodeIpc ? 'node-ipc' : 'stdio');
  });

program
  .command('doctor')
  .option('--gpu <choice>', 'WebGPU adapter: auto | hardware | swiftshader | llvmpipe | all', 'auto')
  .option('--json', 'print JSON')
  .description('show the WebGPU adapter and run a self-test kernel')
  .action(async (flags: { gpu: string; json?: boolean }) => {
    process.exitCode = await doctorCommand({ gpu: flags.gpu as never, json: flags.json ?? false });
  });

// Several adapters over one base: repeatable --adapter NAME=DIR, --use, --frozen-adapter, `combine`.
registerMultiAdapter(program);
registerWeightFlags(program);
registerMemory(program);
registerQuantize(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // Errors about the user's input (bad weights, tokens, files) are one line and exit 1;
  // anything else is a bug in peftc: one line, exit 2, never a stack trace.
  const expected = isExpected(e);
  process.stderr.write(`peftc: ${expected ? '' : 'internal error: '}${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = expected ? 1 : 2;
}
// A Dawn instance keeps Node's event loop alive: end explicitly once the verb is done, but
// only after stdout and stderr have drained: writes to a pipe are queued past its 64 KiB
// buffer, and process.exit() would drop the rest.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((done) => s.write('', () => done()))));
process.exit(process.exitCode ?? 0);
