// The flags of `peftc build`, read by both targets (build.ts for WebGPU, build-torch.ts for
// PyTorch); a file of its own so neither target imports the other for its type.
import type { SessionFlags } from './session.ts';

export interface BuildFlags extends SessionFlags {
  out: string;
  data?: string;
  batch: string;
  seq?: string;
  steps?: string;
  lr?: string;
  schedule: string;
  warmup: string;
  evalEvery?: string;
  evalRows?: string;
  optimizer?: string;
  weightDecay?: string;
  clip?: string;
  kernels?: string;
  maxDataBytes?: string;
  /** `--target webgpu|torch`: this WebGPU trainer, or a PyTorch one (build-torch.ts). */
  target?: string;
}
