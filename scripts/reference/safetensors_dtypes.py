"""Writes test/fixtures/safetensors/dtypes.safetensors: PyTorch's own dtype conversions, so the
TypeScript reader and writer can be checked bit for bit against them.

Run with Debian's Python and PyTorch (apt-get install python3-torch):
    /usr/bin/python3 scripts/reference/safetensors_dtypes.py

Tensors (all 1-D unless said):
  f32.src       F32  source values: specials (±0, ±inf, NaNs, f16/bf16 limits), exact
                     round-to-nearest ties for f16 (normal and subnormal) and bf16, and
                     random bit patterns spanning f16's range and beyond
  f16           F16  f32.src.to(torch.float16)       (PyTorch's rounding: nearest, ties to even)
  bf16          BF16 f32.src.to(torch.bfloat16)
  f16.as_f32    F32  f16.float()                      (widening, exact)
  bf16.as_f32   F32  bf16.float()
  f64           F64  random doubles plus specials
  f64.as_f32    F32  f64.float()
  i64           I64  values inside the Int32 range, both ends included
  i32, i16, i8, u8, bool   one of each
  scalar        F32  shape []
  empty         F32  shape [0, 3]
"""
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import st_io  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "test", "fixtures", "safetensors", "dtypes.safetensors")


def source_bits(rng: random.Random) -> list[int]:
    specials = [
        0x00000000, 0x80000000, 0x7F800000, 0xFF800000,  # ±0, ±inf
        0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FFFFFFF,  # NaNs (quiet, negative, signalling, max payload)
        0x3F800000, 0xBF800000, 0x3DCCCCCD, 0x40490FDB,  # 1, -1, 0.1, pi
        0x477FE000, 0x477FEFFF, 0x477FF000, 0x47800000,  # 65504 (f16 max), just below/at the overflow tie, 65536
        0x38800000, 0x33800000, 0x33000000, 0x33000001,  # 2^-14 (min normal f16), 2^-24, 2^-25 (tie → 0), just above
        0x33C00000, 0x387FC000, 0x387FE000,              # 1.5·2^-24, largest subnormal f16 region, tie into min normal
        0x7F7FFFFF, 0xFF7FFFFF, 0x00000001, 0x807FFFFF,  # f32 max/min, f32 subnormals
        0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF,  # bf16 ties (even stays, odd rounds up), near ties
        0x3F801000, 0x3F803000, 0x3F800FFF, 0x3F801001,  # f16 ties and near ties
        0x7F7F8000, 0x7F7F7FFF,                          # bf16 overflow tie → inf, just below
    ]
    out = list(specials)
    for _ in range(200):  # normal range of f16 and a little either side
        exp = rng.randint(100, 145)
        out.append((rng.getrandbits(1) << 31) | (exp << 23) | rng.getrandbits(23))
    for _ in range(60):  # exact ties for f16: low 13 mantissa bits = 0x1000
        exp = rng.randint(113, 142)
        out.append((rng.getrandbits(1) << 31) | (exp << 23) | (rng.getrandbits(10) << 13) | 0x1000)
    for _ in range(60):  # f16 subnormal ties: exactly half a unit of 2^-24
        exp = rng.randint(103, 112)
        shift = 126 - exp  # bits below the f16 subnormal unit
        mant = (rng.getrandbits(23) >> shift << shift) | (1 << (shift - 1))
        out.append((rng.getrandbits(1) << 31) | (exp << 23) | (mant & 0x7FFFFF))
    for _ in range(60):  # bf16 ties: low 16 bits = 0x8000
        exp = rng.randint(1, 254)
        out.append((rng.getrandbits(1) << 31) | (exp << 23) | (rng.getrandbits(7) << 16) | 0x8000)
    return out


def main() -> None:
    rng = random.Random(1234)
    gen = torch.Generator().manual_seed(1234)
    src = st_io.f32_bits(source_bits(rng))
    f16 = src.to(torch.float16)
    bf16 = src.to(torch.bfloat16)
    f64 = torch.cat([
        torch.randn(64, generator=gen, dtype=torch.float64) * 1e3,
        torch.tensor([0.0, -0.0, 1e-40, 1e-50, 3.4028235677973366e38, 1e39, -1e39, float("inf"), 1 / 3], dtype=torch.float64),
    ])
    tensors = {
        "f32.src": src,
        "f16": f16,
        "bf16": bf16,
        "f16.as_f32": f16.float(),
        "bf16.as_f32": bf16.float(),
        "f64": f64,
        "f64.as_f32": f64.float(),
        "i64": torch.tensor([0, 1, -1, 2**31 - 1, -(2**31), 123456789, -987654321], dtype=torch.int64),
        "i32": torch.tensor([0, -1, 2**31 - 1, -(2**31), 42], dtype=torch.int32),
        "i16": torch.tensor([0, -1, 32767, -32768], dtype=torch.int16),
        "i8": torch.tensor([0, -1, 127, -128], dtype=torch.int8),
        "u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    st_io.save(OUT, tensors, {"format": "pt", "writer": "scripts/reference/safetensors_dtypes.py", "torch": torch.__version__})
    back, _ = st_io.load(OUT)
    for k, v in tensors.items():  # bit-exact read-back (NaN != NaN, so compare bytes)
        assert back[k].shape == v.shape and st_io._raw_bytes(back[k]) == st_io._raw_bytes(v), k
    print(f"wrote {os.path.relpath(OUT, ROOT)} ({os.path.getsize(OUT)} bytes, {len(src)} conversion cases)")


if __name__ == "__main__":
    main()
