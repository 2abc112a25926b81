// The fine-tuning methods as plug-ins. Each entry holds the method's settings (methods.ts),
// where the tracer applies it, its rewrite of that call, and an optional regulariser the
// autodiff runs after the backward pass. The tracer (trace.ts) and the Training IR
// (training.ts) read this table and nothing method-specific; a new method is one entry here
// plus its rewrite file.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import type { Regulariser } from '../autodiff/backward.ts';
import type { ModuleInst } from '../modules.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';
import type { Value } from '../values.ts';
import { applyAdapter } from './adapter.ts';
import { applyIa3 } from './ia3.ts';
import type { MethodApp } from './assign.ts';
import { applyLora } from './lora.ts';
import { applyLoraEmbedding } from './lora-embedding.ts';
import { METHODS, type MethodName, type MethodSpec } from './methods.ts';
import { rankGradients } from './rank-gradients.ts';
import { applyPrompt, applyPromptTemplate } from './prompt.ts';

/**
 * Where the tracer applies a method: a Linear's output, the token embedding, any module call's
 * output, or the keys and values of `attention` (prefix tuning, read by functions.ts through
 * the tracer's `prefix`).
 */
export type RewriteSite = 'linear' | 'embedding' | 'module' | 'attention';

/** One call the method rewrites. */
export interface MethodCall {
  module: ModuleInst;
  inputs: Tensor[];
  range: SourceRange;
  /**
   * Traces the call as the base model makes it, with the methods listed before this one at the
   * same site applied (at most once, first, to keep node order); `inputs` replaces the call's
   * inputs (IA³ on a feed-forward module scales them).
   */
  base(inputs?: Tensor[]): Value;
}

export interface MethodPlugin {
  settings: MethodSpec;
  /** Where it applies; LoRA has two sites, a Linear's output and the token embedding's lookup. */
  site: RewriteSite | RewriteSite[];
  /** The call at `site` with the method applied; none for `attention` (the attention function asks the tracer's prefix). */
  apply?(h: MethodHost, app: MethodApp, call: MethodCall): Value;
  /** A term added to the gradients after the backward pass. */
  regularise?: Regulariser;
}

export const PLUGINS: Record<MethodName, MethodPlugin> = {
  lora: {
    settings: METHODS.lora,
    site: ['linear', 'embedding'],
    apply: (h, app, c) => onOutput(c, (y) => (c.module.kind === 'Embedding' ? applyLoraEmbedding : applyLora)(h, app, c.module, c.inputs[0]!, y, c.range)),
    regularise: rankGradients,
  },
  adapter: {
    settings: METHODS.adapter,
    site: 'module',
    apply: (h, app, c) => onOutput(c, (y) => applyAdapter(h, app, c.inputs, y, c.range)),
  },
  prefix: { settings: METHODS.prefix, site: 'attention' },
  // After lora in the table: with both on one Linear, IA³ scales the LoRA'd output (or input).
  ia3: {
    settings: METHODS.ia3,
    site: 'linear',
    apply: (h, app, c) => applyIa3(h, app, c.module, c.inputs[0]!, (x) => c.base([x]), c.range),
  },
  prompt: {
    settings: METHODS.prompt,
    site: 'embedding',
    apply(h, app, c) {
      // A template replaces the lookup itself; a plain soft prompt is prepended to its output.
      if (app.settings.template) return applyPromptTemplate(h, app, c.module, h.moduleParam(c.module, 'weight'), c.inputs[0]!, c.range);
      return onOutput(c, (y) => applyPrompt(h, app, c.module, y, c.range));
    },
  },
};

/** The methods the tracer applies at `site`, in table order. */
export function methodsAt(site: RewriteSite): MethodName[] {
  return (Object.keys(PLUGINS) as MethodName[]).filter((name) => [PLUGINS[name].site].flat().includes(site) && PLUGINS[name].apply);
}

/** Every method's regulariser, in table order. */
export const REGULARISERS: readonly Regulariser[] = Object.values(PLUGINS).flatMap((p) => (p.regularise ? [p.regularise] : []));

/** The base call's output rewritten by `f`, or the output itself when it is not a tensor (a reported error). */
function onOutput(c: MethodCall, f: (y: Tensor) => Value): Value {
  const y = c.base();
  return y.kind === 'tensor' ? f(y) : y;
}
