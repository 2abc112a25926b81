// A method's settings as bound in the file, checked one by one: each check records the value
// in `out` or reports what is wrong at the call's range. Shared by every method's check
// (methods.ts, adapter-settings.ts).
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { Codes } from '../codes.ts';
import type { Reporter } from '../evaluate.ts';
import { describe, type Const } from '../values.ts';

export type Settings = Record<string, number | string | boolean>;

export class Checker {
  ok = true;
  readonly out: Settings = {};
  constructor(
    private readonly method: string,
    private readonly bound: Map<string, Const>,
    private readonly range: SourceRange,
    private readonly r: Reporter,
  ) {}

  private fail(key: string, want: string, v: Const): void {
    this.r.error(Codes.BadMethodSetting, `\`${this.method}\`'s ${key} must be ${want}; found ${describe(v)}`, this.range);
    this.ok = false;
  }

  int(key: string, min = 1): void {
    const v = this.bound.get(key);
    if (!v) return;
    if (v.kind === 'num' && Number.isInteger(v.v) && v.v >= min) this.out[key] = v.v;
    else this.fail(key, `an integer ≥ ${min}`, v);
  }

  number(key: string, lo = -Infinity, hi = Infinity): void {
    const v = this.bound.get(key);
    if (!v) return;
    if (v.kind === 'num' && v.v >= lo && v.v <= hi) this.out[key] = v.v;
    else this.fail(key, `a number in [${lo}, ${hi}]`, v);
  }

  flag(key: string): void {
    const v = this.bound.get(key);
    if (!v) return;
    if (v.kind === 'bool') this.out[key] = v.v;
    else this.fail(key, '`true` or `false`', v);
  }

  option(key: string, options: string[]): void {
    const v = this.bound.get(key);
    if (!v) return;
    if (v.kind === 'sym' && options.includes(v.name)) this.out[key] = v.name;
    else this.fail(key, `one of ${options.join(', ')}`, v);
  }

  done(): Settings | undefined {
    return this.ok ? this.out : undefined;
  }
}
