import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  f16BitsToF32Bits, f32BitsToBf16Bits, f32BitsToF16Bits, float32ToHalf, halfToFloat32,
} from '../../runtime/io/half.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../../runtime/io/safetensors-node.ts';
import {
  firstNonFinite, getFloat32, parseSafetensors, SafetensorsError, serializeSafetensors,
  type ReadOptions, type SafetensorsErrorCode, type Tensor, type TensorData, type WriteTensor,
} from '../../runtime/io/safetensors.ts';

const FIXTURE = new URL('../fixtures/safetensors/dtypes.safetensors', import.meta.url);
const enc = new TextEncoder();

/** A file from header text (or object) and data bytes; `n` overrides the length prefix. */
function file(header: string | object, data: Uint8Array | number = 0, n?: bigint): Uint8Array {
  const text = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes, 8 + text.length);
  return out;
}

const bits32 = (x: number): number => new Uint32Array(new Float32Array([x]).buffer)[0]!;
const f32OfBits = (b: number): number => new Float32Array(new Uint32Array([b]).buffer)[0]!;
/** The values of a non-bigint tensor as plain numbers. */
const nums = (a: TensorData): number[] => Array.from(a as ArrayLike<number>);
const u32 = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

function expectError(bytes: Uint8Array, code: SafetensorsErrorCode, message: RegExp): void {
  let caught: unknown;
  try {
    parseSafetensors(bytes);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SafetensorsError);
  expect((caught as SafetensorsError).code).toBe(code);
  expect((caught as SafetensorsError).message).toMatch(message);
}

