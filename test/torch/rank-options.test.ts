// The torch target and the rank-selection options of `auto(…)` and `dynamic(…)`: train.py's
// port (codegen/torch/py/rank.py) draws DyLoRA's ranks from min … max as peftc does, clamped to
// each module's own range, AdaLoRA's form reaches its config, and `update = sampled`, which the
// port does not implement, is refused in one line when the target is built.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CodegenError } from '../../codegen/codegen-error.ts';
import { rankSelection } from '../../codegen/torch/rank-config.ts';
import { RankController } from '../../runtime/rank-controller.ts';
import { graphOfText } from '../helpers.ts';
import { runPython } from './torch-helpers.ts';

const TINY = 'vocab_size=32,n_positions=64,n_embd=16,n_layer=2,n_head=2';
const program = (rules: string) => graphOfText(`import "gpt2.peft"\npeft { ${rules} }`, [TINY]);

describe('rank options in the torch target', () => {
  it("rank.py draws DyLoRA's ranks as peftc: min … max, clamped per module", () => {
    const g = program('lora(rank = dynamic(max = 6, min = 3), alpha = 6) on "h.0.attn.c_attn"\n lora(rank = dynamic(max = 4, min = 2), alpha = 4) on "h.1.attn.c_attn"');
    const config = rankSelection(g)!;
    expect(config.modules.map((m) => [m.rank, m.min])).toEqual([[6, 3], [4, 2]]);
    const ctl = new RankController(g, { seed: 9 });
    const want = Array.from({ length: 40 }, (_, s) => ctl.modules.map((m) => ctl.dynamicRankOf(s, m)));
    const script = [
      'import json, sys',
      `sys.path.insert(0, ${JSON.stringify(resolve('codegen/torch/py'))})`,
      'import rank',
      'class M: pass',
      'model = M()',
      'model.named_parameters = lambda: []',
      `sel = rank.RankSelection(json.loads(${JSON.stringify(JSON.stringify(config))}), model, 40, 9)`,
      'out = []',
      'for s in range(40):',
      '    sel.train_masks(s)',
      "    out.append([int((v != 0).sum()) for v in model.rank_masks.values()])",
      'print(json.dumps(out))',
    ].join('\n');
    const r = runPython(['-c', script]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(want);
    expect(new Set(want.map((x) => x[0])).size).toBeGreaterThan(2);
  });

  it("passes AdaLoRA's form, and refuses DyLoRA's sampled update in one line", () => {
    expect(rankSelection(program('lora(rank = auto(target = 2, init = 4)) on "c_attn"'))!.form).toBe('peft');
    expect(rankSelection(program('lora(rank = auto(target = 2, init = 4, form = paper)) on "c_attn"'))!.form).toBe('paper');
    const sampled = () => rankSelection(program('lora(rank = dynamic(max = 4, update = sampled)) on "c_attn"'));
    expect(sampled).toThrow(CodegenError);
    expect(sampled).toThrow("DyLoRA's `update = sampled` (on `h.0.attn.c_attn`) is not supported by the torch target; train it here, or use the prefix update");
  });
});
