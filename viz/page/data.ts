// What viz/html.ts embeds in the page as JSON, and the colours both sides agree on.
import type { ParamSummary } from '../../compiler/params.ts';
import type { FrozenBytes } from '../../compiler/quant/frozen-bytes.ts';
import type { StepFlops } from '../flops.ts';
import type { Comparison, MethodKey, VizNode } from '../tree.ts';

export interface PageData {
  /** The model's name (`GPT2`). */
  model: string;
  /** The .peft file, as the user named it. */
  file?: string;
  /** Compiled with `--full`. */
  full: boolean;
  tree: VizNode;
  totals: Omit<ParamSummary, 'params'>;
  /** Hugging Face's line: `trainable params: 294,912 || all params: … || trainable%: 0.2364`. */
  summaryLine: string;
  /** The same after training, when a reparameterisation is discarded (prefix MLP). */
  keptLine?: string;
  /** Training costs against a full fine-tune of the same base (absent with several adapters). */
  comparison?: Comparison;
  /** The work of a training step, this fine-tune and the full one (viz/flops.ts). */
  flops?: { peft: StepFlops; full: StepFlops };
  /** Adapters loaded over one shared base (`peftc viz BASE.peft --adapter a=DIR …`). */
  adapters?: AdapterRows;
  /** What the frozen parameters weigh stored at a frozen dtype (`peftc viz --frozen-dtype`). */
  frozen?: FrozenBytes;
}

/** What each loaded adapter costs next to the shared base (docs/multi-adapter.md). */
export interface AdapterRows {
  rows: { name: string; what: string; params: number; bytes: number; where: string }[];
  baseParams: number;
  baseBytes: number;
  totalBytes: number;
}

/**
 * Okabe–Ito colours (distinguishable with the common colour-vision deficiencies); `text`
 * is the label colour with at least 4.5:1 contrast on `fill`; `tint` marks a module
 * that contains parameters of the method.
 */
export const COLORS: Record<MethodKey, { fill: string; text: string; tint: string }> = {
  frozen: { fill: '#c3cad4', text: '#1b1f24', tint: '#e6e9ee' },
  lora: { fill: '#0072b2', text: '#ffffff', tint: '#d5e7f3' },
  adapter: { fill: '#e69f00', text: '#1b1f24', tint: '#faecd1' },
  prefix: { fill: '#009e73', text: '#0b1f18', tint: '#d2eee5' },
  prompt: { fill: '#cc79a7', text: '#1b1f24', tint: '#f5e2ed' },
  ia3: { fill: '#f0e442', text: '#1b1f24', tint: '#fbf8d6' },
  train: { fill: '#d55e00', text: '#000000', tint: '#f8dfcd' },
  full: { fill: '#56b4e9', text: '#1b1f24', tint: '#dcf0fb' },
};
