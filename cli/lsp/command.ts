// `peftc lsp [--stdio | --node-ipc]`: runs the language server until the client says exit.
import { createConnection, IPCMessageReader, IPCMessageWriter, ProposedFeatures } from 'vscode-languageserver/node';
import { startServer } from './server.ts';

export function lspCommand(transport: 'stdio' | 'node-ipc'): Promise<void> {
  const connection =
    transport === 'node-ipc'
      ? createConnection(ProposedFeatures.all, new IPCMessageReader(process), new IPCMessageWriter(process))
      : createConnection(ProposedFeatures.all, process.stdin, process.stdout);
  return new Promise((done) => {
    connection.onExit(() => done());
    startServer(connection);
  });
}
