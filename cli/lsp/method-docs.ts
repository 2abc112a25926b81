// What each PEFT method means, for hover and completion (docs/language.md#peft-methods has
// the whole story). The settings themselves come from the compiler's METHODS table.
import type { MethodName } from '../../compiler/peft/methods.ts';

export const METHOD_DOCS: Record<MethodName, string> = {
  lora:
    'LoRA on a `Linear`: y = x·W + b + s·(dropout(x)·Aᵀ)·Bᵀ with A [rank, in] and B [out, rank] (B starts at zero), ' +
    's = alpha/rank (alpha/√rank with rslora). `rank = auto(…)` is AdaLoRA, `rank = dynamic(…)` DyLoRA; `dora = true` DoRA ' +
    '(magnitude / column norm), `lr_ratio` LoRA+ (B at lr_ratio × the learning rate), `init = gaussian` A ~ N(0, 1/rank), `init = pissa | olora` A and B from the SVD / QR of W, W its residual (`init = pissa(niter = K)`: the randomised SVD, PEFT\'s pissa_niter_K). ' +
    'On an `Embedding`: PEFT\'s lora_embedding_A/B. Targets may be `all_linear`.',
  adapter:
    'A bottleneck adapter on any module: serial y\' = y + s·up(act(down(y))), parallel y\' = y + s·up(act(down(x))); ' +
    'width `bottleneck`, or d / `reduction`; `up` starts at zero (`init = mam`). `preset = seq_bn | double_seq_bn | par_bn`: ' +
    'AdapterHub\'s configs with their defaults, at the sub-layer\'s residual junction (original_ln_before, original_ln_after, residual_before_ln).',
  prefix:
    'Prefix tuning on a block that calls `attention`: `length` trained key and value vectors prepended in every targeted ' +
    'attention; `reparam = mlp(hidden = h)` trains them through a transient MLP.',
  prompt:
    'Prompt tuning: `length` soft tokens prepended to the embedded input (or placed by a `template`); ' +
    '`init` = random, vocab or text("…").',
  ia3:
    'IA³ on a `Linear`: a learned vector l (starting at one) scaling the output, y\' = (x·W + b) ⊙ l, or with ' +
    '`feedforward = true` the input, y\' = (x ⊙ l)·W + b (Hugging Face PEFT\'s IA3 and feedforward_modules).',
};
