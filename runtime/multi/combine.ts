// Combining adapters (docs/multi-adapter.md).
//
// LoRA updates add: stacking LoRA adapters, averaging them or taking a weighted sum is one LoRA
//   ΔW = Σ wᵢ·sᵢ·Bᵢ·Aᵢ = [w₁s₁B₁ | w₂s₂B₂ | …] · [A₁; A₂; …]
// whose rank at each module is the sum of the ranks there. `concatLora` builds it without merging
// (an adapter like any other: it loads into a set, exports to PEFT, merges); `mergeLora` folds the
// same sum into base weights. Bottleneck adapters do not add: `stackParts` runs them one after
// another, each on the output of the ones before (compiler/multi/stack.ts).
import { compile } from '../../compiler/build.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import type { SourceHost } from '../../compiler/load.ts';
import { describeAdapter, type AdapterShape, type LoraPart } from '../../compiler/multi/describe.ts';
import { stackAdapters, stackedPath } from '../../compiler/multi/stack.ts';
import { AdapterSetError, type BaseModel, type LoadedAdapter } from './set.ts';

/** The base program, to compile the .peft of a combination (an `import` of it plus a `peft` block). */
export interface BaseProgram {
  /** The base .peft file (absolute path). */
  entry: string;
  host: SourceHost;
  set: string[];
}

export interface Part {
  adapter: LoadedAdapter;
  weight: number;
}

export interface Combined {
  adapter: LoadedAdapter;
  /** Its .peft text (importing the base). */
  text: string;
  /** Where that text was compiled from, and every file it loaded (for a checkpoint's record). */
  entry: string;
  files: Record<string, string>;
}

function loraOnly(p: Part): { shape: AdapterShape; lora: LoraPart[] } {
  const shape = describeAdapter(p.adapter.graph);
  const extra = [shape.adapters.length && 'bottleneck adapters', shape.prompt && 'a prompt', shape.prefix && 'a prefix', shape.train.length && 'trained base modules', shape.other.length && `\`${shape.other[0]}\``].filter(Boolean);
  if (extra.length || shape.lora.length === 0) {
    throw new AdapterSetError(`\`${p.adapter.name}\` has ${extra.length ? extra.join(', ') : 'no LoRA'}: only LoRA adapters sum into one adapter (bottleneck adapters stack: see \`--use a+b\` and \`peftc train --frozen-adapter\`)`);
  }
  return { shape, lora: shape.lora };
}

/** The .peft of one LoRA with these ranks per module (alpha = rank: scale 1, the scales are in B). */
export function loraProgram(base: BaseProgram, ranks: Map<string, number>, header: string): string {
  const byRank = new Map<number, string[]>();
  for (const [m, r] of ranks) byRank.set(r, [...(byRank.get(r) ?? []), m]);
  const rules = [...byRank].map(([r, mods]) => `  lora(rank = ${r}, alpha = ${r}) on ${mods.map((m) => JSON.stringify(m)).join(', ')}`);
  return [`# ${header}`, `import ${JSON.stringify(base.entry)}`, '', 'peft {', ...rules, '}', ''].join('\n');
}

/** Compiles a generated .peft next to the base entry (derivedPrefix: the model as used). */
export function compileGenerated(base: BaseProgram, text: string, name: string): { graph: Graph; entry: string; files: Record<string, string> } {
  const entry = `${base.entry.replace(/\.peft$/, '')}.${name}.peft`;
  const host: SourceHost = { read: (p) => (p === entry ? text : base.host.read(p)), resolve: base.host.resolve };
  const res = compile(entry, host, { set: base.set, derivedPrefix: true });
  if (!res.graph) {
    const d = res.diagnostics.find((x) => x.severity === 'error');
    throw new AdapterSetError(`internal: the generated .peft of \`${name}\` does not compile: ${d ? `${d.code} ${d.message}` : 'unknown error'}`);
  }
  return { graph: res.graph, entry, files: Object.fromEntries(res.texts) };
}

/**
 * Σ wᵢ·(LoRA update of adapter i) as one LoRA adapter, without merging: at each module the ranks
 * concatenate, A = [A₁; A₂; …], B = [w₁s₁B₁ | w₂s₂B₂ | …], alpha = rank. Stack = weights 1,
 * average = weights 1/n.
 */
