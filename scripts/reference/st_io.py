"""Minimal safetensors writer/reader for the reference scripts (Python's `safetensors` package
is not installable here). It mirrors Hugging Face's reference serialisation byte for byte:
tensors sorted by dtype alignment (largest first, in the reference's Dtype enum order) then by
name; `__metadata__` first in the header; compact JSON; the header padded with spaces to a
multiple of 8. Data is little-endian, row-major.
"""
import json
import struct

import numpy as np
import torch

# name: (torch dtype, bytes, rank in the reference's Dtype enum: higher is written first)
DTYPES = {
    "BOOL": (torch.bool, 1, 0),
    "U8": (torch.uint8, 1, 1),
    "I8": (torch.int8, 1, 2),
    "I16": (torch.int16, 2, 5),
    "F16": (torch.float16, 2, 7),
    "BF16": (torch.bfloat16, 2, 8),
    "I32": (torch.int32, 4, 9),
    "F32": (torch.float32, 4, 11),
    "F64": (torch.float64, 8, 12),
    "I64": (torch.int64, 8, 13),
}
_BY_TORCH = {v[0]: k for k, v in DTYPES.items()}


def _raw_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().contiguous().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)  # numpy has no bfloat16; the bits are what we want
    arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


def serialize(tensors: dict, metadata: dict | None = None) -> bytes:
    items = []
    for name, t in tensors.items():
        dtype = _BY_TORCH[t.dtype]
        items.append((name, dtype, list(t.shape), _raw_bytes(t)))
    # Names compare as UTF-8 bytes, as Rust's String ordering does.
    items.sort(key=lambda it: (-DTYPES[it[1]][2], it[0].encode("utf-8")))
    header = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, dtype, shape, raw in items:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(it[3] for it in items)


def save(path: str, tensors: dict, metadata: dict | None = None) -> None:
    with open(path, "wb") as f:
        f.write(serialize(tensors, metadata))


def load(path: str) -> tuple[dict, dict | None]:
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    metadata = header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, info in header.items():
        tdtype, _, _ = DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        buf = bytearray(data[base + b : base + e])
        if tdtype in (torch.float16, torch.bfloat16):
            t = torch.frombuffer(buf, dtype=torch.int16).view(tdtype) if buf else torch.empty(0, dtype=tdtype)
        else:
            t = torch.frombuffer(buf, dtype=tdtype) if buf else torch.empty(0, dtype=tdtype)
        out[name] = t.reshape(info["shape"])
    return out, metadata


def f32_bits(values) -> torch.Tensor:
    """A float32 tensor with exactly these bit patterns."""
    return torch.from_numpy(np.array(values, dtype=np.uint32).view(np.float32).copy())
