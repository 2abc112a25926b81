// Checking the JSON of a built trainer's files (trainer.json, plan.json) field by field. Each
// accessor returns the value with its type, or throws TrainerError naming the file and the
// field's path (`plan.json: software.train.steps[3].shader must be …`), on one line, so that a
// corrupt or hand-edited file reads as what is wrong and where, never as a crash later on.
import { TrainerError } from './trainer-error.ts';

type Checker<T> = (v: unknown, path: string) => T;

/** A value as an error message quotes it: short, one line. */
function show(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  const text = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return text.length > 40 ? `${text.slice(0, 37)}…` : text;
}

export class JsonFields {
  constructor(readonly file: string) {}

  fail(path: string, want: string, got: unknown): never {
    const what = got === undefined ? `${path} is missing (it must be ${want})` : `${path} must be ${want}, not ${show(got)}`;
    throw new TrainerError(`${this.file}: ${what}; rebuild the trainer with \`peftc build\``);
  }

  /** Parses `text` as JSON: a truncated or corrupt file is one line naming the file. */
  parse(text: string): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new TrainerError(`${this.file}: not valid JSON (${(e as Error).message.split('\n')[0]}); the file is truncated or corrupt: rebuild the trainer with \`peftc build\``);
    }
  }

  object(v: unknown, path: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'an object', v);
    return v as Record<string, unknown>;
  }

  string(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, 'a string', v);
    return v;
  }

  bool(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, 'true or false', v);
    return v;
  }

  number(v: unknown, path: string, min = -Infinity): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) this.fail(path, min === -Infinity ? 'a finite number' : `a number ≥ ${min}`, v);
    return v;
  }

  /** A safe integer in [min, max]. */
  int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.fail(path, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`, v);
    }
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, choices: readonly T[]): T {
    if (!choices.includes(v as T)) this.fail(path, `one of ${choices.join(', ')}`, v);
    return v as T;
  }

  array<T>(v: unknown, path: string, each: Checker<T>): T[] {
    if (!Array.isArray(v)) this.fail(path, 'an array', v);
    return v.map((x, i) => each(x, `${path}[${i}]`));
  }

  /** undefined stays undefined; anything else must pass `check`. */
  optional<T>(v: unknown, path: string, check: Checker<T>): T | undefined {
    return v === undefined ? undefined : check(v, path);
  }

  /** A record whose every value passes `check`. */
  record<T>(v: unknown, path: string, check: Checker<T>): Record<string, T> {
    const o = this.object(v, path);
    for (const [k, x] of Object.entries(o)) check(x, `${path}.${k}`);
    return o as Record<string, T>;
  }

  ints(v: unknown, path: string, min = 0): number[] {
    return this.array(v, path, (x, p) => this.int(x, p, min));
  }

  strings(v: unknown, path: string): string[] {
    return this.array(v, path, (x, p) => this.string(x, p));
  }
}
