// What a fine-tune adds to its base, read from its compiled graph (derivedPrefix): its LoRA
// modules (rank, sizes, scale), bottleneck adapters (width, activation, placement, scale), prompt
// and prefix lengths, the base modules it trains, and its parameter count. The multi-adapter
// runtime decides from this which adapters can share one pass (docs/multi-adapter.md).
import { loraScale } from '../peft/lora.ts';
import type { Graph, Param } from '../ir/types.ts';

export interface LoraPart {
  module: string;
  rank: number;
  fin: number;
  fout: number;
  /** alpha/r, or alpha/√r with rsLoRA. */
  scale: number;
}

export interface BottleneckPart {
  /** The module whose output the adapter wraps. */
  module: string;
  width: number;
  din: number;
  dout: number;
  activation: string;
  placement: 'serial' | 'parallel';
  scale: number;
}

export interface AdapterShape {
  lora: LoraPart[];
  adapters: BottleneckPart[];
  /** Soft prompt tokens (0: none). */
  prompt: number;
  /** Prefix length (0: none). */
  prefix: number;
  /** Base modules whose own weights it trains (`train "…"`, or every module of a full fine-tune). */
  train: string[];
  /** Kept trainable parameters (what the adapter file holds). */
  params: number;
  /** Parameters of other kinds (e.g. AdaLoRA's singular values): such an adapter runs its own graph. */
  other: string[];
}

const count = (p: Param) => p.shape.reduce((a, b) => a * b, 1);

export function describeAdapter(g: Graph): AdapterShape {
  const kept = g.params.filter((p) => p.partition === 'trainable' && !p.transient);
  const byPath = new Map(g.params.map((p) => [p.path, p]));
  const lora: LoraPart[] = [];
  const adapters: BottleneckPart[] = [];
  const known = new Set<string>();
  for (const p of kept) {
    const m = p.method;
    if (p.origin === 'lora' && m && p.path === `${m.module}.lora_A.weight`) {
      const B = byPath.get(`${m.module}.lora_B.weight`);
      if (!B || typeof m.settings.rank !== 'number') continue;
      known.add(p.path).add(B.path);
      lora.push({ module: m.module, rank: p.shape[0]!, fin: p.shape[1]!, fout: B.shape[0]!, scale: loraScale(m.settings) });
    }
    // A preset adapter (AdapterHub's, at the residual junction: peft/sublayer.ts) is no module-output
    // adapter a bank could stack: it stays among `other` and runs its own graph.
    if (p.origin === 'adapter' && m && p.path.endsWith('.adapter.down.weight') && !m.settings.preset) {
      const up = byPath.get(p.path.replace(/down\.weight$/, 'up.weight'))!;
      for (const t of ['down.weight', 'down.bias', 'up.weight', 'up.bias']) known.add(p.path.replace(/down\.weight$/, t));
      adapters.push({
        module: m.module,
        width: p.shape[0]!,
        din: p.shape[1]!,
        dout: up.shape[0]!,
        activation: String(m.settings.activation),
        placement: m.settings.placement === 'parallel' ? 'parallel' : 'serial',
        scale: Number(m.settings.scale),
      });
    }
  }
  const prompt = g.promptLength;
  const prefixParam = kept.find((p) => p.origin === 'prefix');
  const prefix = prefixParam?.method ? Number(prefixParam.method.settings.length) : 0;
  const train = [...new Set(kept.filter((p) => p.origin === 'base' || p.origin === 'head').map((p) => p.method?.name === 'train' ? p.method.module : p.module))];
  const other = kept.filter((p) => (p.origin === 'lora' || p.origin === 'adapter') && !known.has(p.path)).map((p) => p.path);
  return { lora, adapters, prompt, prefix, train, params: kept.reduce((a, p) => a + count(p), 0), other };
}

/** One line: `lora r=8 on 4 modules, adapter 16 on 2, prompt 10`. */
export function summarizeShape(s: AdapterShape): string {
  const parts: string[] = [];
  if (s.lora.length) {
    const ranks = [...new Set(s.lora.map((l) => l.rank))].join('/');
    parts.push(`lora r=${ranks} on ${s.lora.length} module${s.lora.length === 1 ? '' : 's'}`);
  }
  if (s.adapters.length) {
    const widths = [...new Set(s.adapters.map((a) => a.width))].join('/');
    parts.push(`adapter ${widths} on ${s.adapters.length}`);
  }
  if (s.prompt) parts.push(`prompt ${s.prompt}`);
  if (s.prefix) parts.push(`prefix ${s.prefix}`);
  if (s.other.length) parts.push(`${s.other.length} other tensor${s.other.length === 1 ? '' : 's'}`);
  if (s.train.length) parts.push(`trains ${s.train.length} base module${s.train.length === 1 ? '' : 's'}`);
  return parts.join(', ') || 'nothing';
}
