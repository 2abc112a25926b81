// `--allow-nonfinite` on every verb that loads weights. NaN and ±Inf weights are refused by
// default (runtime/io/read-weights-node.ts) — a corrupt or diverged file would otherwise run,
// or be merged and written out, without a word. cli/main.ts calls this once, after every verb
// (combine included) is defined.
import type { Command } from 'commander';

const VERBS = ['train', 'eval', 'generate', 'grad', 'import', 'export', 'merge', 'combine'];

export function registerWeightFlags(program: Command): void {
  for (const name of VERBS) {
    const c = program.commands.find((x) => x.name() === name);
    if (!c) throw new Error(`internal: no \`${name}\` verb to extend`);
    c.option('--allow-nonfinite', 'load weights that hold NaN or ±Inf instead of refusing them');
  }
}
