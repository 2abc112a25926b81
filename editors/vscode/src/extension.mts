// The VS Code side of the peft language: starts `peftc lsp --stdio` for .peft files and passes
// the `peftc.set` setting to it (at start and whenever it changes). Everything else (diagnostics,
// hover, completion, definitions, rename, formatting) is the language server's.
import { workspace, type ExtensionContext } from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';

let client: LanguageClient | undefined;

export async function activate(context: ExtensionContext): Promise<void> {
  const config = workspace.getConfiguration('peftc');
  const command = config.get<string>('path', 'peftc');
  const run = { command, args: ['lsp', '--stdio'], transport: TransportKind.stdio, options: { shell: process.platform === 'win32' } };
  const serverOptions: ServerOptions = { run, debug: run };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ language: 'peft' }],
    initializationOptions: { set: config.get<string[]>('set', []) },
    // Sends `settings.peftc` on every change of the section.
    synchronize: { configurationSection: 'peftc' },
  };
  client = new LanguageClient('peftc', 'peftc language server', serverOptions, clientOptions);
  context.subscriptions.push(client);
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
