// Prefix tuning (Li & Liang 2021): every targeted attention layer l gets P extra keys
// and values, prepended to its own and visible to every query. All layers' prefixes
// come from one table [P, 2·L·kvd] (layer l's keys at slot 2l, values at 2l+1), either
// trained directly or, with `reparam = mlp(hidden = h)`, produced by
//   Embedding[P, e] → Linear(e → h) → tanh → Linear(h → 2·L·kvd)
// whose parameters are transient: discarded after training, keeping only the table.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { Codes } from '../codes.ts';
import type { ModuleInst } from '../modules.ts';
import type { MethodHost, PrefixKV, PrefixSource, Tensor } from '../trace-host.ts';
import type { MethodApp } from './assign.ts';

export class PrefixState implements PrefixSource {
  private table?: Tensor;
  private kvd = 0;

  /** The node of the table produced by the reparameterisation MLP, if any. */
  tableNode?: number;

  /**
   * With `derived`, the table is a plain parameter `prefix_embeddings` even when the method
   * has an MLP: the form a fine-tune takes once the MLP is discarded.
   */
  constructor(
    readonly apps: MethodApp[],
    readonly derived = false,
  ) {}

  get length(): number {
    return (this.apps[0]?.settings.length as number) ?? 0;
  }

  /** Keys and values [B, P, kvd] for the attention call inside `block`, if it is prefix-tuned. */
  kv(t: MethodHost, block: ModuleInst, q: Tensor, kvd: number, range: SourceRange): PrefixKV | undefined {
    const l = this.apps.findIndex((a) => a.module === block);
    if (l < 0) return undefined;
    const table = this.tableFor(t, q, kvd);
    if (!table) return undefined;
    if (kvd !== this.kvd) {
      t.r.error(Codes.ShapeMismatch, `prefix-tuned layers must share one key width; \`${block.path}\` has ${kvd}, an earlier layer ${this.kvd}`, range);
      return undefined;
    }
    const at = (slot: number) => t.op('slice', [table], { axis: 1, start: slot * kvd, size: kvd }, range);
    const k = at(2 * l);
    const v = at(2 * l + 1);
    if (k.kind !== 'tensor' || v.kind !== 'tensor') return undefined;
    const ek = t.op('expand_batch', [k, q], {}, range);
    const ev = t.op('expand_batch', [v, q], {}, range);
    if (ek.kind !== 'tensor' || ev.kind !== 'tensor') return undefined;
    return { k: ek, v: ev, length: this.length };
  }

  private tableFor(t: MethodHost, q: Tensor, kvd: number): Tensor | undefined {
    if (this.table) return this.table;
    const app = this.apps[0]!;
    const P = this.length;
    const width = 2 * this.apps.length * kvd;
    const hidden = app.settings.hidden as number;
    const saved = t.b.scope;
    t.b.scope = 'prefix_encoder';
    const base = { origin: 'prefix' as const, method: app, src: app.range };
    this.kvd = kvd;
    if (hidden === 0 || this.derived) {
      // N(0, 1): PEFT's PrefixEncoder without projection is a bare nn.Embedding at its own init.
      this.table = t.param('prefix_embeddings', [P, width], { ...base, module: 'prefix', init: { kind: 'normal', std: 1 } });
    } else {
      const qs = t.shapeOf(q);
      const e = qs[qs.length - 1] as number;
      const mlp = { ...base, module: 'prefix_encoder', transient: true };
      const u = (fanIn: number) => ({ kind: 'uniform' as const, bound: 1 / Math.sqrt(fanIn) });
      const E = t.param('prefix_encoder.embedding.weight', [P, e], { ...mlp, init: { kind: 'normal', std: 1 } });
      const w1 = t.param('prefix_encoder.transform.0.weight', [hidden, e], { ...mlp, init: u(e) });
      const b1 = t.param('prefix_encoder.transform.0.bias', [hidden], { ...mlp, init: u(e) });
      const w2 = t.param('prefix_encoder.transform.2.weight', [width, hidden], { ...mlp, init: u(hidden) });
      const b2 = t.param('prefix_encoder.transform.2.bias', [width], { ...mlp, init: u(hidden) });
      const h = t.op('linear', [E, w1, b1], { layout: 'out_in' }, app.range);
      const a = h.kind === 'tensor' ? t.op('tanh', [h], {}, app.range) : h;
      const out = a.kind === 'tensor' ? t.op('linear', [a, w2, b2], { layout: 'out_in' }, app.range) : a;
      if (out.kind === 'tensor') {
        this.table = out;
        this.tableNode = out.id;
      }
    }
    t.b.scope = saved;
    return this.table;
  }
}
