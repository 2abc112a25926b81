// Parsers of flag strings shared by the verbs: each turns one option's text into a value or
// throws a UserError that names the flag and the text it got.
import { DEFAULT_OPTIMIZER, type OptimizerConfig } from '../compiler/autodiff/backward.ts';
import { FROZEN_DTYPES, frozenDtypeOf, isQuantDtype, type FrozenDtype } from '../compiler/quant/dtype.ts';
import type { QuantDtype } from '../compiler/quant/weight.ts';
import { GPU_CHOICES, type GpuChoice } from '../runtime/webgpu/device.ts';
import { UserError } from './errors.ts';

/** A finite number (`--lr 3e-4`). */
export function num(s: string, flag: string): number {
  const v = Number(s);
  if (s.trim() === '' || !Number.isFinite(v)) throw new UserError(`${flag} must be a number, not \`${s}\``);
  return v;
}

/** An integer ≥ `min` (`--steps 100`). */
export function int(s: string, flag: string, min = 0): number {
  const v = num(s, flag);
  if (!Number.isInteger(v) || v < min) throw new UserError(`${flag} must be an integer ≥ ${min}, not \`${s}\``);
  return v;
}

/** An integer ≥ 1, or `fallback` when the flag is absent (`--batch`, `--seq`). */
export function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${flag} must be a positive integer, got \`${value}\``);
  return n;
}

/** --gpu: which WebGPU adapter to open (`auto` when absent). */
export function gpuChoice(value: string | undefined): GpuChoice {
  const v = value ?? 'auto';
  if (!(GPU_CHOICES as readonly string[]).includes(v)) throw new UserError(`--gpu must be one of ${GPU_CHOICES.join(', ')}, got \`${v}\``);
  return v as GpuChoice;
}

/** --frozen-dtype: f32 (default), f16, int8, nf4 or nf4dq (docs/quantization.md). */
export function frozenDtype(value: string | undefined): FrozenDtype {
  const d = frozenDtypeOf(value);
  if (!d) throw new UserError(`--frozen-dtype must be one of ${FROZEN_DTYPES.join(', ')}, not \`${value}\``);
  return d;
}

/** --frozen-dtype for a WebGPU plan: f16 or quantized frozen weight matrices (PlanOptions). */
export function frozenPlanOptions(value: string | undefined): { frozenF16?: boolean; frozenQuant?: QuantDtype } {
  const d = frozenDtype(value);
  return isQuantDtype(d) ? { frozenQuant: d } : d === 'f16' ? { frozenF16: true } : {};
}

/** --optimizer, --lr, --weight-decay, --clip: the optimizer's settings, with their defaults. */
export function optimizerFrom(flags: { lr?: string; optimizer?: string; weightDecay?: string; clip?: string }): OptimizerConfig {
  const kind = flags.optimizer ?? 'adamw';
  if (kind !== 'adamw' && kind !== 'sgd') throw new UserError(`--optimizer must be adamw or sgd, not \`${kind}\``);
  return {
    ...DEFAULT_OPTIMIZER,
    kind,
    lr: num(flags.lr ?? '1e-3', '--lr'),
    weightDecay: num(flags.weightDecay ?? '0.01', '--weight-decay'),
    clipNorm: num(flags.clip ?? '1', '--clip'),
    momentum: kind === 'sgd' ? 0.9 : 0,
  };
}