export function concatLora(name: string, parts: Part[], base: BaseProgram): Combined {
  if (parts.length === 0) throw new AdapterSetError('nothing to combine');
  const shapes = parts.map(loraOnly);
  const ranks = new Map<string, number>();
  const info = new Map<string, LoraPart>();
  shapes.forEach((s) => {
    for (const l of s.lora) {
      ranks.set(l.module, (ranks.get(l.module) ?? 0) + l.rank);
      info.set(l.module, l);
    }
  });
  const header = `${parts.map((p) => `${p.weight}·${p.adapter.name}`).join(' + ')}: LoRA updates summed by concatenating ranks (peftc combine)`;
  const text = loraProgram(base, ranks, header);
  const { graph, entry, files } = compileGenerated(base, text, name);
  const values = new Map<string, Float32Array>();
  for (const [m, R] of ranks) {
    const { fin, fout } = info.get(m)!;
    const A = new Float32Array(R * fin);
    const B = new Float32Array(fout * R);
    let at = 0;
    parts.forEach((p, i) => {
      const l = shapes[i]!.lora.find((x) => x.module === m);
      if (!l) return;
      A.set(p.adapter.values.get(`${m}.lora_A.weight`)!, at * fin);
      const b = p.adapter.values.get(`${m}.lora_B.weight`)!;
      const f = p.weight * l.scale;
      for (let o = 0; o < fout; o++) for (let j = 0; j < l.rank; j++) B[o * R + at + j] = f * b[o * l.rank + j]!;
      at += l.rank;
    });
    values.set(`${m}.lora_A.weight`, A);
    values.set(`${m}.lora_B.weight`, B);
  }
  const kept = graph.params.filter((p) => p.partition === 'trainable').map((p) => p.path).sort();
  if (kept.join() !== [...values.keys()].sort().join()) throw new AdapterSetError(`internal: the combined .peft of \`${name}\` adapts other modules than its parts`);
  return { adapter: { name, graph, values, source: `combine(${parts.map((p) => p.adapter.name).join(', ')})` }, text, entry, files };
}

/**
 * Base weights with Σ wᵢ·sᵢ·Bᵢ·Aᵢ folded in, by parameter path (only the adapted weights):
 * W + (…)ᵀ for a Conv1D stored [in, out], W + … for a Linear [out, in]. Summed in float64 per
 * weight and rounded once.
 */
export function mergeLora(base: BaseModel, parts: Part[]): Map<string, Float32Array> {
  const deltas = new Map<string, { d: Float64Array; fin: number; fout: number }>();
  for (const p of parts) {
    for (const l of loraOnly(p).lora) {
      const e = deltas.get(l.module) ?? { d: new Float64Array(l.fin * l.fout), fin: l.fin, fout: l.fout };
      const a = p.adapter.values.get(`${l.module}.lora_A.weight`)!;
      const b = p.adapter.values.get(`${l.module}.lora_B.weight`)!;
      const f = p.weight * l.scale;
      for (let o = 0; o < l.fout; o++) {
        for (let i = 0; i < l.fin; i++) {
          let acc = 0;
          for (let k = 0; k < l.rank; k++) acc += b[o * l.rank + k]! * a[k * l.fin + i]!;
          e.d[o * l.fin + i]! += f * acc;
        }
      }
      deltas.set(l.module, e);
    }
  }
  const out = new Map<string, Float32Array>();
  for (const [m, { d, fin, fout }] of deltas) {
    const path = `${m}.weight`;
    const w = base.arena.view(path);
    const inOut = linearLayout(base.graph, m) === 'in_out';
    const merged = new Float32Array(w.length);
    for (let o = 0; o < fout; o++) {
      for (let i = 0; i < fin; i++) {
        const at = inOut ? i * fout + o : o * fin + i;
        merged[at] = w[at]! + d[o * fin + i]!;
      }
    }
    out.set(path, merged);
  }
  return out;
}

function linearLayout(g: Graph, m: string): string | undefined {
  const n = g.nodes.find((x) => x.op === 'linear' && x.scope === m && g.nodes[x.inputs[1]!]?.attrs.path === `${m}.weight`);
  return n?.attrs.layout as string | undefined;
}

