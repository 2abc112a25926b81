// The PEFT methods: their settings (names, defaults, checks) and which modules each
// can apply to. The math of each lives in its rewrite file (lora.ts, adapter.ts, …).
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { Codes } from '../codes.ts';
import type { ParamSpec, Reporter } from '../evaluate.ts';
import type { ModuleInst } from '../modules.ts';
import { formatConst, type Const } from '../values.ts';
import { ADAPTER_ARGS, checkAdapter } from './adapter-settings.ts';
import { Checker, type Settings } from './setting-checker.ts';
import { lowRankPissa } from './lora-init-setting.ts';
import { rankSettings } from './rank-settings.ts';
import { parseTemplate } from './template.ts';

export type { Settings } from './setting-checker.ts';
export type MethodName = 'lora' | 'adapter' | 'prefix' | 'prompt' | 'ia3';

export interface MethodSpec {
  args: ParamSpec[];
  /** Why the method cannot apply to this module, or null if it can. */
  notApplicable(m: ModuleInst): string | null;
  /** Checks and normalises the bound settings; reports problems. */
  check(bound: Map<string, Const>, range: SourceRange, r: Reporter): Settings | undefined;
  targetRequired: boolean;
}

const num = (v: number): Const => ({ kind: 'num', v });
const sym = (name: string): Const => ({ kind: 'sym', name });
const bool = (v: boolean): Const => ({ kind: 'bool', v });

