// Reading a safetensors file of weights (Node) for the verbs that load them: --init, --adapter,
// import, merge, combine, grad. Every failure is a SafetensorsError whose one-line message starts
// with the path — a missing file or a folder included, which readFile would report as a bare
// ENOENT/EISDIR — and NaN or ±Inf weights are refused unless the user allows them.
import { statSync } from 'node:fs';
import { readSafetensorsFile } from './safetensors-node.ts';
import { SafetensorsError, type SafetensorsFile } from './safetensors.ts';
import { dequantizeFile } from './quantized-weights.ts';

export interface WeightsReadOptions {
  /** Accept NaN and ±Inf (`--allow-nonfinite`); refused by default. */
  allowNonFinite?: boolean;
}

/** The flag that lets non-finite weights through, named in the error that refuses them. */
export const ALLOW_NONFINITE_FLAG = '--allow-nonfinite';

export async function readWeightsFile(path: string, opts: WeightsReadOptions = {}): Promise<SafetensorsFile> {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new SafetensorsError('not-found', `${path}: not a file`);
    size = st.size;
  } catch (err) {
    if (err instanceof SafetensorsError) throw err;
    throw unreadable(path, err);
  }
  // Node reads at most 2 GiB into one buffer: say so instead of failing inside readFile.
  if (size > 2 ** 31 - 1) throw new SafetensorsError('file-too-large', `${path}: ${size} bytes, over the 2 GiB a single file may hold here; shard it (model.safetensors.index.json)`);
  try {
    // A quantized base (peftc quantize) comes back as the F32 tensors it stands for.
    return dequantizeFile(await readSafetensorsFile(path, { finite: !opts.allowNonFinite }), path);
  } catch (err) {
    if (err instanceof SafetensorsError && err.code === 'non-finite') {
      throw new SafetensorsError(err.code, `${err.message} (pass ${ALLOW_NONFINITE_FLAG} to load them anyway)`, err.tensor);
    }
    if (err instanceof SafetensorsError) throw err;
    throw unreadable(path, err);
  }
}

function unreadable(path: string, err: unknown): SafetensorsError {
  const code = (err as NodeJS.ErrnoException).code;
  return new SafetensorsError('read', code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read it (${code ?? String(err)})`);
}
