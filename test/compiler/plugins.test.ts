// The fine-tuning methods as plug-ins (compiler/peft/plugins.ts): the tracer applies each at its
// site, and the autodiff takes the methods' regularisers as input instead of knowing AdaLoRA.
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIMIZER, differentiate, type Regulariser } from '../../compiler/autodiff/backward.ts';
import { METHODS } from '../../compiler/peft/methods.ts';
import { methodsAt, PLUGINS, REGULARISERS } from '../../compiler/peft/plugins.ts';
import { rankGradients } from '../../compiler/peft/rank-gradients.ts';
import { rankedModules } from '../../compiler/peft/ranked-modules.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { graphOf } from '../helpers.ts';

const orthogonalityNodes = (t: ReturnType<typeof differentiate>) => t.graph.nodes.filter((n) => n.scope.endsWith('∂orthogonality')).length;

describe('methods as plug-ins', () => {
  it('has one entry per method, with its settings, and a rewrite wherever the tracer calls one', () => {
    expect(Object.keys(PLUGINS).sort()).toEqual(Object.keys(METHODS).sort());
    for (const [name, p] of Object.entries(PLUGINS)) {
      expect(p.settings).toBe(METHODS[name as keyof typeof METHODS]);
      // Prefix tuning's keys and values are asked for by the attention function; every other site calls apply.
      expect(typeof p.apply === 'function').toBe(p.site !== 'attention');
    }
    expect(methodsAt('linear')).toEqual(['lora', 'ia3']);
    expect(methodsAt('module')).toEqual(['adapter']);
    expect(methodsAt('embedding')).toEqual(['lora', 'prompt']); // LoRA on a token embedding, as PEFT's lora.Embedding
    expect(methodsAt('attention')).toEqual([]);
    expect(REGULARISERS).toEqual([rankGradients]);
  });

  it("the autodiff adds no regulariser it is not given; the Training IR passes AdaLoRA's orthogonality term in", () => {
    const g = graphOf('tiny-gpt-adalora.peft');
    const bare = differentiate(g, DEFAULT_OPTIMIZER, []);
    const full = buildTrainingGraph(g);
    expect(orthogonalityNodes(bare)).toBe(0);
    // A and B of every auto-ranked module, PEFT's form: gram, M = gram − I, its inverse norm
    // (mul, linear_grad_weight, inv_row_norm, mul, inv_row_norm, linear), M scaled, the product,
    // scale and add: 13 per matrix; and once for r = 12, the ones input and the identity built
    // from it (a slice, 12 pads, 11 concats).
    expect(rankedModules(g).length).toBeGreaterThan(0);
    expect(orthogonalityNodes(full)).toBe(rankedModules(g).length * 2 * 13 + 1 + 1 + 12 + 11);
    expect(full.graph.nodes.length - bare.graph.nodes.length).toBe(orthogonalityNodes(full));
    // Without the regulariser each gradient is the backward pass's own node; with it, a sum after it.
    const gradOf = (t: typeof bare, path: string) => t.grads.find((x) => x.path === path)!.node;
    const path = full.grads.find((x) => x.path.endsWith('lora_A.weight'))!.path;
    expect(gradOf(full, path)).toBeGreaterThan(bare.graph.nodes.length - 1);
    expect(gradOf(bare, path)).toBeLessThan(bare.graph.nodes.length);
  });

  it('runs the regularisers it is given, in order, on the gradients of the backward pass', () => {
    const g = graphOf('tiny-gpt-lora.peft');
    const seen: string[] = [];
    const mark = (name: string): Regulariser => (t) => {
      seen.push(name);
      return { ...t, grads: t.grads.map((x) => ({ ...x })) };
    };
    const t = differentiate(g, DEFAULT_OPTIMIZER, [mark('first'), mark('second')]);
    expect(seen).toEqual(['first', 'second']);
    expect(t.grads.length).toBeGreaterThan(0);
    // Fixed-rank LoRA has no auto-ranked module: the orthogonality term leaves the graph as it is.
    expect(buildTrainingGraph(g).graph.nodes.length).toBe(differentiate(g).graph.nodes.length);
  });
});
