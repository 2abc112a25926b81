// A built trainer against hostile input. Its files: seeded truncations and field mutations of
// trainer.json, plan.json and weights.safetensors must each be refused at load with one line
// naming the file (and the field), never a TypeError. Its server: odd request targets (`%`,
// `%00`, `..%2f`, very long paths, absolute-form), other methods, foreign Host headers and a
// seeded fuzz of paths each get a status, and the server keeps answering. In-process where
// possible; the server listens on 127.0.0.1 only; request counts and times are bounded.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalCommand } from '../../runtime/standalone/eval-command.ts';
import { parseTrainerFiles } from '../../runtime/standalone/files.ts';
import { resolveTarget, trainerServer } from '../../runtime/standalone/serve.ts';
import { TrainerError } from '../../runtime/standalone/trainer-error.ts';
import { peftc } from '../cli/peftc.ts';
import { mulberry32 } from '../prng.ts';

const SET = 'vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2';

const rng = mulberry32;

let work: string;
let dir: string;
let raw: { manifest: string; plan: string; weights: Uint8Array };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'peftc-hostile-'));
  const text = join(work, 'text.txt');
  writeFileSync(text, Array.from({ length: 60 }, (_, i) => `line ${i}: it was the best of times, it was the worst of times`).join('\n'));
  dir = join(work, 'trainer');
  const r = peftc('build', 'examples/gpt2-lora.peft', '--set', SET, '--batch', '2', '--seq', '8', '--steps', '2', '--data', text, '-o', dir);
  expect(r.code, r.stderr).toBe(0);
  raw = {
    manifest: readFileSync(join(dir, 'trainer.json'), 'utf8'),
    plan: readFileSync(join(dir, 'plan.json'), 'utf8'),
    weights: new Uint8Array(readFileSync(join(dir, 'weights.safetensors'))),
  };
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Loads the files; returns the one-line TrainerError message, or null when they load. */
function load(files: typeof raw): string | null {
  try {
    parseTrainerFiles(files);
    return null;
  } catch (e) {
    if (!(e instanceof TrainerError)) throw new Error(`not a TrainerError: ${(e as Error).stack}`);
    expect(e.message).not.toContain('\n');
    return e.message;
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path into `v` (objects' keys and arrays' indices), with the value there. */
function paths(v: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (prefix.length) out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

/** A value of another JSON type than `v`. */
function wrongType(v: Json): Json {
  if (typeof v === 'number') return 'seven';
  if (typeof v === 'string') return 7;
  if (typeof v === 'boolean') return 'yes';
  if (v === null) return true;
  return Array.isArray(v) ? {} : [];
}

/** Fields the runtime never reads, where a wrong type is harmless and not checked. */
const UNREAD = [
  /^params\.\d+\.(dtype|init|origin|module|method)(\.|$)/,
  /^(hardware|software)\.(train|eval)\.(stats|fusions|optimizer\.(?!kind))/,
  // The program's files, copied into checkpoints as they are.
  /^model\.sources\./,
  // Optional fields, deleted: a model without a token table or labels, a plan without an optimizer state.
  /^model\.(vocab|numLabels|frozenDtype|recompute)$/,
  // Read back only by callers asking for logits; the built trainer asks for the loss.
  /^(hardware|software)\.(train|eval)\.io\.logits$/,
  /^(hardware|software)\.(train|eval)\.ids\.(m|v|decay|hyper|partials|clip)$/,
  /^target\.limits\.(?!max)/,
  // Regions carry the value's shape for readers of the plan; the executor binds bytes.
  /\.(bindings\.\d+|values\.\d+|src|dst|region)\.shape(\.|$)/,
];

/** `count` seeded mutations of fields the runtime reads: each must be refused, naming the file. */
function mutate(text: string, seed: number, count: number, file: string): number {
  const doc = JSON.parse(text) as Json;
  const read = paths(doc).filter((p) => !UNREAD.some((r) => r.test(p.join('.'))));
  const random = rng(seed);
  for (let n = 0; n < count; n++) {
    const path = read[Math.floor(random() * read.length)]!;
    const copy = structuredClone(doc);
    let parent = copy as Record<string | number, Json>;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
    const key = path[path.length - 1]!;
    const del = random() < 0.3 && !Array.isArray(parent);
    if (del) delete parent[key];
    else parent[key] = wrongType(parent[key]!);
    const mutated = JSON.stringify(copy);
    const msg = load(file === 'trainer.json' ? { ...raw, manifest: mutated } : { ...raw, plan: mutated });
    const what = `${del ? 'deleting' : 'a wrong type at'} ${path.join('.')}`;
    expect(msg, `${file}: ${what} was accepted`).not.toBeNull();
    expect(msg!.startsWith(`${file}: `), `${what}: ${msg}`).toBe(true);
  }
  return read.length;
}

describe("the built trainer's files", () => {
  it('load as built', () => {
    expect(load(raw)).toBeNull();
  });

  it('truncated at seeded offsets: one line naming the file', () => {
    const random = rng(17);
    for (let n = 0; n < 40; n++) {
      const cutJson = (s: string) => s.slice(0, Math.floor(random() * s.length));
      expect(load({ ...raw, manifest: cutJson(raw.manifest) })).toMatch(/^trainer\.json: /);
      expect(load({ ...raw, plan: cutJson(raw.plan) })).toMatch(/^plan\.json: /);
      expect(load({ ...raw, weights: raw.weights.subarray(0, Math.floor(random() * raw.weights.length)) })).toMatch(/^weights\.safetensors/);
    }
  });

  it('seeded field mutations (wrong types, deleted keys) of every field the runtime reads: refused with the file and the field', () => {
    const m = mutate(raw.manifest, 101, 250, 'trainer.json');
    const p = mutate(raw.plan, 202, 400, 'plan.json');
    console.log(`250 mutations of trainer.json (${m} fields read) and 400 of plan.json (${p} fields read): all refused`);
  });

  it('plans that do not fit together: the field and what it must be', () => {
    const plan = JSON.parse(raw.plan) as Record<string, Record<string, Record<string, unknown>>>;
    const cases: [string, (p: typeof plan) => void, RegExp][] = [
      ['a shader index past the shaders', (p) => ((p.software!.train!.steps as { shader?: number }[]).find((s) => s.shader !== undefined)!.shader = 9999), /software\.train\.steps\[\d+\]\.shader must be an integer from 0 to \d+, not 9999/],
      ['a region past its buffer', (p) => ((p.software!.train!.io as { loss: { offset: number } }).loss.offset = 1e12), /software\.train\.io\.loss\.offset must be an integer from 0 to \d+/],
      ['another batch shape', (p) => ((p.hardware!.train!.dims as { B: number }).B = 3), /hardware\.train\.dims must be trainer\.json's 2×8, not "3×8"/],
      ['a buffer id out of place', (p) => ((p.software!.train!.buffers as { id: number }[])[1]!.id = 0), /buffers\[1\]\.id must be an integer from 1 to 1/],
      ['a missing kind of plans', (p) => delete p.hardware, /no hardware plans, though trainer\.json lists them/],
      ['a parameter the manifest does not have', (p) => (((p.software!.train!.trainable as { slots: { path: string }[] }).slots[0]!.path = 'h.9.nope')), /software\.train\.trainable\.slots\[0\] must be h\.0\.attn\.c_attn\.lora_A\.weight of shape/],
      ['an absurd buffer', (p) => ((p.software!.train!.buffers as { bytes: number }[])[0]!.bytes = 2 ** 50), /buffers\[0\]\.bytes must be an integer from 0 to/],
    ];
    for (const [what, change, want] of cases) {
      const p = structuredClone(plan);
      change(p);
      expect(load({ ...raw, plan: JSON.stringify(p) }), what).toMatch(want);
    }
    const manifest = JSON.parse(raw.manifest) as { params: { path: string }[]; sample: { file: string }; format: string };
    const dup = structuredClone(manifest);
    dup.params[1]!.path = dup.params[0]!.path;
    expect(load({ ...raw, manifest: JSON.stringify(dup) })).toMatch(/^trainer\.json: params names \S+ twice/);
    const escape = structuredClone(manifest);
    escape.sample.file = '../../etc/passwd';
    expect(load({ ...raw, manifest: JSON.stringify(escape) })).toMatch(/^trainer\.json: sample\.file must be one of sample\.txt, sample\.jsonl/);
    expect(load({ ...raw, manifest: JSON.stringify({ ...manifest, format: 'peftc-trainer/9' }) })).toMatch(/^trainer\.json: format "peftc-trainer\/9"; this trainer reads peftc-trainer\/1/);
  });

  it('the page and docs give the eval command with --init when the trainer has a base', () => {
    const model = { entry: 'm.peft', set: ['a=1', 'b=2'], base: null as string | null };
    expect(evalCommand({ model } as never)).toBe('peftc eval m.peft --set a=1 --set b=2 --adapter adapter.safetensors --data …');
    expect(evalCommand({ model: { ...model, base: 'gpt2.safetensors' } } as never)).toBe('peftc eval m.peft --set a=1 --set b=2 --init gpt2.safetensors --adapter adapter.safetensors --data …');
  });
});

/** One raw HTTP/1.1 exchange; resolves with the status (0: closed without one) and the whole reply. */
function exchange(port: number, request: string, timeoutMs = 3000): Promise<{ status: number; reply: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply within ${timeoutMs} ms to ${JSON.stringify(request.slice(0, 80))}`));
    }, timeoutMs);
    socket.on('data', (d) => (reply += d.toString('latin1')));
    socket.on('error', () => {}); // a reset after the reply is fine
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0), reply });
    });
    socket.write(request);
  });
}

const get = (target: string, headers = 'Host: 127.0.0.1\r\n', method = 'GET') => `${method} ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`;

describe('the built trainer\'s server (in-process, 127.0.0.1)', () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = trainerServer(dir, { headersTimeoutMs: 300 });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => new Promise<void>((res) => server?.close(() => res())));

  it('serves the page and the trainer files, and nothing else', async () => {
    const page = await exchange(port, get('/'));
    expect(page.status).toBe(200);
    expect(page.reply).toContain('<svg id="chart"');
    const manifest = await exchange(port, get('/trainer.json?x=1'));
    expect(manifest.status).toBe(200);
    expect(manifest.reply.endsWith(raw.manifest)).toBe(true);
    for (const target of ['/train.mjs', '/package.json', '/nope.txt', '/%74rain.mjs']) expect((await exchange(port, get(target))).status, target).toBe(404);
  });

  it('odd targets, methods and hosts get a status, and the server goes on', async () => {
    const cases: [string, number][] = [
      [get('/%'), 400], [get('/%zz'), 400], [get('/%00'), 400], [get('/trainer.json%00.txt'), 400], [get('/%E0%A4%A'), 400],
      [get('/..%2ftrainer.json'), 403], [get('/..%2f..%2fetc%2fpasswd'), 403], [get('/%2e%2e/package.json'), 403], [get('/../package.json'), 403],
      [get('/sub/trainer.json'), 403], [get('/..\\trainer.json'), 403], [get('/%5c..%5ctrain.mjs'), 403],
      [get('http://127.0.0.1/trainer.json'), 400], [get('*'), 400],
      [get('/' + 'a'.repeat(2000)), 414], [get('/' + 'a'.repeat(20_000)), 431],
      [get('/', 'Host: 127.0.0.1\r\n', 'POST'), 405], [get('/', 'Host: 127.0.0.1\r\n', 'DELETE'), 405], [get('/', 'Host: 127.0.0.1\r\n', 'OPTIONS'), 405],
      [get('/', 'Host: evil.example\r\n'), 403], [get('/', ''), 400],
      ['BLAH\r\n\r\n', 400], ['GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: ' + 'y'.repeat(10_000) + '\r\n\r\n', 431],
    ];
    for (const [request, status] of cases) expect((await exchange(port, request)).status, JSON.stringify(request.slice(0, 60))).toBe(status);
    const head = await exchange(port, get('/trainer.json', 'Host: localhost\r\n', 'HEAD'));
    expect(head.status).toBe(200);
    expect(head.reply).toMatch(new RegExp(`content-length: ${Buffer.byteLength(raw.manifest)}`, 'i'));
    expect(head.reply.endsWith('\r\n\r\n')).toBe(true); // no body
    expect((await exchange(port, get('/'))).status).toBe(200);
  });

  it('a seeded fuzz of 150 targets: each gets 200, 400, 403, 404 or 414, within a second', async () => {
    const random = rng(7);
    const alphabet = ['a', 'trainer', '.json', '.', '..', '/', '%', '%2f', '%2e', '%00', '%5c', '\\', '%ff', '%c3%a9', 'é', '?', '#', ';', '%25', 'index.html', ' ', '+'];
    const seen = new Map<number, number>();
    for (let n = 0; n < 150; n++) {
      let target = '/';
      const len = 1 + Math.floor(random() * 8);
      for (let i = 0; i < len; i++) target += alphabet[Math.floor(random() * alphabet.length)];
      // Spaces and non-ASCII would end or break the request line; percent-encode them as a browser would.
      target = target.replace(/ /g, '%20').replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));
      const { status } = await exchange(port, get(target), 1000);
      const expected = resolveTarget(target);
      expect([200, 400, 403, 404, 414], target).toContain(status);
      expect(status, target).toBe('file' in expected ? 200 : expected.status);
      seen.set(status, (seen.get(status) ?? 0) + 1);
    }
    console.log(`fuzzed targets by status: ${[...seen].sort().map(([s, c]) => `${s}: ${c}`).join(', ')}`);
    expect((await exchange(port, get('/'))).status).toBe(200);
  });

  it('a client that never finishes its headers is cut off', async () => {
    const t0 = performance.now();
    const { status } = await exchange(port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n', 5000);
    expect([0, 408]).toContain(status);
    expect(performance.now() - t0).toBeLessThan(4000);
  });
});

describe('the built trainer, end to end', () => {
  it('`node train.mjs --serve 0` survives GET /% (it used to die of an uncaught URIError)', async () => {
    const child = spawn(process.execPath, [join(dir, 'train.mjs'), '--serve', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((res, rej) => {
        child.stdout.on('data', (d: Buffer) => {
          const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(String(d));
          if (m) res(Number(m[1]));
        });
        child.on('exit', (code) => rej(new Error(`the server exited with ${code}`)));
      });
      expect((await exchange(port, get('/%'))).status).toBe(400);
      expect((await exchange(port, get('/..%2f..%2fpackage.json'))).status).toBe(403);
      expect((await exchange(port, get('/'))).status).toBe(200);
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill();
    }
  });

  it('a truncated plan.json or a corrupt trainer.json: one line naming the file and field, exit 1', async () => {
    const broken = join(work, 'broken');
    cpSync(dir, broken, { recursive: true });
    writeFileSync(join(broken, 'plan.json'), raw.plan.slice(0, 1000));
    const run = (...args: string[]) => new Promise<{ code: number; stderr: string }>((res) => {
      const c = spawn(process.execPath, [join(broken, 'train.mjs'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr.on('data', (d: Buffer) => (stderr += String(d)));
      c.on('exit', (code) => res({ code: code ?? -1, stderr }));
    });
    const a = await run('--steps', '1');
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^plan\.json: not valid JSON \(.*\); the file is truncated or corrupt: rebuild the trainer with `peftc build`\n$/);
    writeFileSync(join(broken, 'plan.json'), raw.plan);
    const m = JSON.parse(raw.manifest) as { dims: { B: unknown } };
    m.dims.B = 'two';
    writeFileSync(join(broken, 'trainer.json'), JSON.stringify(m));
    const b = await run('--steps', '1');
    expect(b.code).toBe(1);
    expect(b.stderr).toBe('trainer.json: dims.B must be an integer from 1 to 65536, not "two"; rebuild the trainer with `peftc build`\n');
  });
});
