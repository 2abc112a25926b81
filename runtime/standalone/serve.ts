// `node train.mjs --serve`: the trainer folder over HTTP on 127.0.0.1, for the browser page.
// It serves the trainer's own files by name and nothing else: no directory listing, no path
// below or above the folder, no other method than GET and HEAD. Every odd request gets a
// status (400 malformed, 403 traversal or a foreign Host, 404 not a trainer file, 405 method,
// 414 too long) and the server goes on; requests are bounded in size and time.
import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { TRAINER_FILES } from './manifest.ts';

/** The files a browser needs; the Node entry and package.json stay private. */
export const SERVED_FILES: ReadonlySet<string> = new Set([
  TRAINER_FILES.page, TRAINER_FILES.pageScript, TRAINER_FILES.manifest, TRAINER_FILES.plan, TRAINER_FILES.weights, TRAINER_FILES.sample, TRAINER_FILES.sampleJsonl,
]);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.safetensors': 'application/octet-stream', '.txt': 'text/plain; charset=utf-8', '.jsonl': 'text/plain; charset=utf-8',
};

/** Longer request targets than this are refused (the longest file name is 19 characters). */
export const MAX_URL_LENGTH = 1024;

export interface ServeOptions {
  /** A request's headers must arrive within this (slow clients are cut off); default 10 s. */
  headersTimeoutMs?: number;
}

/** What a request target asks for: a served file's name, or the status that refuses it. */
export function resolveTarget(url: string | undefined): { file: string } | { status: number; reason: string } {
  if (!url || url.length > MAX_URL_LENGTH) return url ? { status: 414, reason: 'URI too long' } : { status: 400, reason: 'no target' };
  // Origin-form only (`/name?query`): absolute-form and `*` are for proxies and OPTIONS.
  if (!url.startsWith('/')) return { status: 400, reason: 'bad target' };
  const path = url.split(/[?#]/, 1)[0]!.slice(1);
  let name: string;
  try {
    name = decodeURIComponent(path);
  } catch {
    return { status: 400, reason: 'bad percent-encoding' };
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return { status: 400, reason: 'control character in the path' };
  if (/[/\\]/.test(name) || name.includes('..')) return { status: 403, reason: 'only the trainer folder\'s own files are served' };
  const file = name || TRAINER_FILES.page;
  return SERVED_FILES.has(file) ? { file } : { status: 404, reason: 'not found' };
}

/** Host names a page on this machine is reached by; others are refused (DNS rebinding). */
function localHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  return name === '127.0.0.1' || name === 'localhost' || name === '[::1]';
}

function refuse(res: ServerResponse, status: number, reason: string, extra: Record<string, string> = {}): void {
  const body = `${status} ${reason}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

function handle(dir: string, req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('cache-control', 'no-store');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    // The body is not read: close the connection rather than drain an unbounded upload.
    return refuse(res, 405, 'only GET and HEAD', { allow: 'GET, HEAD', connection: 'close' });
  }
  if (!localHost(req.headers.host)) return refuse(res, 403, 'this server answers only to 127.0.0.1 and localhost');
  const target = resolveTarget(req.url);
  if ('status' in target) return refuse(res, target.status, target.reason);
  const path = join(dir, target.file);
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) return refuse(res, 404, 'not found');
    size = st.size;
  } catch {
    return refuse(res, 404, 'not found');
  }
  res.writeHead(200, { 'content-type': TYPES[extname(target.file)] ?? 'application/octet-stream', 'content-length': size });
  if (req.method === 'HEAD') return void res.end();
  const stream = createReadStream(path);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** The server of the trainer folder `dir`; the caller listens (on 127.0.0.1). */
export function trainerServer(dir: string, opts: ServeOptions = {}): Server {
  const headersTimeout = opts.headersTimeoutMs ?? 10_000;
  const server = createServer({
    maxHeaderSize: 8 * 1024,
    headersTimeout,
    requestTimeout: headersTimeout * 3,
    // How often Node looks for requests past their timeouts (its default is 30 s).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, headersTimeout / 4)),
  }, (req, res) => {
    try {
      handle(dir, req, res);
    } catch {
      // Nothing above should throw; if it does, this request fails and the server goes on.
      if (!res.headersSent) refuse(res, 500, 'internal error');
      else res.destroy();
    }
  });
  // A malformed request line, oversized headers or a slow client: Node answers 400, 431 or 408
  // and closes that connection (its default clientError handling), and the server goes on.
  server.keepAliveTimeout = 5_000;
  server.maxRequestsPerSocket = 100;
  return server;
}