/**
 * Adapters one after another, as one adapter that runs its own graph: the base with each part
 * inserted (frozen) in order; a serial bottleneck adapter reads the output of the ones before.
 * Each part's output is multiplied by its weight. LoRA-only parts are better summed (concatLora):
 * the result then shares the bank.
 */
export function stackParts(name: string, parts: Part[], base: BaseModel): LoadedAdapter {
  const graph = stackAdapters(base.graph, parts.map((p) => ({ name: p.adapter.name, shape: describeAdapter(p.adapter.graph), weight: p.weight })));
  const values = new Map<string, Float32Array>();
  for (const p of parts) {
    for (const [path, v] of p.adapter.values) {
      const to = stackedPath(path, p.adapter.name);
      if (!to) throw new AdapterSetError(`\`${p.adapter.name}\` has \`${path}\`, which does not stack`);
      values.set(to, v);
    }
  }
  // Its own values are the parts' (the second arena); the base stays frozen.
  for (const p of graph.params) p.partition = values.has(p.path) ? 'trainable' : 'frozen';
  return { name, graph, values, source: `stack(${parts.map((p) => p.adapter.name).join(', ')})`, standalone: true };
}

/**
 * The parts below run inside the top adapter's own graph, frozen, the top as it was trained: how
 * a fine-tune trained on top of frozen adapters runs, and what `peftc combine a+b` saves when `b`
 * does not stack (a preset bottleneck adapter, a prompt, a prefix, trained base modules).
 */
export function stackUnder(name: string, top: LoadedAdapter, below: Part[]): LoadedAdapter {
  const graph = stackAdapters(top.graph, below.map((p) => ({ name: p.adapter.name, shape: describeAdapter(p.adapter.graph), weight: p.weight })));
  const values = new Map(top.values);
  for (const p of below) {
    for (const [path, v] of p.adapter.values) values.set(stackedPath(path, p.adapter.name) ?? path, v);
  }
  for (const p of graph.params) p.partition = values.has(p.path) ? 'trainable' : 'frozen';
  return { name, graph, values, source: top.source, standalone: true };
}

/** Whether an adapter's parts can be inserted into another graph (stackAdapters' rule). */
function stacks(a: LoadedAdapter): boolean {
  const s = describeAdapter(a.graph);
  return !a.standalone && !s.prompt && !s.prefix && !s.train.length && !s.other.length;
}

/**
 * A serve-time combination: `a+b` stacks (LoRA-only parts are summed into one bank adapter, which
 * is the same thing), `0.5*a+0.5*b` weighs each part's output. A top part that does not stack
 * runs its own graph with the others below it, as `peftc combine` saves the same `--use`.
 */
export function combine(name: string, parts: Part[], base: BaseModel, program: BaseProgram): LoadedAdapter {
  const allLora = parts.every((p) => {
    const s = describeAdapter(p.adapter.graph);
    return s.lora.length > 0 && !s.adapters.length && !s.prompt && !s.prefix && !s.train.length && !s.other.length;
  });
  if (allLora) return concatLora(name, parts, program).adapter;
  const top = parts[parts.length - 1]!;
  if (parts.length > 1 && !stacks(top.adapter)) {
    if (top.weight !== 1) throw new AdapterSetError(`\`${top.adapter.name}\` runs in its own graph, with the others stacked below it: it takes weight 1 (\`…+${top.adapter.name}\`)`);
    return stackUnder(name, top.adapter, parts.slice(0, -1));
  }
  return stackParts(name, parts, base);
}

/** `0.5*a + 0.5*b`, `a+b`, `a` → names and weights. */
export function parseCombination(expr: string): { name: string; weight: number }[] {
  const terms = expr.split('+').map((t) => t.trim());
  return terms.map((t) => {
    const m = /^(?:([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*\*\s*)?([A-Za-z0-9_-]+)$/i.exec(t);
    if (!m) throw new AdapterSetError(`cannot read \`${t}\` in \`${expr}\`: write NAME, or WEIGHT*NAME, joined by +`);
    return { name: m[2]!, weight: m[1] === undefined ? 1 : Number(m[1]) };
  });
}
