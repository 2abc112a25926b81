// Reads the text form of the Model IR (printer.ts) back into a Graph, so that
// print∘parse∘print is the identity and IR files can be written by hand for tests.
// Source ranges are not part of the text form.
import type { AttrValue, Attrs, DType, Graph, InitRule, MethodInfo, Node, Param } from './types.ts';

export class IrParseError extends Error {
  constructor(line: number, message: string) {
    super(`IR line ${line}: ${message}`);
    this.name = 'IrParseError';
  }
}

const PARAM = /^param (\S+) \[([^\]]*)\] (frozen|trainable) (\w+) module=(\S+) init=(.+?)( method=\w+@\S*\(.*\))?( transient)?$/;
const NODE = /^%(\d+) = (\w+)((?: %\d+,?)*)(?: \{(.*)\})? : (f32|i32)\[(.*?)\](?: {2}# (.*))?$/;

export function parseGraph(text: string): Graph {
  const g: Graph = { params: [], nodes: [], inputs: {}, outputs: { logits: -1, loss: -1 }, task: 'causal_lm', promptLength: 0, config: {} };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    const n = i + 1;
    if (line === '') return;
    if (line.startsWith('graph ')) {
      const m = /^graph task=(causal_lm|classification) prompt=(\d+)$/.exec(line);
      if (!m) throw new IrParseError(n, 'malformed graph header');
      g.task = m[1] as Graph['task'];
      g.promptLength = Number(m[2]);
    } else if (line.startsWith('config ')) {
      const m = /^config (\w+) = (.*)$/.exec(line);
      if (!m) throw new IrParseError(n, 'malformed config line');
      g.config[m[1]!] = JSON.parse(m[2]!) as number | string | boolean;
    } else if (line.startsWith('param ')) {
      g.params.push(parseParam(line, n));
    } else if (line.startsWith('%')) {
      g.nodes.push(parseNode(line, n));
    } else if (line.startsWith('inputs')) {
      for (const [, k, v] of line.matchAll(/([\w.]+)=%(\d+)/g)) g.inputs[k!] = Number(v);
    } else if (line.startsWith('outputs ')) {
      const m = /^outputs logits=%(\d+) loss=%(\d+)$/.exec(line);
      if (!m) throw new IrParseError(n, 'malformed outputs line');
      g.outputs = { logits: Number(m[1]), loss: Number(m[2]) };
    } else {
      throw new IrParseError(n, `unexpected line: ${line}`);
    }
  });
  return g;
}

function parseParam(line: string, n: number): Param {
  const m = PARAM.exec(line);
  if (!m) throw new IrParseError(n, 'malformed param line');
  const p: Param = {
    path: m[1]!,
    shape: m[2]!.split(', ').filter(Boolean).map(Number),
    dtype: 'f32',
    init: parseInit(m[6]!, n),
    partition: m[3] as Param['partition'],
    origin: m[4] as Param['origin'],
    module: m[5] === '.' ? '' : m[5]!,
  };
  if (m[7]) p.method = parseMethod(m[7].slice(' method='.length), n);
  if (m[8]) p.transient = true;
  return p;
}

function parseInit(s: string, n: number): InitRule {
  if (s === 'zeros' || s === 'ones') return { kind: s };
  const m = /^(\w+)\((.*)\)$/.exec(s);
  if (!m) throw new IrParseError(n, `malformed init ${s}`);
  const [kind, arg] = [m[1]!, m[2]!];
  if (kind === 'normal') return { kind, std: Number(arg) };
  if (kind === 'uniform') return { kind, bound: Number(arg) };
  if (kind === 'vocab') return { kind, table: arg };
  if (kind === 'text') {
    const comma = arg.indexOf(', ');
    return { kind, table: arg.slice(0, comma), text: JSON.parse(arg.slice(comma + 2)) as string };
  }
  if (kind === 'row_norm') {
    const [weight, layout] = arg.split(', ');
    if (layout === 'in_out' || layout === 'out_in') return { kind, weight: weight!, layout };
  }
  if (kind === 'pissa' || kind === 'olora') {
    const [weight, layout, factor, scale, niter] = arg.split(', ');
    if ((layout === 'in_out' || layout === 'out_in') && (factor === 'A' || factor === 'B')) return { kind, weight: weight!, layout, factor, scale: Number(scale), ...(niter === undefined ? {} : { niter: Number(niter) }) };
  }
  throw new IrParseError(n, `unknown init ${kind}`);
}

function parseMethod(s: string, n: number): MethodInfo {
  const m = /^(\w+)@(\S*?)\((.*)\)$/.exec(s);
  if (!m) throw new IrParseError(n, `malformed method ${s}`);
  const settings: MethodInfo['settings'] = {};
  // Values are JSON; split on `, key=` boundaries outside strings.
  for (const [, k, v] of m[3]!.matchAll(/(\w+)=((?:"(?:[^"\\]|\\.)*"|[^,"])+)(?:, |$)/g)) settings[k!] = JSON.parse(v!) as never;
  return { name: m[1] as MethodInfo['name'], module: m[2]!, settings };
}

function parseNode(line: string, n: number): Node {
  const m = NODE.exec(line);
  if (!m) throw new IrParseError(n, 'malformed node line');
  const inputs = [...m[3]!.matchAll(/%(\d+)/g)].map((x) => Number(x[1]));
  const attrs: Attrs = {};
  if (m[4]) {
    for (const kv of m[4].split(', ')) {
      const eq = kv.indexOf('=');
      attrs[kv.slice(0, eq)] = parseAttr(kv.slice(eq + 1));
    }
  }
  const node: Node = {
    id: Number(m[1]),
    op: m[2]!,
    inputs,
    attrs,
    shape: m[6]!.split(', ').filter(Boolean).map((d) => (/^\d+$/.test(d) ? Number(d) : d)),
    dtype: m[5] as DType,
    scope: m[7] ?? '',
  };
  return node;
}

function parseAttr(s: string): AttrValue {
  if (s === 'true' || s === 'false') return s === 'true';
  if (s.startsWith('[')) return s.slice(1, -1).split(',').filter(Boolean).map(Number);
  const num = Number(s);
  return s !== '' && Number.isFinite(num) ? num : s;
}
