// `peftc export`, `peftc import`, `peftc merge`: moving fine-tunes to and from the PyTorch
// ecosystem (Hugging Face PEFT adapter folders, AdapterHub bottleneck adapters, merged weights).
// Thin: the work is in runtime/interop/.
import { resolve } from 'node:path';
import { compile } from '../compiler/build.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { emitPeft } from '../runtime/interop/emit-peft.ts';
import { InteropError } from '../runtime/interop/errors.ts';
import type { PartSpec } from '../runtime/interop/hf-peft.ts';
import { exportCheckpoint, importToCheckpoint, mergeToFile, readAdapterFolders } from '../runtime/interop/interop-node.ts';
import { FAMILIES, hfNameMap, type Family } from '../runtime/interop/names.ts';
import { report, type CompileFlags } from './common.ts';
import { chooseBase, chooseSet, findFineTune, knowsBase, otherModelHint, unrecordedBase } from './fine-tune.ts';
import { UserError } from './errors.ts';
import { nodeHost } from './node-host.ts';

export interface InteropFlags extends CompileFlags {
  family?: string;
  /** `--allow-nonfinite`: accept NaN/±Inf weights. */
  allowNonfinite?: boolean;
}

function family(flags: InteropFlags): Family | undefined {
  if (flags.family === undefined) return undefined;
  if (!(FAMILIES as readonly string[]).includes(flags.family)) throw new InteropError(`unknown --family \`${flags.family}\`; choose ${FAMILIES.join(', ')}`);
  return flags.family as Family;
}

/** Compiles a .peft as it is used after training (the prefix MLP replaced by its table). */
function compileUsed(file: string, flags: CompileFlags, derivedPrefix: boolean): { graph: Graph; texts: Map<string, string> } | undefined {
  const res = compile(resolve(file), nodeHost, { set: flags.set ?? [], full: flags.full ?? false, derivedPrefix });
  if (report(res)) return undefined;
  return { graph: res.graph!, texts: res.texts };
}

/** A written folder's files, each weights file with its own tensor count (an AdapterHub head is a file of its own). */
export function folderFiles(part: PartSpec): string {
  const counts = new Map<string, number>([[part.weightsFile, 0]]);
  for (const e of part.entries) counts.set(e.file ?? part.weightsFile, (counts.get(e.file ?? part.weightsFile) ?? 0) + 1);
  return ['adapter_config.json', ...Object.keys(part.files ?? {}), ...[...counts].map(([f, n]) => `${f}: ${n} tensors`)].join(', ');
}

export async function exportCommand(ckpt: string, flags: { format: string; out: string; baseModel?: string; adapterName?: string; family?: string; rank?: string; allowNonfinite?: boolean; adaloraAsLora?: boolean }): Promise<number> {
  if (flags.format !== 'hf-peft') throw new InteropError(`unknown --format \`${flags.format}\`; peftc exports hf-peft (Hugging Face PEFT, with bottleneck adapters in AdapterHub's format)`);
  const rank = flags.rank === undefined ? undefined : Number(flags.rank);
  const res = await exportCheckpoint(ckpt, flags.out, { baseModel: flags.baseModel, adapterName: flags.adapterName, family: family(flags), allowNonFinite: flags.allowNonfinite ?? false, ...(rank !== undefined ? { rank } : {}), base: () => chooseBase(findFineTune(ckpt), undefined), ...(flags.adaloraAsLora ? { adalora: 'lora' as const } : {}) });
  res.plan.parts.forEach((part, i) => {
    const kind = part.format === 'hf-peft' ? `Hugging Face PEFT ${String(part.config.peft_type)}` : 'AdapterHub bottleneck adapter';
    const at = res.folders[i] === '.' ? flags.out : `${flags.out}/${res.folders[i]}`;
    process.stdout.write(`${at}: ${kind} (${folderFiles(part)})\n`);
    for (const n of part.notes) process.stdout.write(`  note: ${n}\n`);
  });
  for (const s of res.plan.skipped) process.stderr.write(`peftc: warning: not exported: ${s}\n`);
  return 0;
}

export async function importCommand(hfDir: string, flags: InteropFlags & { peft?: string; out?: string; emitPeft?: string }): Promise<number> {
  if (flags.emitPeft !== undefined) {
    if (flags.peft !== undefined || flags.out !== undefined) throw new InteropError('--emit-peft prints a .peft; it takes neither --peft nor -o');
    const base = compileUsed(flags.emitPeft, flags, false);
    if (!base) return 1;
    const folders = await readAdapterFolders(hfDir);
    const kinds = folders.map((f) => f.config.kind).join(' + ');
    const text = emitPeft(folders, base.graph, hfNameMap(base.graph, family(flags)), flags.emitPeft, `Imported from ${hfDir} (${kinds}) by \`peftc import --emit-peft\``);
    process.stdout.write(text);
    return 0;
  }
  if (flags.peft === undefined || flags.out === undefined) throw new InteropError('`peftc import` needs --peft FILE.peft and -o CKPT_DIR (or --emit-peft BASE.peft)');
  const model = compileUsed(flags.peft, flags, true);
  if (!model) return 1;
  const entry = resolve(flags.peft);
  const res = await importToCheckpoint(hfDir, { graph: model.graph, source: { entry, files: Object.fromEntries(model.texts) }, set: flags.set ?? [], family: family(flags), allowNonFinite: flags.allowNonfinite ?? false }, flags.out);
  const n = model.graph.params.filter((p) => p.partition === 'trainable' && !p.transient).length;
  process.stdout.write(`${flags.out}: ${n} trainable tensors from ${res.folders.length} adapter folder(s) (${res.folders.map((f) => f.config.kind).join(', ')}); step 0\n`);
  return 0;
}

/** `peftc merge FILE --adapter CKPT [--init BASE]`: the base (and --set) default to what the checkpoint recorded. */
export async function mergeCommand(file: string, flags: InteropFlags & { init?: string; adapter: string; out: string }): Promise<number> {
  const ft = findFineTune(flags.adapter);
  const base = chooseBase(ft, flags.init);
  const { set, notes } = chooseSet(ft, flags.set);
  for (const n of [...base.notes, ...notes]) process.stderr.write(`peftc: note: ${n}\n`);
  if (!base.init) {
    throw new UserError(knowsBase(ft)
      ? `${ft.dir} was trained without --init (on seeded weights), so there are no base weights to fold it into: pass --init BASE`
      : `${ft.adapter}: ${unrecordedBase(ft)}: pass --init BASE (the weights it was trained from)`);
  }
  const model = compileUsed(file, { ...flags, set }, true);
  if (!model) return 1;
  const res = await mergeToFile(model.graph, base.init, ft.adapter, flags.out, family(flags), { allowNonFinite: flags.allowNonfinite ?? false }, ft.state?.seed).catch((e: unknown) => {
    // The adapter does not fit FILE: say which .peft the checkpoint was trained from.
    const hint = e instanceof InteropError && e.message.includes('does not fit the .peft model') ? otherModelHint(file, ft) : undefined;
    throw hint ? new InteropError(`${e instanceof Error ? e.message : String(e)}. ${hint}`) : e;
  });
  process.stdout.write(`${flags.out}: ${res.tensors.size} tensors; fine-tune folded into ${res.merged.length}, ${res.replaced.length} replaced by trained weights\n`);
  return 0;
}
