// LoRA+ (Hayou et al. 2024) as Hugging Face PEFT's create_loraplus_optimizer groups parameters:
// with `lora(…, lr_ratio = λ)`, B's learning rate is λ × A's. PEFT's group B holds `lora_B` and
// every 1-D trainable parameter, so a DoRA magnitude vector of the module steps with B too. The
// optimizers (runtime/optim.ts, the WebGPU update kernel) read this multiplier per parameter.
import type { Param } from '../ir/types.ts';

/** The learning-rate multiplier of a parameter: λ for a LoRA+ module's B and magnitude, else 1. */
export function lrScale(p: Pick<Param, 'path' | 'method'>): number {
  const ratio = p.method?.name === 'lora' ? p.method.settings.lr_ratio : undefined;
  if (typeof ratio !== 'number') return 1;
  return p.path.endsWith('.lora_B.weight') || p.path.endsWith('.lora_magnitude_vector') ? ratio : 1;
}