describe('round trips', () => {
  const tensors: Record<string, WriteTensor> = {
    f32: { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, -0, 1e-30]) },
    f64: { shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    f16: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0x7bff, 0x8001]) },
    bf16: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc049]) },
    i64: { shape: [2], data: new BigInt64Array([-(2n ** 40n), 7n]) },
    u64: { shape: [1], data: new BigUint64Array([2n ** 63n]) },
    i32: { shape: [4], data: new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31)]) },
    u32: { shape: [1], data: new Uint32Array([2 ** 32 - 1]) },
    i16: { shape: [2], data: new Int16Array([-32768, 32767]) },
    u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
    i8: { shape: [2], data: new Int8Array([-128, 127]) },
    u8: { shape: [2], data: new Uint8Array([0, 255]) },
    bool: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    scalar: { shape: [], data: new Float32Array([42]) },
    empty: { shape: [0], data: new Float32Array(0) },
    empty2d: { shape: [2, 0, 3], data: new Int32Array(0) },
  };

  it('keeps every dtype, shape and value, and the metadata', () => {
    const bytes = serializeSafetensors(tensors, { format: 'pt', note: 'ünïcode ✓' });
    const back = parseSafetensors(bytes, { int64: 'bigint' });
    expect(back.metadata).toEqual({ format: 'pt', note: 'ünïcode ✓' });
    expect([...back.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const got = back.tensors.get(name)!;
      expect(got.shape, name).toEqual(t.shape);
      expect(got.stored, name).toBe(t.dtype ?? got.dtype);
      expect(got.data.constructor, name).toBe(t.data.constructor);
      expect(Array.from(got.data as ArrayLike<unknown>), name).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
    expect(Object.is((back.tensors.get('f32')!.data as Float32Array)[4], -0)).toBe(true);
    // Writing what was read gives the same bytes.
    expect(serializeSafetensors(back.tensors, back.metadata)).toEqual(bytes);
  });

  it('has no metadata when none was written, and an empty file is valid', () => {
    const bytes = serializeSafetensors({});
    expect(new TextDecoder().decode(bytes.subarray(8))).toBe('{}      ');
    const back = parseSafetensors(bytes);
    expect(back.metadata).toBeUndefined();
    expect(back.tensors.size).toBe(0);
  });

  it('converts where asked: F32 from Float64Array, F16/BF16 from Float32Array, I64 from Int32Array', () => {
    const bytes = serializeSafetensors({
      a: { dtype: 'F32', shape: [2], data: new Float64Array([0.1, 1e40]) },
      h: { dtype: 'F16', shape: [3], data: new Float32Array([1, 65520, 0.1]) },
      b: { dtype: 'BF16', shape: [1], data: new Float32Array([0.1]) },
      i: { dtype: 'I64', shape: [2], data: new Int32Array([-5, 2 ** 31 - 1]) },
    });
    const back = parseSafetensors(bytes);
    expect(Array.from(back.tensors.get('a')!.data as Float32Array)).toEqual([Math.fround(0.1), Infinity]);
    expect(Array.from(back.tensors.get('h')!.data as Uint16Array)).toEqual([0x3c00, 0x7c00, 0x2e66]);
    expect(Array.from(back.tensors.get('b')!.data as Uint16Array)).toEqual([0x3dcd]);
    const i = back.tensors.get('i')!;
    expect([i.stored, i.dtype, Array.from(i.data as Int32Array)]).toEqual(['I64', 'I32', [-5, 2 ** 31 - 1]]);
  });

  it('returns views into the input when aligned, copies when not', () => {
    const bytes = serializeSafetensors({ w: { shape: [2], data: new Float32Array([1, 2]) } });
    expect(parseSafetensors(bytes).tensors.get('w')!.data.buffer).toBe(bytes.buffer);
    // The same file one byte into a bigger buffer: every offset is now odd.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const w = parseSafetensors(shifted.subarray(1)).tensors.get('w')!;
    expect(w.data.buffer).not.toBe(shifted.buffer);
    expect(Array.from(w.data as Float32Array)).toEqual([1, 2]);
  });

  it('reads unpadded headers (data at any offset) and tensors in any order', () => {
    const data = new Uint8Array([...new Uint8Array(new Float64Array([-2.5]).buffer), 7, 0, 0, 0, 0x80, 0x3f]);
    const header = '{"z":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"a":{"dtype":"I16","shape":[2],"data_offsets":[8,12]},"m":{"dtype":"BF16","shape":[1],"data_offsets":[12,14]}}';
    expect((8 + header.length) % 8).not.toBe(0);
    const back = parseSafetensors(file(header, data), { asFloat32: true });
    expect([...back.tensors.keys()]).toEqual(['z', 'a', 'm']);
    expect(nums(back.tensors.get('z')!.data)).toEqual([-2.5]);
    expect(nums(back.tensors.get('a')!.data)).toEqual([7, 0]);
    expect(nums(back.tensors.get('m')!.data)).toEqual([1]);
    expect(back.tensors.get('m')!.dtype).toBe('F32');
  });

  it('treats unusual names as plain keys', () => {
    const t = { shape: [1], data: new Float32Array([1]) };
    const bytes = serializeSafetensors(new Map([['__proto__', t], ['constructor', t], ['', t]]), { __proto__x: 'y' });
    const back = parseSafetensors(bytes);
    expect([...back.tensors.keys()].sort()).toEqual(['', '__proto__', 'constructor']);
  });
});

