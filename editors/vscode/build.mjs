// Builds the extension: bundles src/extension.mts with vscode-languageclient into
// dist/extension.js (esbuild; `vscode` is the host's), then packages the folder as a .vsix with
// @vscode/vsce. Usage: node editors/vscode/build.mjs [--no-package] [-o FILE.vsix]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const args = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));
const outIndex = args.indexOf('-o');
const vsix = outIndex >= 0 ? resolve(args[outIndex + 1]) : join(here, `${manifest.name}-${manifest.version}.vsix`);

await build({
  entryPoints: [join(here, 'src/extension.mts')],
  outfile: join(here, 'dist/extension.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode'],
  minify: true,
  logLevel: 'warning',
});

if (!args.includes('--no-package')) {
  // --no-dependencies: the bundle carries what it needs; vsce then runs without npm or a network.
  const vsce = join(root, 'node_modules/@vscode/vsce/vsce');
  const r = spawnSync(process.execPath, [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '-o', vsix], { cwd: here, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
