// The `peftc` command. Thin: every verb parses flags and calls library functions.
// No stack trace reaches a user: unexpected failures print one line and exit 2.
import { Command } from 'commander';
import { printAst } from '../grammar/index.ts';
import { printGraph } from '../compiler/ir/printer.ts';
import { addCompileFlags, compileFile, report, type CompileFlags } from './common.ts';
import { paramsCommand } from './params.ts';

const program = new Command();
program.name('peftc').description('A language and compiler for parameter-efficient fine-tuning of Transformers on WebGPU').showHelpAfterError();

addCompileFlags(program.command('check').argument('<file>', '.peft file').description('check a .peft file and print its diagnostics')).action(
  (file: string, flags: CompileFlags) => {
    const res = compileFile(file, flags);
    const failed = report(res);
    if (!failed) process.stdout.write(`${file}: ok\n`);
    process.exitCode = failed ? 1 : 0;
  },
);

addCompileFlags(
  program
    .command('params')
    .argument('<file>', '.peft file')
    .option('--json', 'print JSON')
    .description('list parameters with their partition and origin, and the trainable summary'),
).action((file: string, flags: CompileFlags & { json?: boolean }) => {
  process.exitCode = paramsCommand(file, flags);
});

addCompileFlags(
  program
    .command('compile')
    .argument('<file>', '.peft file')
    .requiredOption('--emit <stage>', 'stage to print: ast | ir')
    .description('compile and print an intermediate form'),
).action((file: string, flags: CompileFlags & { emit: string }) => {
  const res = compileFile(file, flags);
  if (report(res)) return void (process.exitCode = 1);
  if (flags.emit === 'ast') {
    for (const f of res.files) process.stdout.write(printAst(f));
  } else if (flags.emit === 'ir') {
    process.stdout.write(printGraph(res.graph!));
  } else {
    process.stderr.write(`peftc: unknown stage \`${flags.emit}\`; choose ast or ir\n`);
    process.exitCode = 1;
  }
});

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.stderr.write(`peftc: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
}
