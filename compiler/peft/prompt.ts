// Prompt tuning (Lester et al. 2021) as a rewrite of the token embedding's output:
// P trainable soft tokens [P, D] are prepended, giving [B, P + T, D]. The loss skips
// the virtual positions (the runtime's targets mark them ignored).
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { InitRule } from '../ir/types.ts';
import type { ModuleInst } from '../modules.ts';
import type { Tensor, Tracer } from '../trace.ts';
import { POISON, type Value } from '../values.ts';
import type { MethodApp } from './assign.ts';

export function applyPrompt(t: Tracer, app: MethodApp, m: ModuleInst, y: Tensor, range: SourceRange): Value {
  const P = app.settings.length as number;
  const D = m.settings.dim as number;
  const table = `${m.path}.weight`;
  const init: InitRule =
    app.settings.init === 'vocab'
      ? { kind: 'vocab', table }
      : app.settings.init === 'text'
        ? { kind: 'text', table, text: app.settings.text as string }
        : m.params[0]!.init; // random: drawn like the vocabulary table itself
  const prompt = t.param('prompt_embeddings', [P, D], { origin: 'prompt', module: 'prompt', method: app, init, src: app.range });
  t.promptLength = P;
  const expanded = t.op('expand_batch', [prompt, y], {}, range);
  return expanded.kind === 'tensor' ? t.op('concat', [expanded, y], { axis: 1 }, range, 'prompt') : POISON;
}
