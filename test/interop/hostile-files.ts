// Hostile variants of a valid safetensors file, each named for what is wrong with it: truncation,
// lengths and offsets that lie, dtypes and shapes that disagree with the bytes, NaN and ±Inf,
// duplicate names, headers that are not UTF-8 or not JSON, metadata that is not strings, and
// seeded random byte flips. Deterministic for a given file and seed.
import { Random } from '../../runtime/cpu/random.ts';

export interface Hostile {
  name: string;
  bytes: Uint8Array;
  /** The tensor the damage is in, when the reader can name it. */
  tensor?: string;
  /** What a correct reader does: refuse it, or it depends (random flips may keep the file valid). */
  expect: 'error' | 'either';
}

interface Header {
  __metadata__?: Record<string, string>;
  [name: string]: unknown;
}

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function split(bytes: Uint8Array): { header: Header; text: string; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  return { header: JSON.parse(text) as Header, text, data: bytes.subarray(8 + n) };
}

/** A file from header text and data bytes; `n` overrides the length prefix. */
export function assemble(text: string | Uint8Array, data: Uint8Array, n?: bigint): Uint8Array {
  const head = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

const tensorsOf = (h: Header): [string, Entry][] => Object.entries(h).filter(([k]) => k !== '__metadata__') as [string, Entry][];

export function hostileVariants(valid: Uint8Array, seed: number): Hostile[] {
  const rng = new Random(seed);
  const { header, text, data } = split(valid);
  const entries = tensorsOf(header);
  const [first, second] = [entries[0]!, entries[1]!];
  const f32 = entries.find(([, e]) => e.dtype === 'F32')!;
  const edit = (f: (h: Header) => void): string => {
    const h = JSON.parse(text) as Header;
    f(h);
    return JSON.stringify(h);
  };
  const out: Hostile[] = [
    { name: 'empty file', bytes: new Uint8Array(0), expect: 'error' },
    { name: 'only a length', bytes: assemble('', new Uint8Array(0)), expect: 'error' },
    { name: 'header length past the end', bytes: assemble(text, data, BigInt(text.length + data.length + 1)), expect: 'error' },
    { name: 'huge header length', bytes: assemble(text, data, 2n ** 62n), expect: 'error' },
    { name: 'header length just over the limit', bytes: assemble(text, data, 100_000_001n), expect: 'error' },
    { name: 'header not UTF-8', bytes: assemble(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), data), expect: 'error' },
    { name: 'header not JSON', bytes: assemble('{"a": [1, 2', data), expect: 'error' },
    { name: 'header a JSON array', bytes: assemble('[]', data), expect: 'error' },
    { name: 'metadata not strings', bytes: assemble(edit((h) => void (h.__metadata__ = { format: 1 as unknown as string })), data), expect: 'error' },
    { name: 'metadata an array', bytes: assemble(edit((h) => void (h.__metadata__ = [] as unknown as Record<string, string>)), data), expect: 'error' },
    { name: 'offsets overlap', tensor: second[0], bytes: assemble(edit((h) => void ((h[second[0]] as Entry).data_offsets = [...first[1].data_offsets])), data), expect: 'error' },
    { name: 'offsets past the data', tensor: first[0], bytes: assemble(edit((h) => void ((h[first[0]] as Entry).data_offsets = [data.length, data.length + (first[1].data_offsets[1] - first[1].data_offsets[0])])), data), expect: 'error' },
    { name: 'offsets negative', tensor: first[0], bytes: assemble(edit((h) => void ((h[first[0]] as Entry).data_offsets = [-4, 0] as [number, number])), data), expect: 'error' },
    { name: 'dtype disagrees with the bytes', tensor: f32[0], bytes: assemble(edit((h) => void ((h[f32[0]] as Entry).dtype = 'F16')), data), expect: 'error' },
    { name: 'shape disagrees with the bytes', tensor: first[0], bytes: assemble(edit((h) => void ((h[first[0]] as Entry).shape = [...first[1].shape, 2])), data), expect: 'error' },
    { name: 'unknown dtype', tensor: first[0], bytes: assemble(edit((h) => void ((h[first[0]] as Entry).dtype = 'Q4')), data), expect: 'error' },
    { name: 'shape with a huge dimension', tensor: first[0], bytes: assemble(edit((h) => void ((h[first[0]] as Entry).shape = [2 ** 52, 2 ** 52])), data), expect: 'error' },
    { name: 'truncated data', tensor: undefined, bytes: valid.subarray(0, valid.length - 1 - rng.int(Math.max(1, data.length - 1))), expect: 'error' },
    { name: 'truncated header', bytes: valid.subarray(0, 8 + rng.int(text.length)), expect: 'error' },
    { name: 'trailing bytes', bytes: assemble(text, Uint8Array.from([...data, 1, 2, 3, 4])), expect: 'error' },
  ];
  // A valid file, wrong for the model: a matrix stored transposed.
  const oblong = entries.find(([, e]) => e.shape.length === 2 && e.shape[0] !== e.shape[1]);
  if (oblong) out.push({ name: 'a matrix transposed', tensor: oblong[0], bytes: assemble(edit((h) => void ((h[oblong[0]] as Entry).shape = [oblong[1].shape[1]!, oblong[1].shape[0]!])), data), expect: 'error' });
  // The same tensor named twice: JSON.parse would keep the second silently.
  const dup = `{${JSON.stringify(first[0])}:${JSON.stringify(first[1])},${text.slice(1)}`;
  out.push({ name: 'a tensor named twice', tensor: first[0], bytes: assemble(dup, data), expect: 'error' });
  // NaN and ±Inf in the first float tensor, at a seeded index.
  for (const [label, value] of [['NaN', NaN], ['+Inf', Infinity], ['-Inf', -Infinity]] as const) {
    const bytes = valid.slice();
    const [name, e] = f32;
    const count = (e.data_offsets[1] - e.data_offsets[0]) / 4;
    const at = 8 + text.length + e.data_offsets[0] + 4 * rng.int(count);
    new DataView(bytes.buffer).setFloat32(at, value, true);
    out.push({ name: `${label} in a weight`, tensor: name, bytes, expect: 'error' });
  }
  // Seeded single-byte flips in the header: some keep the file valid, most do not.
  for (let i = 0; i < 12; i++) {
    const bytes = valid.slice();
    const at = 8 + rng.int(text.length);
    bytes[at] = rng.int(256);
    out.push({ name: `header byte ${at - 8} flipped (${i})`, bytes, expect: 'either' });
  }
  return out;
}
