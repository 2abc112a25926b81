// The errors peftc prints as the user's mistake (exit 1, no "internal error"): every class named
// in EXPECTED_ERRORS exists under that name, and nothing else counts as expected.
import { describe, expect, it } from 'vitest';
import { EXPECTED_ERRORS, UserError, isExpected } from '../../cli/errors.ts';
import { ModelSizeError } from '../../compiler/size.ts';
import { CodegenError } from '../../codegen/codegen-error.ts';
import { CheckpointError } from '../../runtime/checkpoint.ts';
import { DataError } from '../../runtime/data/source.ts';
import { InteropError } from '../../runtime/interop/errors.ts';
import { SafetensorsError } from '../../runtime/io/safetensors.ts';
import { RankError } from '../../runtime/rank-controller.ts';
import { TokensError } from '../../runtime/tokens-file.ts';
import { WasmError } from '../../runtime/wasm/errors.ts';
import { GpuError } from '../../runtime/webgpu/errors.ts';
import { WeightsError } from '../../runtime/weights.ts';

describe('expected errors', () => {
  const instances: Error[] = [
    new UserError('x'),
    new WeightsError({ unmatched: [], wrong: [], missing: ['a'], total: 1 }),
    new SafetensorsError('bad_header' as never, 'x'),
    new TokensError('x'),
    new GpuError('device' as never, 'x'),
    new CodegenError('limits' as never, 'x'),
    new DataError('x'),
    new CheckpointError('x'),
    new InteropError('x'),
    new RankError('x'),
    new ModelSizeError('x'),
    new WasmError('x'),
  ];

  it('lists exactly the names of the error classes that describe bad input', () => {
    expect(instances.map((e) => e.name)).toEqual([...EXPECTED_ERRORS]);
    for (const e of instances) expect(isExpected(e)).toBe(true);
  });

  it('treats anything else as a bug (printed as an internal error)', () => {
    expect(isExpected(new Error('x'))).toBe(false);
    expect(isExpected(new TypeError('x'))).toBe(false);
    expect(isExpected('UserError')).toBe(false);
    expect(isExpected({ name: 'UserError', message: 'x' })).toBe(false);
  });
});
