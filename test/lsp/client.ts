// A language client for the tests: spawns `node bin/peftc.js lsp --stdio` and talks to it over
// its stdin and stdout with the protocol library's own connection, as an editor does.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createProtocolConnection,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  PublishDiagnosticsNotification,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type Diagnostic,
  type InitializeResult,
  type ProtocolConnection,
} from 'vscode-languageserver-protocol/node';

const ROOT = resolve(import.meta.dirname, '../..');

export class TestClient {
  readonly connection: ProtocolConnection;
  private readonly server: ChildProcess;
  private readonly diagnostics = new Map<string, { version?: number; diagnostics: Diagnostic[] }>();
  private readonly waiters: (() => void)[] = [];
  private versions = new Map<string, number>();
  /** How many times diagnostics were published, per document. */
  readonly publications = new Map<string, number>();
  stderr = '';

  constructor() {
    this.server = spawn(process.execPath, [resolve(ROOT, 'bin/peftc.js'), 'lsp', '--stdio'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.server.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.connection = createProtocolConnection(new StreamMessageReader(this.server.stdout!), new StreamMessageWriter(this.server.stdin!));
    this.connection.onNotification(PublishDiagnosticsNotification.type, (p) => {
      this.diagnostics.set(p.uri, { version: p.version, diagnostics: p.diagnostics });
      this.publications.set(p.uri, (this.publications.get(p.uri) ?? 0) + 1);
      for (const w of this.waiters.splice(0)) w();
    });
    this.connection.listen();
  }

  async initialize(initializationOptions?: unknown): Promise<InitializeResult> {
    const result = await this.connection.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: {}, initializationOptions });
    await this.connection.sendNotification(InitializedNotification.type, {});
    return result;
  }

  async open(path: string, text: string): Promise<string> {
    const uri = pathToFileURL(path).href;
    this.versions.set(uri, 1);
    await this.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'peft', version: 1, text } });
    return uri;
  }

  async change(uri: string, text: string): Promise<number> {
    const version = (this.versions.get(uri) ?? 1) + 1;
    this.versions.set(uri, version);
    await this.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version }, contentChanges: [{ text }] });
    return version;
  }

  /** The diagnostics of `uri` once a publication satisfies `until` (10 s at most). */
  async diagnosticsOf(uri: string, until: (d: { version?: number; diagnostics: Diagnostic[] }) => boolean = () => true): Promise<Diagnostic[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const got = this.diagnostics.get(uri);
      if (got && until(got)) return got.diagnostics;
      if (Date.now() > deadline) throw new Error(`no diagnostics for ${uri} in time; last: ${JSON.stringify(got)}; stderr: ${this.stderr}`);
      await new Promise<void>((done) => {
        this.waiters.push(done);
        setTimeout(done, 200);
      });
    }
  }

  async close(): Promise<number | null> {
    await this.connection.sendRequest(ShutdownRequest.type);
    await this.connection.sendNotification(ExitNotification.type);
    const code = await new Promise<number | null>((done) => {
      if (this.server.exitCode !== null) return done(this.server.exitCode);
      this.server.on('exit', (c) => done(c));
      setTimeout(() => (this.server.kill(), done(null)), 5000);
    });
    this.connection.dispose();
    return code;
  }
}