export const METHODS: Record<MethodName, MethodSpec> = {
  lora: {
    args: [
      { name: 'rank' },
      { name: 'alpha', default: num(NaN) },
      { name: 'dropout', default: num(0) },
      { name: 'rslora', default: bool(false) },
      { name: 'dora', default: bool(false) },
      { name: 'lr_ratio', default: num(1) },
      { name: 'init', default: sym('kaiming') },
    ],
    targetRequired: true,
    notApplicable: (m) => (m.kind === 'Linear' || m.kind === 'Embedding' ? null : `lora applies to Linear and Embedding layers; \`${m.path}\` is ${article(m)}`),
    check(bound, range, r) {
      const c = new Checker('lora', bound, range, r);
      // `rank = auto(…)` (AdaLoRA) or `rank = dynamic(…)` (DyLoRA): see rank-settings.ts.
      const ranked = rankSettings(bound.get('rank')!, range, r);
      if (ranked === undefined) return undefined;
      if (ranked) bound.set('rank', num(ranked.rank as number));
      c.int('rank');
      const alpha = bound.get('alpha');
      // Without an alpha the scale alpha/r is 1, as when alpha = rank.
      if (alpha?.kind === 'num' && Number.isNaN(alpha.v)) bound.set('alpha', bound.get('rank')!);
      c.number('alpha', 0);
      c.number('dropout', 0, 0.999);
      c.flag('rslora');
      c.flag('dora');
      if (c.out.dora === false) delete c.out.dora; // plain LoRA's settings stay as they were
      // LoRA+ (lora-plus.ts): B's learning rate is lr_ratio × A's.
      c.number('lr_ratio', Number.MIN_VALUE);
      if (c.out.lr_ratio === 1) delete c.out.lr_ratio;
      // A's initialisation as PEFT's init_lora_weights: True (kaiming-uniform), "gaussian", or the
      // factors of a decomposition of W that W then gives up (pissa, olora: lora-init in runtime/).
      const lowRank = lowRankPissa(bound, range, r); // init = pissa(niter = K): lora-init-setting.ts
      if (lowRank === undefined) return undefined;
      c.option('init', ['kaiming', 'gaussian', 'pissa', 'olora']);
      if (lowRank) Object.assign(c.out, lowRank);
      if ((c.out.init === 'pissa' || c.out.init === 'olora') && c.out.dora) {
        r.error(Codes.BadMethodSetting, `\`init = ${c.out.init}\` with DoRA is not supported: the magnitudes would start from the residual weights`, range);
        return undefined;
      }
      if (c.out.init === 'kaiming') delete c.out.init;
      if (ranked && c.out.init !== undefined) {
        r.error(Codes.BadMethodSetting, `\`init = ${c.out.init}\` is for a fixed rank; \`rank = ${ranked.rank_mode}(…)\` initialises its own factors`, range);
        return undefined;
      }
      if (ranked && c.out.lr_ratio !== undefined) {
        r.error(Codes.BadMethodSetting, `LoRA+'s lr_ratio is for a fixed rank; \`rank = ${ranked.rank_mode}(…)\` trains its own factors`, range);
        return undefined;
      }
      if (ranked && c.out.dora) {
        r.error(Codes.BadMethodSetting, `DoRA is for a fixed rank; \`rank = ${ranked.rank_mode}(…)\` selects ranks`, range);
        return undefined;
      }
      if (ranked && c.out.rslora) {
        r.error(Codes.BadMethodSetting, `rsLoRA's scale alpha/√r is for a fixed rank; \`rank = ${ranked.rank_mode}(…)\` sets its own scale`, range);
        return undefined;
      }
      if (ranked) Object.assign(c.out, ranked);
      return c.done();
    },
  },
  // Bottleneck adapters, with AdapterHub's configs as presets (adapter-settings.ts).
  adapter: {
    args: ADAPTER_ARGS,
    targetRequired: true,
    notApplicable: (m) => (m.kind === 'Tied' ? `an adapter cannot wrap the tied head \`${m.path}\`` : null),
    check: (bound, range, r) => checkAdapter(new Checker('adapter', bound, range, r), bound, range, r),
  },
  prefix: {
    args: [{ name: 'length' }, { name: 'reparam', default: sym('none') }],
    targetRequired: true,
    notApplicable: (m) => (m.kind === 'block' ? null : `prefix applies to blocks that call \`attention\`; \`${m.path}\` is ${article(m)}`),
    check(bound, range, r) {
      const c = new Checker('prefix', bound, range, r);
      c.int('length');
      const rp = bound.get('reparam')!;
      if (rp.kind === 'sym' && rp.name === 'none') c.out.hidden = 0;
      else if (rp.kind === 'ctor' && rp.name === 'mlp' && rp.args.length + rp.named.size === 1) {
        const h = rp.named.get('hidden') ?? rp.args[0];
        if (h?.kind === 'num' && Number.isInteger(h.v) && h.v > 0) c.out.hidden = h.v;
        else {
          r.error(Codes.BadMethodSetting, `\`mlp(hidden = …)\` needs a positive integer width; found ${formatConst(rp)}`, range);
          c.ok = false;
        }
      } else {
        r.error(Codes.BadMethodSetting, `\`prefix\`'s reparam must be \`none\` or \`mlp(hidden = N)\`; found ${formatConst(rp)}`, range);
        c.ok = false;
      }
      return c.done();
    },
  },
  prompt: {
    args: [{ name: 'length', default: num(0) }, { name: 'init', default: sym('random') }, { name: 'template', default: { kind: 'str', v: '' } }],
    targetRequired: false,
    notApplicable: (m) => (m.kind === 'Embedding' ? null : `prompt applies to the token Embedding; \`${m.path}\` is ${article(m)}`),
    check(bound, range, r) {
      const c = new Checker('prompt', bound, range, r);
      // Either `length` soft tokens before the input, or a `template` placing them (template.ts).
      const tpl = bound.get('template')!;
      if (tpl.kind !== 'str') {
        r.error(Codes.BadMethodSetting, `\`prompt\`'s template must be a string like "[P:4] {text}"; found ${formatConst(tpl)}`, range);
        return undefined;
      }
      const len = bound.get('length')!;
      if ((tpl.v === '') === (len.kind === 'num' && len.v === 0)) {
        r.error(Codes.BadMethodSetting, '`prompt` needs exactly one of `length` (soft tokens before the input) or `template` (e.g. "[P:4] {text}")', range);
        return undefined;
      }
      if (tpl.v !== '') {
        const t = parseTemplate(tpl.v);
        if (typeof t === 'string') {
          r.error(Codes.BadMethodSetting, `prompt template ${JSON.stringify(tpl.v)}: ${t}`, range);
          return undefined;
        }
        c.out.template = tpl.v;
      } else c.int('length');
      const init = bound.get('init')!;
      if (init.kind === 'sym' && (init.name === 'random' || init.name === 'vocab')) c.out.init = init.name;
      else if (init.kind === 'ctor' && init.name === 'text' && init.args[0]?.kind === 'str') {
        c.out.init = 'text';
        c.out.text = init.args[0].v;
      } else {
        r.error(Codes.BadMethodSetting, `\`prompt\`'s init must be \`random\`, \`vocab\` or \`text("…")\`; found ${formatConst(init)}`, range);
        c.ok = false;
      }
      return c.done();
    },
  },
  // IA³ (ia3.ts): a learned vector scaling a Linear's output, or its input with `feedforward`.
  ia3: {
    args: [{ name: 'feedforward', default: bool(false) }],
    targetRequired: true,
    notApplicable: (m) => (m.kind === 'Linear' ? null : `ia3 applies to Linear layers; \`${m.path}\` is ${article(m)}`),
    check(bound, range, r) {
      const c = new Checker('ia3', bound, range, r);
      c.flag('feedforward');
      return c.done();
    },
  },
};

export function isMethod(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(METHODS, name);
}

function article(m: ModuleInst): string {
  const k = m.kind === 'block' ? `a block (${m.decl?.name.name})` : m.kind === 'repeat' ? 'a repeat' : `a ${m.kind}`;
  return k;
}
