"""Reading and writing .safetensors files with torch alone (the format: an 8-byte
little-endian header length, a JSON header of {name: {dtype, shape, data_offsets}},
then the raw little-endian tensor bytes). The `safetensors` package does the same;
this file spares the trainer the dependency."""
import json
import struct

import torch

DTYPES = {'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
          'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8, 'BOOL': torch.bool}
NAMES = {v: k for k, v in DTYPES.items()}


class SafetensorsError(Exception):
    pass


def load(path):
    """{name: tensor} of the file at path; metadata (`__metadata__`) is left out."""
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 8:
        raise SafetensorsError(f'{path}: too short for a safetensors file')
    (n,) = struct.unpack('<Q', data[:8])
    if 8 + n > len(data):
        raise SafetensorsError(f'{path}: header length {n} runs past the end of the file')
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as e:
        raise SafetensorsError(f'{path}: header is not JSON ({e})') from None
    if not isinstance(header, dict):
        raise SafetensorsError(f'{path}: header is not a JSON object')
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        if name != '__metadata__':
            out[name] = _tensor(path, name, info, body)
    return out


def _tensor(path, name, info, body):
    """One tensor of the header, checked: known dtype, integer shape, offsets inside the body that hold it."""
    if not isinstance(info, dict):
        raise SafetensorsError(f'{path}: tensor {name}: its entry is not a JSON object')
    dtype = DTYPES.get(info.get('dtype'))
    if dtype is None:
        raise SafetensorsError(f'{path}: tensor {name}: unknown dtype {info.get("dtype")!r}')
    shape, offsets = info.get('shape'), info.get('data_offsets')
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise SafetensorsError(f'{path}: tensor {name}: shape {shape!r} is not a list of sizes')
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets):
        raise SafetensorsError(f'{path}: tensor {name}: data_offsets {offsets!r} are not two integers')
    start, end = offsets
    count = 1
    for d in shape:
        count *= d
    if not 0 <= start <= end <= len(body) or end - start != count * torch.tensor([], dtype=dtype).element_size():
        raise SafetensorsError(f'{path}: tensor {name}: data_offsets {start}…{end} do not hold {shape} {info["dtype"]} in a body of {len(body)} bytes')
    raw = bytearray(body[start:end])
    t = torch.frombuffer(raw, dtype=dtype) if count else torch.empty(0, dtype=dtype)
    return t.reshape(shape)


def save(tensors, path, metadata=None):
    """Writes {name: tensor} (contiguous, little-endian) with optional string metadata."""
    header = {}
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        b = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
