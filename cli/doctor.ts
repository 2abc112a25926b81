// `peftc doctor [--gpu auto|hardware|swiftshader|llvmpipe|all] [--json]`: reports the WebGPU
// adapter and runs the runtime's self-test. Returns the exit code: 0 when every adapter examined
// passed, 1 otherwise (no adapter, or a wrong result), 2 for a bad option.

import { GPU_CHOICES, type GpuChoice } from '../runtime/webgpu/device.ts';
import { type DoctorReport, formatDoctorReport, runDoctor } from '../runtime/webgpu/doctor.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { softwareGpuNote } from './gpu-note.ts';

/** The wasm backend's self-test and its lines (loaded on demand: it starts the backend's threads). */
async function checkWasm(): Promise<{ ok: boolean; text: string }> {
  const { formatWasmCheck, wasmSelfTest } = await import('../runtime/wasm/self-test.ts');
  const check = wasmSelfTest();
  return { ok: check.ok, text: formatWasmCheck(check) };
}

export interface DoctorCommandOptions {
  /**
   * One adapter (missing: exit 1), or 'all': each of hardware, swiftshader and llvmpipe, where a
   * missing hardware GPU is reported but does not fail (a missing software adapter does).
   */
  gpu?: GpuChoice | 'all';
  /** Print the report(s) as JSON instead of text. */
  json?: boolean;
  /** Where output goes; default stdout. */
  write?: (text: string) => void;
}

export async function doctorCommand(opts: DoctorCommandOptions = {}): Promise<number> {
  const write = opts.write ?? ((text: string) => process.stdout.write(`${text}\n`));
  const choice = opts.gpu ?? 'auto';
  if (choice !== 'all' && !GPU_CHOICES.includes(choice)) {
    write(`error: --gpu must be one of ${[...GPU_CHOICES, 'all'].join(', ')}, not \`${String(choice)}\``);
    return 2;
  }
  const choices: GpuChoice[] = choice === 'all' ? ['hardware', 'llvmpipe', 'swiftshader'] : [choice];
  const reports: (DoctorReport & { requested: GpuChoice })[] = [];
  for (const gpu of choices) {
    const report = await runDoctor({ open: () => openNodeGpu({ gpu: gpu }) });
    reports.push({ requested: gpu, ...report });
  }
  if (opts.json) {
    write(JSON.stringify(choice === 'all' ? reports : reports[0], null, 2));
  } else {
    const text = reports.map((r) => (choices.length > 1 ? `[${r.requested}]\n` : '') + formatDoctorReport(r)).join('\n\n');
    // 'auto' settled on a CPU adapter: there is no GPU, and the CPU backend may be the faster.
    const a = reports[0]!.gpu;
    write(choice === 'auto' && a?.isSoftware ? `${text}\n${softwareGpuNote(a.gpuClass)}` : text);
  }
  const passed = (r: DoctorReport & { requested: GpuChoice }): boolean =>
    r.ok || (choice === 'all' && r.requested === 'hardware' && r.missing === true);
  // The CPU's fast path too, in the text report (the JSON stays the WebGPU report).
  const wasm = opts.json ? undefined : await checkWasm();
  if (wasm) write(`\n${wasm.text}`);
  return reports.every(passed) && (wasm?.ok ?? true) ? 0 : 1;
}
