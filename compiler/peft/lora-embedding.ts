// LoRA on a token embedding, as Hugging Face PEFT's lora.Embedding:
//   y' = table[ids] + s · Aᵀ[ids] · Bᵀ,  A = lora_embedding_A [r, num], B = lora_embedding_B [dim, r].
// Aᵀ[ids] is the columns of A at the ids (PEFT: F.embedding(ids, A.T)). A starts at zero and B
// normal(0, 1) (PEFT's reset_lora_parameters for embeddings, the reverse of Linear's), so the
// model starts exactly at the base. No dropout: PEFT's embedding forward applies none. The
// parameters are named as PEFT's state dict names them, without `.weight`. A tied head keeps
// reading the base table: only the lookup is rewritten. `dora = true`: PEFT's DoraEmbeddingLayer
// (dora.ts), a magnitude per embedding dimension.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { ModuleInst } from '../modules.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';
import { POISON, type Value } from '../values.ts';
import { Codes } from '../codes.ts';
import type { MethodApp } from './assign.ts';
import { chain } from './chain.ts';
import { applyDoraEmbedding } from './dora.ts';
import { loraScale } from './lora.ts';
import { rankMode } from './rank-settings.ts';

export function applyLoraEmbedding(t: MethodHost, app: MethodApp, m: ModuleInst, ids: Tensor, y: Tensor, range: SourceRange): Value {
  if (app.settings.init !== undefined) {
    t.r.error(Codes.BadMethodSetting, `\`init = ${app.settings.init}\` initialises a Linear's A; LoRA on the embedding \`${m.path}\` starts as PEFT's (A zero, B normal)`, app.range);
    return POISON;
  }
  if (app.settings.lr_ratio !== undefined) {
    t.r.error(Codes.BadMethodSetting, `LoRA+'s lr_ratio is not supported on the embedding \`${m.path}\` (PEFT gives embeddings their own learning rate, loraplus_lr_embedding)`, app.range);
    return POISON;
  }
  if (rankMode(app.settings) !== 'fixed') {
    t.r.error(Codes.BadMethodSetting, `LoRA on the embedding \`${m.path}\` takes a fixed rank; \`rank = ${app.settings.rank_mode}(…)\` is for Linear layers`, app.range);
    return POISON;
  }
  const r = app.settings.rank as number;
  const opts = { origin: 'lora' as const, module: m.path, method: app, src: app.range };
  const A = t.param(`${m.path}.lora_embedding_A`, [r, m.settings.num as number], { ...opts, init: { kind: 'zeros' } });
  const B = t.param(`${m.path}.lora_embedding_B`, [m.settings.dim as number, r], { ...opts, init: { kind: 'normal', std: 1 } });
  const At = t.op('transpose', [A], {}, range, 'lora_embedding_A');
  if (At.kind !== 'tensor') return At;
  const s = loraScale(app.settings);
  const branch = chain(ids, [
    (v) => t.op('embedding', [At, v], {}, range, 'lora_embedding_A'),
    (v) => t.op('linear', [v, B], { layout: 'out_in' }, range, 'lora_embedding_B'),
    (v) => t.op('scale', [v], { factor: s }, range),
  ]);
  if (branch.kind !== 'tensor') return branch;
  if (app.settings.dora) return applyDoraEmbedding(t, app, m, y, branch, A, B, s, range);
  return t.op('add', [y, branch], {}, range, 'lora');
}
