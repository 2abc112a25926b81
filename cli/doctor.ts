// `peftc doctor [--adapter auto|hardware|swiftshader|llvmpipe|all] [--json]`: reports the WebGPU
// adapter and runs the runtime's self-test. Returns the exit code: 0 when every adapter examined
// passed, 1 otherwise (no adapter, or a wrong result), 2 for a bad option.

import { ADAPTER_CHOICES, type AdapterChoice } from '../runtime/webgpu/device.ts';
import { type DoctorReport, formatDoctorReport, runDoctor } from '../runtime/webgpu/doctor.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';

export interface DoctorCommandOptions {
  /**
   * One adapter (missing: exit 1), or 'all': each of hardware, swiftshader and llvmpipe, where a
   * missing hardware GPU is reported but does not fail (a missing software adapter does).
   */
  adapter?: AdapterChoice | 'all';
  /** Print the report(s) as JSON instead of text. */
  json?: boolean;
  /** Where output goes; default stdout. */
  write?: (text: string) => void;
}

export async function doctorCommand(opts: DoctorCommandOptions = {}): Promise<number> {
  const write = opts.write ?? ((text: string) => process.stdout.write(`${text}\n`));
  const choice = opts.adapter ?? 'auto';
  if (choice !== 'all' && !ADAPTER_CHOICES.includes(choice)) {
    write(`error: unknown adapter '${String(choice)}'; expected one of ${[...ADAPTER_CHOICES, 'all'].join(', ')}`);
    return 2;
  }
  const choices: AdapterChoice[] = choice === 'all' ? ['hardware', 'swiftshader', 'llvmpipe'] : [choice];
  const reports: (DoctorReport & { requested: AdapterChoice })[] = [];
  for (const adapter of choices) {
    const report = await runDoctor({ open: () => openNodeGpu({ adapter }) });
    reports.push({ requested: adapter, ...report });
  }
  if (opts.json) {
    write(JSON.stringify(choice === 'all' ? reports : reports[0], null, 2));
  } else {
    write(reports.map((r) => (choices.length > 1 ? `[${r.requested}]\n` : '') + formatDoctorReport(r)).join('\n\n'));
  }
  const passed = (r: DoctorReport & { requested: AdapterChoice }): boolean =>
    r.ok || (choice === 'all' && r.requested === 'hardware' && r.missing === true);
  return reports.every(passed) ? 0 : 1;
}
