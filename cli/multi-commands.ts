// Registers the multi-adapter forms of the verbs on the `peftc` program (cli/main.ts calls this
// once, after defining the verbs): `--adapter` becomes repeatable (`name=DIR`) on eval, generate,
// params and viz, with `--use` to choose among them; `--prompt` repeats on generate; train gets
// `--frozen-adapter`; and the `combine` verb. A verb given one plain `--adapter DIR` (and no
// `--use`) runs exactly as before. See docs/multi-adapter.md.
import type { Command } from 'commander';
import { MultiGraphError } from '../compiler/multi/edit.ts';
import { AdapterSetError } from '../runtime/multi/set.ts';
import { addCompileFlags } from './common.ts';
import { evalCommand, generateCommand, type EvalFlags, type GenerateFlags } from './evaluate.ts';
import { UserError } from './errors.ts';
import { collect, combineCommand, evalMulti, generateMulti, isMulti, paramsMulti, vizMulti, type CombineFlags, type MultiEvalFlags, type MultiGenerateFlags, type MultiFlags } from './multi.ts';
import { paramsCommand, type ParamsFlags } from './params.ts';
import { vizCommand, type VizFlags } from './viz.ts';

const ADAPTER_HELP = 'NAME=DIR: an adapter (checkpoint directory or Hugging Face PEFT / AdapterHub folder) over the base FILE; repeatable. A plain DIR alone: the fine-tune of FILE';
const USE_HELP = 'the adapter to run: a NAME, `base`, or a combination `a+b` (stack), `0.5*a+0.5*b` (weighted sum); repeatable';

function verb(program: Command, name: string): Command {
  const c = program.commands.find((x) => x.name() === name);
  if (!c) throw new Error(`internal: no \`${name}\` verb to extend`);
  return c;
}

/** Makes `--adapter` repeatable (an array), keeping or adding the option. */
function repeatableAdapter(c: Command): void {
  const opt = c.options.find((o) => o.long === '--adapter');
  if (opt) {
    opt.argParser(collect);
    opt.description = ADAPTER_HELP;
  } else c.option('--adapter <name=dir>', ADAPTER_HELP, collect);
}

/** Errors of the multi-adapter code are the user's (one line, exit 1). */
async function userErrors(f: () => Promise<number> | number): Promise<number> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof AdapterSetError || e instanceof MultiGraphError) throw new UserError(e.message);
    throw e;
  }
}

const first = (a: string[] | undefined) => a?.[0];

export function registerMultiAdapter(program: Command): void {
  for (const name of ['eval', 'generate', 'params', 'viz']) {
    const c = verb(program, name);
    repeatableAdapter(c);
    c.option('--use <name>', USE_HELP, collect);
    c.option('--family <family>', 'naming of the base model for adapter folders: gpt2 | llama | bert | custom');
  }
  verb(program, 'eval').action(async (file: string, flags: MultiEvalFlags) => {
    process.exitCode = await userErrors(() => (isMulti(flags) ? evalMulti(file, flags) : evalCommand(file, { ...flags, adapter: first(flags.adapter) } as EvalFlags)));
  });

  const gen = verb(program, 'generate');
  gen.options.find((o) => o.long === '--prompt')!.argParser(collect);
  gen.action(async (file: string, flags: MultiGenerateFlags) => {
    process.exitCode = await userErrors(() => {
      if (isMulti(flags)) return generateMulti(file, flags);
      if (flags.prompt.length > 1) throw new UserError('several --prompt run through named adapters: add --adapter NAME=DIR and --use');
      return generateCommand(file, { ...flags, adapter: first(flags.adapter), prompt: flags.prompt[0]! } as GenerateFlags);
    });
  });

  verb(program, 'params').action(async (file: string, flags: ParamsFlags & MultiFlags) => {
    process.exitCode = await userErrors(() => (isMulti(flags) ? paramsMulti(file, flags) : paramsCommand(file, { ...flags, adapter: first(flags.adapter) } as ParamsFlags)));
  });
  verb(program, 'viz').action(async (file: string, flags: VizFlags & MultiFlags) => {
    process.exitCode = await userErrors(() => (isMulti(flags) ? vizMulti(file, flags) : vizCommand(file, { ...flags, adapter: first(flags.adapter) } as VizFlags)));
  });

  verb(program, 'train').option('--frozen-adapter <name=dir>', 'train on top of this adapter (a checkpoint directory), frozen in the model; repeatable, first is lowest', collect);

  addCompileFlags(
    program
      .command('combine')
      .argument('<file>', 'the base model\'s .peft')
      .option('--adapter <name=dir>', 'an adapter to combine (checkpoint directory or adapter folder); repeatable', collect)
      .requiredOption('--use <expr>', 'the combination: `a+b` (stack), `0.5*a+0.5*b` (weighted sum / average)', collect)
      .requiredOption('-o, --out <path>', 'checkpoint directory to write (must not exist); with --merge-into, the merged .safetensors')
      .option('--init <base>', 'base weights the adapters were trained on, recorded in the combined checkpoint (default: the base their checkpoints recorded)')
      .option('--merge-into <base>', 'fold the LoRA sum into these base weights (.safetensors, index, or folder) instead')
      .option('--family <family>', 'naming of the base model: gpt2 | llama | bert | custom')
      .description('combine adapters: LoRA sums as one adapter (ranks concatenated) or merged into base weights; bottleneck adapters as a stack'),
  ).action(async (file: string, flags: CombineFlags) => {
    process.exitCode = await userErrors(() => combineCommand(file, flags));
  });
}
