// The front end as one pure function: .peft text (through a SourceHost) → Model IR
// plus diagnostics. Stages: load → declarations → config → module tree → PEFT
// assignment → trace (graph + rewrites) → partitions → verify.
import type { BlockDecl, ModelDecl, SourceFile } from '../grammar/ast.ts';
import type { Diagnostic } from '../grammar/diagnostics.ts';
import { Codes } from './codes.ts';
import { evaluateConfig, parseSet, type Overrides } from './config.ts';
import { Reporter } from './evaluate.ts';
import { formatShape } from './ir/dims.ts';
import type { Graph } from './ir/types.ts';
import { verifyGraph } from './ir/verify.ts';
import { loadProgram, type SourceHost } from './load.ts';
import { ModuleBuilder, type ModuleInst } from './modules.ts';
import { assignPartitions } from './partitions.ts';
import { assignPeft, type PeftPlan } from './peft/assign.ts';
import { checkRecomputeSetting } from './recompute-setting.ts';
import { Tracer } from './trace.ts';

export interface CompileOptions {
  /** `--set` strings (`a=1,b=2`), already split per flag. */
  set?: string[];
  /** Parsed overrides (merged after `set`). */
  overrides?: Overrides;
  /** Train every parameter (full fine-tuning), whatever the PEFT annotations say. */
  full?: boolean;
  /**
   * Build prefix tuning with the derived table as a plain parameter (`prefix_embeddings`)
   * instead of the reparameterisation MLP: the model as it is used after training.
   */
  derivedPrefix?: boolean;
  /** Ignore every PEFT annotation: the base model alone (with `full`, its full fine-tune). */
  basePeftOff?: boolean;
}

export interface CompileResult {
  graph?: Graph;
  diagnostics: Diagnostic[];
  /** Diagnostics past the compiler's bound (MAX_DIAGNOSTICS), counted but not kept. */
  omitted?: { errors: number; warnings: number };
  /** Source texts by path, for printing diagnostics. */
  texts: Map<string, string>;
  files: SourceFile[];
  root?: ModuleInst;
  plan?: PeftPlan;
}

export function compile(entry: string, host: SourceHost, opts: CompileOptions = {}): CompileResult {
  const r = new Reporter();
  const loaded = loadProgram(entry, host);
  for (const d of loaded.diagnostics) r.add(d);
  const res: CompileResult = { diagnostics: r.diagnostics, omitted: r.omitted, texts: loaded.texts, files: loaded.files };
  if (r.failed) return res;

  const { blocks, model } = declarations(loaded.files, r);
  const overrides = new Map([...parseSet(opts.set ?? [], r), ...(opts.overrides ?? [])]);
  const config = evaluateConfig(loaded.files, overrides, r);
  checkRecomputeSetting(loaded.files, config.values, overrides, r);
  if (!model || r.failed) return res;

  const init = config.values.initializer_range;
  const root = new ModuleBuilder(blocks, config.scope, typeof init === 'number' ? init : 0.02, r).model(model);
  res.root = root;
  if (r.failed) return res;
  const plan = opts.basePeftOff ? { apps: [], train: new Map(), any: false } : assignPeft(root, loaded.files, config.scope, r);
  res.plan = plan;
  if (r.failed) return res;

  const graph = trace(root, plan, model, r, opts.derivedPrefix ?? false);
  if (!graph || r.failed) return res;
  graph.config = config.values;
  assignPartitions(graph.params, plan, opts.full ?? false);
  const problems = verifyGraph(graph);
  for (const p of problems) r.error(Codes.IrInvalid, `internal: the IR failed verification: ${p}`, model.range);
  if (!r.failed) res.graph = graph;
  return res;
}

function declarations(files: SourceFile[], r: Reporter): { blocks: Map<string, BlockDecl>; model?: ModelDecl } {
  const blocks = new Map<string, BlockDecl>();
  let model: ModelDecl | undefined;
  for (const f of files) {
    for (const item of f.items) {
      if (item.kind === 'block') {
        const prev = blocks.get(item.name.name);
        if (prev) r.error(Codes.Duplicate, `block \`${item.name.name}\` is already defined`, item.name.range, [{ message: 'first defined here', range: prev.name.range }]);
        else blocks.set(item.name.name, item);
      } else if (item.kind === 'model') {
        if (model) r.error(Codes.MultipleModels, `a program has one model; \`${model.name.name}\` is already defined`, item.name.range, [{ message: 'the model is defined here', range: model.name.range }]);
        else model = item;
      }
    }
  }
  if (!model && files.length) {
    const entry = files[files.length - 1]!;
    r.error(Codes.NoModel, 'no `model` found: declare one, or `import` the file that has it', entry.range);
  }
  return { blocks, model };
}

function trace(root: ModuleInst, plan: PeftPlan, model: ModelDecl, r: Reporter, derivedPrefix: boolean): Graph | undefined {
  const t = new Tracer(root, plan, r, derivedPrefix);
  const fwd = model.forward;
  if (!fwd || fwd.params.length !== 1) {
    r.error(Codes.NoForward, `model \`${model.name.name}\` needs \`forward(tokens) { … }\` with one input`, fwd?.range ?? model.range);
    return undefined;
  }
  const tokens = t.b.input('tokens', ['B', 'T'], 'i32');
  const out = t.runBlock(root, [{ kind: 'tensor', id: tokens, src: fwd.params[0]!.range }], model.range);
  const silent = plan.apps.filter((a) => a.method === 'prefix' && !t.attentionCalls.get(a.module.path));
  if (silent.length) {
    const more = silent.length > 1 ? ` (nor ${silent.length - 1} more module${silent.length > 2 ? 's' : ''} matched)` : '';
    r.error(Codes.MethodNotApplicable, `prefix applies to blocks that call \`attention\`; \`${silent[0]!.module.path}\` calls none${more}`, silent[0]!.range);
  }
  if (out.kind !== 'tensor') {
    if (out.kind !== 'poison') r.error(Codes.BadOutput, 'the model must return the logits tensor', fwd.range);
    return undefined;
  }
  const shape = t.shapeOf(out);
  let task: Graph['task'];
  let targets: number;
  if (String(shape[0]) !== 'B') {
    r.error(Codes.BadOutput, `the model returns shape ${formatShape(shape)}, which has no batch axis; expected logits [B, S, vocab] or [B, classes]`, fwd.range);
    return undefined;
  }
  if (shape.length === 3) {
    task = 'causal_lm';
    targets = t.b.input('targets', [shape[0]!, shape[1]!], 'i32');
  } else if (shape.length === 2) {
    task = 'classification';
    targets = t.b.input('targets', [shape[0]!], 'i32');
  } else {
    r.error(Codes.BadOutput, `the model returns shape ${formatShape(shape)}; expected logits [B, S, vocab] (language model) or [B, classes] (classifier)`, fwd.range);
    return undefined;
  }
  const loss = t.b.op('cross_entropy', [out.id, targets], { ignore_index: -100 });
  const g: Graph = {
    params: t.b.params,
    nodes: t.b.nodes,
    inputs: { tokens, ...t.inputs, targets },
    outputs: { logits: out.id, loss },
    task,
    promptLength: t.promptLength,
    config: {},
  };
  if (t.prefix.tableNode !== undefined) g.prefixTable = t.prefix.tableNode;
  return g;
}
