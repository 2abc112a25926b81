// Adapters stacked into a graph as fixed parts of the model, each under its own name, in the
// frozen partition: what `peftc train --frozen-adapter NAME=DIR` trains on top of, and how
// adapters run one after another at serve time (docs/multi-adapter.md).
//
//   LoRA on m:     y += w·s · (x·Aᵀ)·Bᵀ            A `<m>.lora_A.<name>.weight`, B `<m>.lora_B.<name>.weight`
//   adapter on m:  y += w·s · up(act(down(src)))   `<m>.adapters.<name>.{down,up}.{weight,bias}`
//
// Parts apply in the order given: a serial adapter reads the output of the ones before it, and
// the graph's own (trained) adapter on the same module reads the output of all of them, so it
// sits on top. LoRA updates add, so their order does not matter.
import type { Graph, Param } from '../ir/types.ts';
import { ACTIVATION_OPS } from '../peft/adapter.ts';
import type { AdapterShape } from './describe.ts';
import { addHook, GraphEditor, linearSite, moduleSite, MultiGraphError, type Hook } from './edit.ts';

export interface StackPart {
  /** The adapter's name (a path segment: letters, digits, `_`, `-`). */
  name: string;
  shape: AdapterShape;
  /** Multiplies the part's output (its scale stays as trained). Default 1. */
  weight?: number;
}

export const stackPaths = {
  loraA: (m: string, name: string) => `${m}.lora_A.${name}.weight`,
  loraB: (m: string, name: string) => `${m}.lora_B.${name}.weight`,
  adapter: (m: string, name: string, t: 'down.weight' | 'down.bias' | 'up.weight' | 'up.bias') => `${m}.adapters.${name}.${t}`,
};

/** Renames an adapter's own parameter path to its stacked name (undefined: not a stackable part). */
export function stackedPath(path: string, name: string): string | undefined {
  const lora = /^(.*)\.lora_([AB])\.weight$/.exec(path);
  if (lora) return `${lora[1]}.lora_${lora[2]}.${name}.weight`;
  const ad = /^(.*)\.adapter\.(down|up)\.(weight|bias)$/.exec(path);
  if (ad) return `${ad[1]}.adapters.${name}.${ad[2]}.${ad[3]}`;
  return undefined;
}

const NAME = /^[A-Za-z0-9_-]+$/;

/** `g` with the parts inserted; their parameters are frozen, origin lora / adapter. */
export function stackAdapters(g: Graph, parts: StackPart[]): Graph {
  const hooks = new Map<number, Hook[]>();
  const seen = new Set<string>();
  for (const part of parts) {
    if (!NAME.test(part.name)) throw new MultiGraphError(`adapter name \`${part.name}\` must be letters, digits, _ or -`);
    if (seen.has(part.name)) throw new MultiGraphError(`adapter \`${part.name}\` is stacked twice`);
    seen.add(part.name);
    const s = part.shape;
    if (s.prompt || s.prefix || s.train.length || s.other.length) {
      // A bottleneck parameter among `other` is a preset adapter's (describe.ts leaves those out).
      const preset = /^(.*)\.adapter\.(down|up)\./.exec(s.other[0] ?? '');
      const what = s.prompt ? 'a prompt' : s.prefix ? 'a prefix' : s.train.length ? 'trained base modules' : preset ? `an \`adapter(preset = …)\` on \`${preset[1]}\` (AdapterHub's, at the residual junction), which runs only in its own graph` : `\`${s.other[0]}\``;
      throw new MultiGraphError(`adapter \`${part.name}\` has ${what}; only LoRA and plain bottleneck adapters stack`);
    }
  }
  const frozen = (part: StackPart, path: string, shape: number[], origin: 'lora' | 'adapter', module: string, settings: Record<string, number | string | boolean>): Param => ({
    path, shape, dtype: 'f32', init: { kind: 'zeros' }, partition: 'frozen', origin, module,
    method: { name: origin, module: module.replace(`.adapters.${part.name}`, ''), settings: { ...settings, adapter: part.name, weight: part.weight ?? 1 } },
  });
  // LoRA first (it is inside its Linear, below any adapter on that module's output).
  for (const part of parts) {
    const w = part.weight ?? 1;
    for (const l of part.shape.lora) {
      const site = linearSite(g, l.module);
      addHook(hooks, site.node, (ed, y) => {
        ed.scope = l.module;
        const settings = { rank: l.rank, scale: l.scale };
        const A = ed.param(frozen(part, stackPaths.loraA(l.module, part.name), [l.rank, l.fin], 'lora', l.module, settings));
        const B = ed.param(frozen(part, stackPaths.loraB(l.module, part.name), [l.fout, l.rank], 'lora', l.module, settings));
        const down = ed.emit('linear', [ed.value(site.x), A], { layout: 'out_in' });
        const up = ed.emit('linear', [down, B], { layout: 'out_in' });
        return ed.emit('add', [y, ed.emit('scale', [up], { factor: w * l.scale })]);
      });
    }
  }
  // Then adapters: deeper modules first; on one module, in the order of the parts.
  const adapters = parts.flatMap((part) => part.shape.adapters.map((a) => ({ part, a })));
  adapters.sort((x, y) => y.a.module.split('.').length - x.a.module.split('.').length);
  for (const { part, a } of adapters) {
    const w = part.weight ?? 1;
    const site = moduleSite(g, a.module);
    if (a.placement === 'parallel' && site.input === undefined) throw new MultiGraphError(`a parallel adapter on \`${a.module}\` needs the module's one input, which this graph does not show`);
    addHook(hooks, site.output, (ed, y) => {
      const m = `${a.module}.adapters.${part.name}`;
      ed.scope = m;
      const src = a.placement === 'parallel' ? ed.value(site.input!) : y;
      const settings = { bottleneck: a.width, activation: a.activation, placement: a.placement, scale: a.scale };
      const p = (t: 'down.weight' | 'down.bias' | 'up.weight' | 'up.bias', shape: number[]) => ed.param(frozen(part, stackPaths.adapter(a.module, part.name, t), shape, 'adapter', m, settings));
      const h = ed.emit('linear', [src, p('down.weight', [a.width, a.din]), p('down.bias', [a.width])], { layout: 'out_in' });
      const act = ed.emit(ACTIVATION_OPS[a.activation]!, [h]);
      const up = ed.emit('linear', [act, p('up.weight', [a.dout, a.width]), p('up.bias', [a.dout])], { layout: 'out_in' });
      const f = w * a.scale;
      return ed.emit('add', [y, f === 1 ? up : ed.emit('scale', [up], { factor: f })]);
    });
  }
  return new GraphEditor(g).build(hooks);
}