describe('matches the reference implementation byte for byte', () => {
  // Expected bytes from the reference's own serialisation tests (safetensors/src/tensor.rs).
  it('one F32 tensor', () => {
    const bytes = serializeSafetensors({ 'attn.0': { shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(64);
    expect(bytes).toEqual(file(header, new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer)));
  });

  it('pads the header with spaces to a multiple of 8', () => {
    const bytes = serializeSafetensors({ attn0: { shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
    const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ';
    expect(bytes).toEqual(file(header, new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer)));
    expect(serializeSafetensors({}, { framework: 'pt' })).toEqual(file('{"__metadata__":{"framework":"pt"}}     '));
  });

  it('orders by dtype alignment (reference enum order, largest first), then name', () => {
    const one = (data: WriteTensor['data'], dtype?: WriteTensor['dtype']): WriteTensor => ({ dtype, shape: [1], data });
    const bytes = serializeSafetensors({
      b8: one(new Uint8Array([1])), bool: one(new Uint8Array([1]), 'BOOL'), f16: one(new Uint16Array([0]), 'F16'),
      bf16: one(new Uint16Array([0]), 'BF16'), z32: one(new Float32Array([0])), a32: one(new Float32Array([0])),
      i32: one(new Int32Array([0])), f64: one(new Float64Array([0])), i64: one(new BigInt64Array([0n])),
      u64: one(new BigUint64Array([0n])), i8: one(new Int8Array([0])), i16: one(new Int16Array([0])),
    });
    const names = [...parseSafetensors(bytes).tensors.keys()];
    expect(names).toEqual(['u64', 'i64', 'f64', 'a32', 'z32', 'i32', 'bf16', 'f16', 'i16', 'i8', 'b8', 'bool']);
  });
});

describe('16-bit floats', () => {
  it('narrows known values exactly (round to nearest, ties to even)', () => {
    const f16: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [Infinity, 0x7c00],
      [2 ** -14, 0x0400], [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001], [3 * 2 ** -25, 0x0002],
      [0.1, 0x2e66], [1 / 3, 0x3555], [-0, 0x8000], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02],
    ];
    for (const [x, h] of f16) expect(f32BitsToF16Bits(bits32(x)), `f16(${x})`).toBe(h);
    const bf16: [number, number][] = [
      [1, 0x3f80], [0.1, 0x3dcd], [Math.PI, 0x4049], [-0, 0x8000], [f32OfBits(0x3f808000), 0x3f80],
      [f32OfBits(0x3f818000), 0x3f82], [f32OfBits(0x7f7fffff), 0x7f80], [Infinity, 0x7f80],
    ];
    for (const [x, b] of bf16) expect(f32BitsToBf16Bits(bits32(x)), `bf16(${x})`).toBe(b);
    expect(f32BitsToF16Bits(bits32(NaN)) & 0x7e00).toBe(0x7e00);
    expect(f32BitsToBf16Bits(bits32(NaN))).toBe(0x7fc0);
  });

  it('widens every f16 exactly, and narrowing that back is the identity', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const wide = halfToFloat32(all, 'F16');
    expect(wide[0x3c00]).toBe(1);
    expect(wide[0x0001]).toBe(2 ** -24);
    expect(wide[0x03ff]).toBe(1023 * 2 ** -24);
    expect(wide[0xfbff]).toBe(-65504);
    expect(f16BitsToF32Bits(0x7e01)).toBe(0x7fc02000); // NaN payload kept
    const back = float32ToHalf(wide, 'F16');
    for (let i = 0; i < 65536; i++) {
      const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (!isNaN && back[i] !== i) throw new Error(`f16 0x${i.toString(16)} does not round-trip`);
    }
  });

  it('agrees bit for bit with PyTorch (fixture written by scripts/reference/safetensors_dtypes.py)', async () => {
    const st = parseSafetensors(new Uint8Array(await readFile(FIXTURE)));
    const src = st.tensors.get('f32.src')!.data as Float32Array;
    expect(src.length).toBeGreaterThan(400);
    for (const kind of ['F16', 'BF16'] as const) {
      const name = kind.toLowerCase();
      const torch = st.tensors.get(name)!.data as Uint16Array;
      const ours = float32ToHalf(src, kind);
      for (let i = 0; i < src.length; i++) {
        if (Number.isNaN(src[i])) {
          expect(Number.isNaN(halfToFloat32(ours.subarray(i, i + 1), kind)[0])).toBe(true);
          continue;
        }
        if (ours[i] !== torch[i]) throw new Error(`${kind}: 0x${u32(src)[i]!.toString(16)} → ours 0x${ours[i]!.toString(16)}, torch 0x${torch[i]!.toString(16)}`);
      }
      // Widening, NaNs included, bit for bit.
      const widened = parseSafetensors(new Uint8Array(await readFile(FIXTURE)), { asFloat32: true }).tensors.get(name)!;
      expect(widened.dtype).toBe('F32');
      expect(widened.stored).toBe(kind);
      expect(u32(widened.data as Float32Array)).toEqual(u32(st.tensors.get(`${name}.as_f32`)!.data as Float32Array));
    }
    const f64 = getFloat32(st, 'f64');
    expect(u32(f64)).toEqual(u32(st.tensors.get('f64.as_f32')!.data as Float32Array));
  });

  it('reads the fixture\'s integer, scalar and empty tensors, and writes the file back identically', async () => {
    const bytes = new Uint8Array(await readFile(FIXTURE));
    const st = parseSafetensors(bytes);
    expect(nums(st.tensors.get('i64')!.data)).toEqual([0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 123456789, -987654321]);
    expect(st.tensors.get('i64')!.data).toBeInstanceOf(Int32Array);
    expect(nums(st.tensors.get('i8')!.data)).toEqual([0, -1, 127, -128]);
    expect(nums(st.tensors.get('bool')!.data)).toEqual([1, 0, 1]);
    expect(st.tensors.get('scalar')).toMatchObject({ shape: [], data: new Float32Array([2.5]) });
    expect(st.tensors.get('empty')!.shape).toEqual([0, 3]);
    expect(st.metadata?.['format']).toBe('pt');
    const exact = parseSafetensors(bytes, { int64: 'bigint' });
    expect(serializeSafetensors(exact.tensors, exact.metadata)).toEqual(bytes);
  });
});

describe('malformed files: each gives its own SafetensorsError', () => {
  const f32x4 = { dtype: 'F32', shape: [4], data_offsets: [0, 16] };
  const cases: [string, Uint8Array, SafetensorsErrorCode, RegExp][] = [
    ['shorter than the length prefix', new Uint8Array(5), 'too-short', /file is 5 bytes, too short for the 8-byte header length/],
    ['header length beyond the file', file('{}', 0, 1000n), 'header-length', /header length 1000 runs past the end of the file \(2 bytes after the length\)/],
    ['absurd header length', file('{}', 0, 2n ** 62n), 'header-too-large', /header length 4611686018427387904 is over the 100000000-byte limit/],
    ['header not JSON', file('{"w": '), 'header-json', /header is not valid JSON/],
    ['header an array', file('[1, 2]'), 'header-not-object', /header must be a JSON object, got an array/],
    ['metadata not strings', file({ __metadata__: { epoch: 3 } }), 'metadata', /__metadata__ value of "epoch" must be a string, got a number/],
    ['metadata not an object', file({ __metadata__: ['a'] }), 'metadata', /__metadata__ must be an object of strings, got an array/],
    ['entry not an object', file({ w: 5 }), 'entry', /tensor "w": entry must be an object, got a number/],
    ['missing data_offsets', file({ w: { dtype: 'F32', shape: [1] } }), 'missing-field', /tensor "w": missing "data_offsets"/],
    ['missing dtype', file({ w: { shape: [1], data_offsets: [0, 4] } }, 4), 'missing-field', /tensor "w": missing "dtype"/],
    ['unknown dtype', file({ w: { ...f32x4, dtype: 'F33' } }, 16), 'unknown-dtype', /tensor "w": unknown dtype "F33" \(known: .*BF16/],
    ['dtype not a string', file({ w: { ...f32x4, dtype: 4 } }, 16), 'unknown-dtype', /tensor "w": dtype must be a string, got a number/],
    ['FP8 (known, not supported)', file({ w: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, 4), 'unsupported-dtype', /tensor "w": dtype F8_E4M3 is not supported/],
    ['negative dimension', file({ w: { ...f32x4, shape: [2, -1] } }, 16), 'bad-shape', /tensor "w": shape must be an array of non-negative integers, got \[2,-1\]/],
    ['fractional dimension', file({ w: { ...f32x4, shape: [1.5] } }, 16), 'bad-shape', /tensor "w": shape must be/],
    ['shape not an array', file({ w: { ...f32x4, shape: '4' } }, 16), 'bad-shape', /got "4"/],
    ['offsets reversed', file({ w: { ...f32x4, data_offsets: [16, 0] } }, 16), 'bad-offsets', /tensor "w": data_offsets must be \[begin, end\] with 0 ≤ begin ≤ end, got \[16,0\]/],
    ['deeply nested shape', file(`{"w":{"dtype":"F32","shape":${'['.repeat(1e5)}${']'.repeat(1e5)},"data_offsets":[0,0]}}`), 'bad-shape', /shape must be an array of non-negative integers, got \[\[…\]\]/],
    ['deeply nested header', file(`${'{"a":'.repeat(1e5)}1${'}'.repeat(1e5)}`), 'missing-field', /tensor "a": missing "dtype"/],
    ['offsets not a pair', file({ w: { ...f32x4, data_offsets: [16] } }, 16), 'bad-offsets', /got \[16\]/],
    ['offsets negative', file({ w: { ...f32x4, data_offsets: [-4, 12] } }, 16), 'bad-offsets', /got \[-4,12\]/],
    ['shape and offsets disagree', file({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, 20), 'size-mismatch', /tensor "w": shape \[2, 3\] of F32 needs 24 bytes but data_offsets \[0, 20\] span 20/],
    ['shape too large', file({ w: { dtype: 'F32', shape: [1e10, 1e10], data_offsets: [0, 4] } }, 4), 'size-mismatch', /tensor "w": shape \[10000000000, 10000000000\] is too large/],
    ['data truncated', file({ w: f32x4 }, 12), 'out-of-range', /tensor "w": data_offsets \[0, 16\] run past the end of the data buffer \(12 bytes\): file truncated\?/],
    ['offsets far out of range', file({ w: { dtype: 'U8', shape: [4], data_offsets: [2 ** 40, 2 ** 40 + 4] } }, 4), 'out-of-range', /tensor "w": data_offsets \[1099511627776, 1099511627780\] run past the end/],
    ['overlapping tensors', file({ a: f32x4, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, 24), 'overlap', /tensors "a" \[0, 16\] and "b" \[8, 24\] overlap/],
    ['same bytes twice', file({ a: f32x4, b: f32x4 }, 16), 'overlap', /tensors "a" \[0, 16\] and "b" \[0, 16\] overlap/],
    ['empty tensor inside another', file({ a: f32x4, e: { dtype: 'F32', shape: [0], data_offsets: [8, 8] } }, 16), 'overlap', /"a" \[0, 16\] and "e" \[8, 8\] overlap/],
    ['hole between tensors', file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [16, 24] } }, 24), 'hole', /data bytes \[8, 16\) belong to no tensor \(a hole after "a", before "b"\)/],
    ['hole at the start', file({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, 16), 'hole', /data bytes \[0, 8\) belong to no tensor \(a hole at the start, before "a"\)/],
    ['bytes after the last tensor', file({ a: f32x4 }, 20), 'trailing-bytes', /the data buffer has 4 bytes after the last tensor/],
    ['I64 beyond Int32', file({ n: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(new BigInt64Array([1n, 2n ** 31n]).buffer)), 'int64-range', /tensor "n": I64 value 2147483648 at index 1 does not fit in Int32 \(read with int64: 'bigint' to keep it\)/],
    ['U64 beyond Int32', file({ n: { dtype: 'U64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(new BigUint64Array([2n ** 64n - 1n]).buffer)), 'int64-range', /U64 value 18446744073709551615 at index 0/],
  ];
  it.each(cases)('%s', (_, bytes, code, message) => expectError(bytes, code, message));

  it('rejects invalid UTF-8 in the header', () => {
    const bytes = file('{"a":1}');
    bytes[10] = 0xff;
    expectError(bytes, 'header-utf8', /header is not valid UTF-8/);
  });

  it('names the tensor on the error object', () => {
    try {
      parseSafetensors(file({ 'h.0.w': { ...f32x4, dtype: 'X' } }, 16));
      expect.unreachable();
    } catch (err) {
      expect((err as SafetensorsError).tensor).toBe('h.0.w');
      expect((err as SafetensorsError).name).toBe('SafetensorsError');
    }
  });

  it('never throws anything but SafetensorsError on corrupted bytes (deterministic fuzz)', () => {
    const good = serializeSafetensors({
      a: { shape: [3, 2], data: new Float32Array(6).fill(1.5) },
      b: { dtype: 'F16', shape: [5], data: new Uint16Array(5) },
      c: { shape: [2], data: new BigInt64Array([1n, -1n]) },
    }, { k: 'v' });
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    let failures = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = good.slice(0, i % 7 === 0 ? rand(good.length) : good.length);
      for (let k = 0; k < 1 + rand(3); k++) if (bytes.length) bytes[rand(bytes.length)] = rand(256);
      try {
        parseSafetensors(bytes);
      } catch (err) {
        if (!(err instanceof SafetensorsError)) throw err;
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(100);
  });
});

describe('duplicate names and non-finite values', () => {
  const f32x2 = (at: number) => ({ dtype: 'F32', shape: [2], data_offsets: [at, at + 8] });

  it('refuses a tensor named twice (JSON.parse would keep the last silently)', () => {
    // Both entries cover the same bytes: without the check the file would read as one tensor.
    const text = `{"w":${JSON.stringify(f32x2(0))},"__metadata__":{"w":"x"},"w":${JSON.stringify(f32x2(0))}}`;
    expectError(file(text, 8), 'duplicate-name', /tensor "w" is named twice in the header/);
    // A name inside an entry, or a metadata key equal to a tensor's, is not a duplicate.
    expect(parseSafetensors(file(`{"__metadata__":{"w":"x"},"w":${JSON.stringify(f32x2(0))}}`, 8)).tensors.size).toBe(1);
    expect(parseSafetensors(file({ 'a"b,{': f32x2(0), '\\': f32x2(8) }, 16)).tensors.size).toBe(2);
  });

  const values = (dtype: 'F32' | 'F64', xs: number[]) => (dtype === 'F32' ? new Float32Array(xs) : new Float64Array(xs));
  it.each(['F32', 'F64'] as const)('finds the first NaN or ±Inf in %s, past the first block', (dtype) => {
    const xs = Array.from({ length: 9000 }, (_, i) => (i % 7) - 3 + 1e-30 * i);
    expect(firstNonFinite(dtype, values(dtype, xs))).toBe(-1);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const ys = [...xs];
      ys[8191] = bad;
      ys[8500] = NaN;
      expect(firstNonFinite(dtype, values(dtype, ys))).toBe(8191);
    }
    expect(firstNonFinite(dtype, values(dtype, [-0, 0, 3.4e38, -3.4e38, 5e-45]))).toBe(-1);
  });

  it.each([['F16', 0x7c00, 0x7bff], ['BF16', 0x7f80, 0x7f7f]] as const)('finds Inf and NaN in %s by their exponent bits', (dtype, inf, largest) => {
    const bits = new Uint16Array(5000).fill(largest);
    bits[17] = 0x8000 | largest; // -largest: finite
    expect(firstNonFinite(dtype, bits)).toBe(-1);
    bits[4100] = inf | 0x8000; // -Inf
    bits[4200] = inf | 1; // NaN
    expect(firstNonFinite(dtype, bits)).toBe(4100);
  });

  it('with finite: true, a NaN is an error naming the tensor, its value and index (also when widened to F32)', () => {
    const bytes = serializeSafetensors({ ok: { shape: [2], data: new Float32Array([1, 2]) }, h: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0x3c00, 0xfc00]) } });
    expect(parseSafetensors(bytes).tensors.size).toBe(2);
    expectErrorWith(bytes, { finite: true }, 'non-finite', /tensor "h": -Infinity at index 2 \(of 3\); the weights are not finite/);
    expectErrorWith(bytes, { finite: true, asFloat32: true }, 'non-finite', /tensor "h": -Infinity at index 2/);
  });

  it('names the tensor that runs past the end, not the hole it leaves', () => {
    expectError(file({ a: f32x2(16), b: f32x2(8) }, 16), 'out-of-range', /tensor "a": data_offsets \[16, 24\] run past the end/);
  });
});

function expectErrorWith(bytes: Uint8Array, options: ReadOptions, code: SafetensorsErrorCode, message: RegExp): void {
  let caught: unknown;
  try {
    parseSafetensors(bytes, options);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SafetensorsError);
  expect((caught as SafetensorsError).code).toBe(code);
  expect((caught as SafetensorsError).message).toMatch(message);
}

describe('writer errors', () => {
  const write = (t: Record<string, WriteTensor>, meta?: Record<string, string>) => () => serializeSafetensors(t, meta);
  it.each([
    ['shape/data mismatch', write({ w: { shape: [2, 2], data: new Float32Array(3) } }), /tensor "w": shape \[2, 2\] has 4 elements but the data has 3/],
    ['ambiguous Uint16Array', write({ w: { shape: [1], data: new Uint16Array(1) } }), /tensor "w": Uint16Array needs an explicit dtype \(F16, BF16 or U16\)/],
    ['Float64Array as F16', write({ w: { dtype: 'F16', shape: [1], data: new Float64Array(1) } }), /tensor "w": cannot write Float64Array as F16/],
    ['Int32Array as F32', write({ w: { dtype: 'F32', shape: [1], data: new Int32Array(1) } }), /cannot write Int32Array as F32/],
    ['bad shape', write({ w: { shape: [-1], data: new Float32Array(0) } }), /tensor "w": shape must be an array of non-negative integers/],
    ['BOOL not 0/1', write({ w: { dtype: 'BOOL', shape: [1], data: new Uint8Array([2]) } }), /BOOL data must be 0 or 1/],
    ['reserved name', write({ __metadata__: { shape: [1], data: new Float32Array(1) } }), /a tensor cannot be named "__metadata__"/],
    ['metadata value not a string', write({}, { n: 3 as unknown as string }), /__metadata__ value of "n" must be a string, got a number/],
  ])('%s', (_, fn, message) => {
    expect(fn).toThrow(SafetensorsError);
    expect(fn).toThrow(message);
  });
});

describe('getFloat32', () => {
  const st = parseSafetensors(serializeSafetensors({
    w: { shape: [2], data: new Float32Array([1, 2]) },
    h: { dtype: 'F16', shape: [1], data: new Float32Array([0.5]) },
    i: { shape: [1], data: new Int32Array([1]) },
  }));
  it('converts, checks the shape, and reports what the file has', () => {
    expect(Array.from(getFloat32(st, 'h', [1]))).toEqual([0.5]);
    expect(() => getFloat32(st, 'w', [2, 1])).toThrow(/tensor "w": shape \[2\], expected \[2, 1\]/);
    expect(() => getFloat32(st, 'x')).toThrow(/no tensor named "x" \(the file has 3: /);
    expect(() => getFloat32(st, 'i')).toThrow(/tensor "i": dtype I32 is not a float/);
  });
});

describe('files (Node)', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes atomically (no temporary left, existing file replaced) and reads back', async () => {
    dir = await mkdtemp(join(tmpdir(), 'peftc-st-'));
    const path = join(dir, 'adapter_model.safetensors');
    await writeFile(path, 'old contents');
    const tensors: Record<string, Tensor> = { 'h.0.lora_A.weight': { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } };
    await writeSafetensorsFile(path, tensors, { format: 'pt' });
    expect(await readdir(dir)).toEqual(['adapter_model.safetensors']);
    const back = await readSafetensorsFile(path);
    expect(back.metadata).toEqual({ format: 'pt' });
    expect(nums(back.tensors.get('h.0.lora_A.weight')!.data)).toEqual([1, 2, 3, 4]);
  });

  it('puts the path in error messages, and leaves nothing behind when serialising fails', async () => {
    const bad = join(dir, 'bad.safetensors');
    await writeFile(bad, file({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 12));
    await expect(readSafetensorsFile(bad)).rejects.toThrow(`${bad}: tensor "w": data_offsets [0, 16] run past the end`);
    const before = await readdir(dir);
    await expect(writeSafetensorsFile(join(dir, 'x.safetensors'), { w: { shape: [2], data: new Float32Array(1) } })).rejects.toThrow(SafetensorsError);
    expect(await readdir(dir)).toEqual(before);
  });
});
