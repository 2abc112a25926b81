// Prompt tuning (Lester et al. 2021) as a rewrite of the token embedding's output:
// P trainable soft tokens [P, D] are prepended, giving [B, P + T, D]. The loss skips
// the virtual positions (the runtime's targets mark them ignored).
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { InitRule } from '../ir/types.ts';
import type { ModuleInst } from '../modules.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';
import { POISON, type Value } from '../values.ts';
import type { MethodApp } from './assign.ts';
import { parseTemplate, softTable, type PromptTemplate } from './template.ts';

/** torch.nn.Embedding's own init, N(0, 1): what PEFT's PromptEmbedding starts from with RANDOM. */
const PEFT_RANDOM: InitRule = { kind: 'normal', std: 1 };

function promptInit(app: MethodApp, m: ModuleInst): InitRule {
  const table = `${m.path}.weight`;
  return app.settings.init === 'vocab'
    ? { kind: 'vocab', table }
    : app.settings.init === 'text'
      ? { kind: 'text', table, text: app.settings.text as string }
      : PEFT_RANDOM; // random: as Hugging Face PEFT's RANDOM, a fresh nn.Embedding
}

export function applyPrompt(t: MethodHost, app: MethodApp, m: ModuleInst, y: Tensor, range: SourceRange): Value {
  const P = app.settings.length as number;
  const D = m.settings.dim as number;
  const init = promptInit(app, m);
  const prompt = t.param('prompt_embeddings', [P, D], { origin: 'prompt', module: 'prompt', method: app, init, src: app.range });
  t.promptLength = P;
  const expanded = t.op('expand_batch', [prompt, y], {}, range);
  return expanded.kind === 'tensor' ? t.op('concat', [expanded, y], { axis: 1 }, range, 'prompt') : POISON;
}

/**
 * A prompt template (template.ts) as a rewrite of the token embedding itself: the token rows
 * hold the virtual tokens as ids N … N+V−1, looked up by soft_embedding in the groups' tables
 * `prompt_embeddings.g` [n_g, D], concatenated. The output has the shape of the rows.
 */
export function applyPromptTemplate(t: MethodHost, app: MethodApp, m: ModuleInst, table: Tensor, ids: Tensor, range: SourceRange): Value {
  const tpl = parseTemplate(app.settings.template as string) as PromptTemplate; // checked in methods.ts
  const D = m.settings.dim as number;
  const init = promptInit(app, m);
  let soft: Value = POISON;
  for (const [g, n] of tpl.groups.entries()) {
    const p = t.param(softTable(g), [n, D], { origin: 'prompt', module: 'prompt', method: app, init, src: app.range });
    soft = soft.kind === 'tensor' ? t.op('concat', [soft, p], { axis: 0 }, range, 'prompt') : p;
  }
  return soft.kind === 'tensor' ? t.op('soft_embedding', [table, soft, ids], {}, range, 'prompt') : POISON;
}
