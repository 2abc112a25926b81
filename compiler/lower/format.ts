// The text forms of a plan: `peftc compile --emit plan` (buffers, bytes by category, kernels in
// order with their workgroups and bound ranges) and `--emit wgsl` (every distinct shader once).
import type { Plan, Region } from './types.ts';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 2 ** 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 2 ** 30) return `${(n / 2 ** 20).toFixed(2)} MiB`;
  return `${(n / 2 ** 30).toFixed(2)} GiB`;
}

const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));

function region(plan: Plan, r: Region): string {
  const b = plan.buffers[r.buffer]!;
  return r.offset === 0 && r.bytes === b.bytes ? `#${r.buffer}` : `#${r.buffer}[${r.offset}+${r.bytes}]`;
}

export function formatPlan(plan: Plan): string {
  const s = plan.stats;
  const out: string[] = [];
  const dispatches = plan.steps.filter((x) => x.kind === 'dispatch').length;
  out.push(
    `plan B=${plan.dims.B} T=${plan.dims.T} ${plan.training ? 'training step' : 'forward only'} ` +
      `(${plan.gpu.isSoftware ? 'software' : 'hardware'} adapter kernels): ${dispatches} dispatches, ` +
      `${plan.steps.length - dispatches} copies, ${plan.shaders.length} distinct shaders`,
  );
  out.push('');
  out.push('bytes by category');
  const rows: [string, number, string?][] = [
    ['frozen params', s.frozenBytes],
    ['trainable params', s.trainableBytes],
    ['gradients', s.gradBytes],
    ['optimizer state', s.optimizerStateBytes],
    ['optimizer scratch', s.optimizerScratchBytes],
    [
      'activations peak',
      s.activationPeakBytes,
      `(live max ${formatBytes(s.activationLiveMaxBytes)}, one buffer per value ${formatBytes(s.activationNoReuseBytes)})`,
    ],
    ['inputs', s.inputBytes],
  ];
  for (const [name, bytes, note] of rows) out.push(`  ${pad(name, 18)} ${pad(formatBytes(bytes), 11)}${note ? ' ' + note : ''}`);
  const total = rows.reduce((a, r) => a + r[1], 0);
  out.push(`  ${pad('total', 18)} ${formatBytes(total)}`);
  if (plan.fusions.length) {
    const counts = new Map<string, number>();
    for (const f of plan.fusions) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
    out.push('');
    out.push(`fusions: ${[...counts].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  }
  out.push('');
  out.push('buffers');
  for (const b of plan.buffers) out.push(`  #${pad(String(b.id), 3)} ${pad(b.kind, 13)} ${pad(b.label, 22)} ${formatBytes(b.bytes)}`);
  let phase = '';
  plan.steps.forEach((st, i) => {
    if (st.phase !== phase) {
      phase = st.phase;
      out.push('');
      out.push(phase);
    }
    if (st.kind === 'copy') {
      out.push(`  ${pad(String(i), 4)} copy ${region(plan, st.src)} → ${region(plan, st.dst)}  ${st.label}`);
      return;
    }
    const sh = plan.shaders[st.shader]!;
    const wg = st.workgroups.join('×');
    out.push(`  ${pad(String(i), 4)} ${pad(st.label, 44)} ${pad(sh.label, 40)} wg ${pad(wg, 12)} ${st.bindings.map((r) => region(plan, r)).join(' ')}`);
  });
  return out.join('\n') + '\n';
}

/** Every distinct shader of the plan once, each under a comment with its label. */
export function formatWgsl(plan: Plan): string {
  return plan.shaders.map((s, i) => `// ---- shader ${i}: ${s.label}\n${s.wgsl.trimEnd()}\n`).join('\n');
}
