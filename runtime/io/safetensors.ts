// safetensors reading and writing over a Uint8Array: no Node APIs, so it runs in a browser too.
// (runtime/io/safetensors-node.ts adds file access.)
//
// Format: u64 little-endian header length N, N bytes of UTF-8 JSON
//   { "__metadata__"?: {string: string}, name: { dtype, shape, data_offsets: [begin, end] }, … }
// then the data buffer; offsets are relative to its start, data is little-endian, row-major.
//
// Reading checks everything the reference implementation (Hugging Face's Rust crate) checks,
// and a little more: the tensors must tile the data buffer exactly (no overlap, no hole, no
// trailing bytes), and each span must equal shape × dtype size. Every problem is a
// SafetensorsError naming the tensor; no RangeError can escape from a typed-array constructor.
//
// Writing matches the reference byte for byte: tensors sorted by dtype alignment (largest
// first, in the reference's enum order) then by name, `__metadata__` first in the header,
// compact JSON, header padded with spaces to a multiple of 8 so every tensor is aligned.
// (Any order of tensors is a valid file; this one makes output deterministic and identical to
// Python's `safetensors.torch.save_file` for the same tensors, except that the reference keeps
// `__metadata__` in a hash map, so with several keys its order there is arbitrary.)
//
// Choices:
// - F16 and BF16 come back as raw bits in a Uint16Array; `asFloat32` widens them (and F64) to
//   Float32Array, exactly. Integers are never converted to floats.
// - I64/U64 come back as Int32Array by default (token ids, shapes: everything this project
//   stores fits), with a range check that fails loudly; `int64: 'bigint'` keeps them 64-bit.
// - Aligned tensors are views into the input bytes (no copy, they share memory with it);
//   unaligned ones (headers not padded to 8, or a Uint8Array at an odd offset) are copied.
// - The header size limit is the reference's 100 MB.
// - A tensor name that occurs twice in the header is an error (JSON.parse would keep the last
//   one silently, and which one a reader sees would depend on the reader).
// - `finite: true` refuses NaN and ±Inf in float tensors, naming the tensor and the first bad
//   index: one pass over the stored values (16-bit floats by their exponent bits), no copy.
//
// The format's types live in safetensors-format.ts, reading in safetensors-read.ts, writing in
// safetensors-write.ts; import from this file.
export {
  MAX_HEADER_BYTES, SafetensorsError,
  type Dtype, type ReadOptions, type ReadTensor, type SafetensorsErrorCode, type SafetensorsFile, type Tensor, type TensorData, type WriteTensor,
} from './safetensors-format.ts';
export { firstNonFinite, getFloat32, parseSafetensors } from './safetensors-read.ts';
export { inferDtype, serializeSafetensors } from './safetensors-write.ts';
