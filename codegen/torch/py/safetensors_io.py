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
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        dtype = DTYPES.get(info.get('dtype'))
        if dtype is None:
            raise SafetensorsError(f'{path}: tensor {name}: unknown dtype {info.get("dtype")!r}')
        start, end = info['data_offsets']
        shape = info['shape']
        count = 1
        for d in shape:
            count *= d
        if end > len(body) or end - start != count * torch.tensor([], dtype=dtype).element_size():
            raise SafetensorsError(f'{path}: tensor {name}: data_offsets {start}…{end} do not hold {shape} {info["dtype"]}')
        raw = bytearray(body[start:end])
        t = torch.frombuffer(raw, dtype=dtype) if count else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(shape)
    return out


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
