#!/usr/bin/env python3
"""Trains the model of model.py, on one process or under `torchrun --nproc_per_node N`.

Written by `peftc build --target torch`; see README.md. The same optimizer (AdamW with
decoupled weight decay on matrices only, or SGD with momentum and L2 decay on matrices), schedule (linear warm-up, then cosine or constant),
gradient clipping and loss (mean over the counted target positions of the global batch) as
`peftc train`. `--grad` instead computes one forward and backward with `peftc grad`'s contract.
"""
import argparse
import json
import math
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import rank  # noqa: E402
import safetensors_io  # noqa: E402
from model import PROMPT_LENGTH, TASK, Model  # noqa: E402

with open(os.path.join(HERE, 'config.json')) as f:
    BUILD = json.load(f)
IGNORE = -100
STATE_FILE = 'trainer_state.pt'


class UsageError(Exception):
    """A mistake in what was asked (a file, a flag): printed as one line, exit 1."""


def parse_args(argv):
    d = BUILD['defaults']
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--grad', action='store_true', help="one forward and backward: write loss, logits and grad.<path> (peftc grad's contract)")
    p.add_argument('--tokens', help='--grad: a JSON array of equal-length token rows')
    p.add_argument('--labels', help='--grad, classification: a JSON array of one label per row')
    p.add_argument('--init', help='weights by parameter path (.safetensors), over the built initial weights')
    p.add_argument('--data', default=d['data'] and os.path.join(HERE, d['data']), help='training rows: a data.safetensors written by peftc build --data')
    p.add_argument('--valid', help="validation rows: another such file (its valid rows, else its train rows); default: the data file's")
    p.add_argument('--steps', type=int, default=d['steps'], help='optimizer steps (default: one epoch)')
    p.add_argument('--batch', type=int, default=d['batch'], help='rows per process and step (the global batch is batch × processes)')
    p.add_argument('--seq', type=int, help="tokens per row: the first SEQ of each built row (default: all; build with peftc build --seq for longer rows)")
    p.add_argument('--lr', type=float, default=d['lr'], help='peak learning rate')
    p.add_argument('--schedule', choices=['constant', 'cosine'], default=d['schedule'])
    p.add_argument('--warmup', type=int, default=d['warmup'], help='linear warm-up steps')
    p.add_argument('--weight-decay', type=float, default=d['weight_decay'], help='decoupled weight decay, matrices only')
    p.add_argument('--clip', type=float, default=d['clip'], help='clip gradients to this global norm, 0: off')
    p.add_argument('--eval-every', type=int, default=d['eval_every'], help='validate and checkpoint every n steps (default: 5 times per run)')
    p.add_argument('--eval-rows', type=int, default=d['eval_rows'], help='validation rows, evenly spaced over the split')
    p.add_argument('--seed', type=int, default=d['seed'], help='seed of the data order and dropout')
    p.add_argument('--out', help='--grad: the .safetensors to write; training: the checkpoint folder')
    p.add_argument('--resume', help='a checkpoint folder written by this trainer: continue its run')
    p.add_argument('--stop-at', type=int, help='stop (and checkpoint) after this step, as if interrupted')
    p.add_argument('--dtype', choices=['float32', 'float64'], default='float32')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--json', action='store_true', help='one JSON object per step and evaluation on stdout')
    return p.parse_args(argv)


# ---------------------------------------------------------------- weights and files

def load_file(path, what):
    if not path or not os.path.isfile(path):
        raise UsageError(f'{what}: no file `{path}`')
    try:
        return safetensors_io.load(path)
    except safetensors_io.SafetensorsError as e:
        raise UsageError(str(e)) from None


def load_weights(model, path, where):
    """Copies each tensor of the file into the parameter of the same path (shapes must agree)."""
    params = dict(model.named_parameters())
    tensors = load_file(path, where)
    matched = 0
    for name, t in tensors.items():
        p = params.get(name)
        if p is None:
            continue
        if tuple(t.shape) != tuple(p.shape):
            raise UsageError(f'{path}: tensor {name} is {list(t.shape)}, the model has {list(p.shape)}')
        with torch.no_grad():
            p.copy_(t.to(p.dtype))
        matched += 1
    if tensors and not matched:
        some = ', '.join(list(tensors)[:3])
        raise UsageError(f'{path}: none of its {len(tensors)} tensors ({some}, …) is a parameter of the model; names are the '
                         'project\'s paths (give other checkpoints to peftc build --init, which maps them)')


def new_model(args):
    dtype = getattr(torch, args.dtype)
    model = Model().to(dtype)
    load_weights(model, os.path.join(HERE, 'weights.safetensors'), 'initial weights')
    if args.init:
        load_weights(model, args.init, '--init')
    return model.to(args.device)


def lm_targets(tokens):
    """Position t predicts token t+1; with P soft tokens, position P−1 predicts the first token."""
    B, T = tokens.shape
    t = torch.full((B, PROMPT_LENGTH + T), IGNORE, dtype=torch.long)
    if PROMPT_LENGTH > 0:
        t[:, PROMPT_LENGTH - 1] = tokens[:, 0]
    t[:, PROMPT_LENGTH:PROMPT_LENGTH + T - 1] = tokens[:, 1:]
    return t


# ---------------------------------------------------------------- --grad

def grad(args):
    if not args.tokens or not args.out:
        raise UsageError('--grad needs --tokens T.json and --out OUT.safetensors')
    try:
        with open(args.tokens) as f:
            rows = json.load(f)
        tokens = torch.tensor(rows)
    except OSError as e:
        raise UsageError(f'{args.tokens}: cannot read it ({e.strerror})') from None
    except (ValueError, TypeError, RuntimeError) as e:
        raise UsageError(f'{args.tokens}: not a JSON array of equal-length token rows ({e})') from None
    check_tokens(tokens, rows, args.tokens)
    model = new_model(args)
    model.eval()
    logits, loss = model(tokens.long().to(args.device), grad_targets(tokens.long(), args).to(args.device))
    (loss + model.regularizer()).backward()
    out = {'loss': loss.detach().reshape(1).float(), 'logits': logits.detach().float()}
    for name, p in model.named_parameters():
        if p.requires_grad:
            out['grad.' + name] = (p.grad if p.grad is not None else torch.zeros_like(p)).float()
    safetensors_io.save(out, args.out, {'source': BUILD['source'], 'backend': 'torch'})
    print(f'loss {loss.item()}')


def check_tokens(tokens, rows, where):
    """Token rows as peftc grad takes them: [B, T] integers, each a token id of the model."""
    if tokens.dim() != 2 or tokens.numel() == 0:
        raise UsageError(f'{where}: expected a JSON array of token rows, like [[1, 2, 3], [4, 5, 6]]')
    if tokens.is_floating_point() or tokens.dtype == torch.bool:
        raise UsageError(f'{where}: token ids must be integers')
    vocab = BUILD.get('vocab')
    bad = ((tokens < 0) | (tokens >= vocab)) if vocab else (tokens < 0)
    if bad.any():
        b, t = (int(i) for i in bad.nonzero()[0])
        raise UsageError(f'{where}: row {b}, position {t}: {rows[b][t]} is not a token id in [0, {vocab})')


def grad_targets(tokens, args):
    """The next tokens (language models), or --labels (classification)."""
    if TASK != 'classification':
        return lm_targets(tokens)
    if not args.labels:
        raise UsageError('--grad on a classifier needs --labels L.json (one label per row)')
    try:
        with open(args.labels) as f:
            labels = torch.tensor(json.load(f), dtype=torch.long)
    except (OSError, ValueError, TypeError) as e:
        raise UsageError(f'{args.labels}: not a JSON array of labels ({e})') from None
    if labels.shape != (tokens.shape[0],):
        raise UsageError(f'{args.labels}: {list(labels.shape)} labels for {tokens.shape[0]} rows')
    return labels


# ---------------------------------------------------------------- data

class Rows:
    """Encoded rows of one split: tokens [N, T], targets [N, P+T] (or [N] labels), lengths [N]."""

    def __init__(self, tensors, split, where):
        try:
            self.tokens = tensors[f'{split}.tokens'].long()
            self.targets = tensors[f'{split}.targets'].long()
            self.lengths = tensors[f'{split}.lengths'].long()
        except KeyError as e:
            raise UsageError(f'{where}: no tensor {e.args[0]} (write the file with peftc build --data)') from None

    def __len__(self):
        return self.tokens.shape[0]

    def cut(self, seq, where):
        """The first `seq` tokens of every row: the target of the last kept position is dropped with its token."""
        T = self.tokens.shape[1]
        if not 2 <= seq <= T:
            raise UsageError(f'--seq {seq}: {where} has rows of {T} tokens; give 2 … {T} (or build again with peftc build --seq)')
        self.tokens = self.tokens[:, :seq]
        if TASK != 'classification':
            self.targets = self.targets[:, :PROMPT_LENGTH + seq].clone()
            self.targets[:, PROMPT_LENGTH + seq - 1] = IGNORE
        self.lengths = self.lengths.clamp(max=PROMPT_LENGTH + seq)

    def take(self, index):
        return self.tokens[index], self.targets[index], self.lengths[index]


def load_data(args):
    tensors = load_file(args.data, '--data')
    train = Rows(tensors, 'train', args.data)
    if args.valid:
        vt = load_file(args.valid, '--valid')
        valid = Rows(vt, 'valid' if 'valid.tokens' in vt else 'train', args.valid)
    else:
        valid = Rows(tensors, 'valid', args.data)
    if len(train) == 0:
        raise UsageError(f'{args.data}: no training rows')
    if args.seq is not None:
        train.cut(args.seq, args.data)
        valid.cut(args.seq, args.valid or args.data)
    return train, valid


def epoch_order(n, epoch, seed):
    """The row order of an epoch: a seeded permutation, the same on every process."""
    g = torch.Generator().manual_seed(seed * 1000003 + epoch)
    return torch.randperm(n, generator=g)


def global_batch_index(n, step, size, seed):
    """Rows of the global batch of `step`: positions step·size … of the concatenated epoch orders."""
    idx = []
    for pos in range(step * size, (step + 1) * size):
        epoch = pos // n
        idx.append(int(epoch_order(n, epoch, seed)[pos - epoch * n]))
    return torch.tensor(idx)


def count_targets(targets):
    return (targets != IGNORE).sum()


# ---------------------------------------------------------------- optimizer and schedule

def learning_rate(args, step, total):
    """peftc's schedule for 0-based `step`: linear warm-up from zero, then constant or cosine to zero."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    if args.schedule == 'constant':
        return args.lr
    progress = min(1.0, (step - args.warmup) / max(1, total - args.warmup))
    return 0.5 * args.lr * (1 + math.cos(math.pi * progress))


def make_optimizer(model, args):
    """peftc's optimizer: AdamW (decoupled weight decay) or SGD with momentum (weight decay added
    to the gradient, as peftc's SGD does), decaying matrices only (biases, norms, vectors are not).
    A group per learning-rate scale too: LoRA+ steps B (and a DoRA magnitude) at lr_ratio × the
    rate, as Hugging Face PEFT's create_loraplus_optimizer groups them (config.json's lr_scale)."""
    o = BUILD['optimizer']
    scales = BUILD.get('lr_scale', {})
    by_group = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            by_group.setdefault((p.dim() >= 2, scales.get(name, 1.0)), []).append(p)
    groups = [{'params': ps, 'weight_decay': args.weight_decay if decayed else 0.0, 'lr_scale': scale}
              for (decayed, scale), ps in sorted(by_group.items(), key=lambda kv: (not kv[0][0], kv[0][1]))]
    if o['kind'] == 'sgd':
        return torch.optim.SGD(groups, lr=args.lr, momentum=o['momentum'])
    return torch.optim.AdamW(groups, lr=args.lr, betas=(o['beta1'], o['beta2']), eps=o['eps'])


# ---------------------------------------------------------------- distributed

class World:
    """This process's place: rank and size under torchrun, else 0 of 1."""

    def __init__(self, device):
        import torch.distributed as dist
        self.dist = dist
        self.size = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        if self.size > 1:
            dist.init_process_group('nccl' if device.startswith('cuda') else 'gloo')

    def sum(self, x):
        if self.size > 1:
            self.dist.all_reduce(x)
        return x

    def close(self):
        if self.size > 1:
            # Every rank waits here before any tears its group down: rank 0 may still be writing the
            # last checkpoint, and a gloo rank destroying its group while a peer is busy or gone
            # could wait for ever (seen with torch 1.13: rank 1 hung in its exit, torchrun with it).
            self.dist.barrier()
            self.dist.destroy_process_group()


# ---------------------------------------------------------------- training

def forward_sum(model, rows, index, device):
    """Σ of the per-position losses of rows[index] (its mean times its counted positions), and the count."""
    tokens, targets, lengths = (t.to(device) for t in rows.take(index))
    kwargs = {'lengths': lengths} if 'lengths' in BUILD['inputs'] else {}
    _, loss = model(tokens, targets, **kwargs)
    n = count_targets(targets)
    return loss * n, n


def evaluate(model, rows, args, world, ranks=None):
    """Mean loss over the evaluated validation rows' counted positions, all processes together."""
    n = len(rows)
    if n == 0:
        return None
    if ranks:
        ranks.eval_masks()
    k = min(args.eval_rows, n)
    picked = [int(i * n / k) for i in range(k)]
    mine = picked[world.rank::world.size]
    was = model.training
    model.eval()
    total = torch.zeros(2, dtype=torch.float64)
    with torch.no_grad():
        for s in range(0, len(mine), args.batch):
            loss_sum, count = forward_sum(model, rows, torch.tensor(mine[s:s + args.batch]), args.device)
            total += torch.tensor([loss_sum.item(), float(count)], dtype=torch.float64)
    model.train(was)
    total = world.sum(total.to(args.device)).cpu()
    return (total[0] / total[1].clamp(min=1)).item()


def trainable_state(model):
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(model, opt, step, total, log, args, ranks):
    """OUT/: Hugging Face PEFT adapter folder(s) and trainer_state.pt (to --resume), written whole."""
    os.makedirs(args.out, exist_ok=True)
    save_hf_peft(model, args.out, ranks, total)
    state = {'step': step, 'total': total, 'trainable': trainable_state(model), 'optimizer': opt.state_dict(), 'log': log,
             'args': {k: v for k, v in vars(args).items() if k not in ('resume', 'stop_at', 'out')}}
    if ranks:
        state['ranks'] = ranks.state()
    tmp = os.path.join(args.out, STATE_FILE + '.tmp')
    torch.save(state, tmp)
    os.replace(tmp, os.path.join(args.out, STATE_FILE))


def save_hf_peft(model, out, ranks=None, total=None):
    """Each exported part (LoRA, prompt, prefix, bottleneck adapters) as adapter_config.json + weights,
    keyed as Hugging Face PEFT (AdapterHub for bottleneck adapters) names them. Modules with a
    selected rank keep the ranks the run selected (AdaLoRA's E folded into A), as peftc export."""
    params = dict(model.named_parameters())
    for part in BUILD['export']:
        folder = os.path.join(out, part['folder'])
        os.makedirs(folder, exist_ok=True)
        tensors = {}
        kept = {m['module']: ranks.kept(m['module']) for m in part['lora']['modules'] if m['mode'] != 'fixed'} if part.get('lora') and ranks else {}
        for e in part['entries']:
            value = model.prefix_table() if e['path'] == BUILD.get('prefix_table') else params[e['path']]
            value = value.detach().float().cpu()
            if e.get('select'):
                index = kept.get(e['path'].rsplit('.lora_', 1)[0], list(range(e['shape'][e['select']['axis']])))
                # Plain LoRA leaves out a module that kept no rank; PEFT's AdaLoRA keeps it, empty.
                if index or 'of' in e['select']:
                    tensors[e['key']] = rank.select_ranks(e, value, index, params)
                continue
            tensors[e['key']] = to_file_layout(e, value)
        tmp = os.path.join(folder, part['weights'] + '.tmp')
        safetensors_io.save(tensors, tmp, {'format': 'pt'} if part['format'] == 'hf-peft' else None)
        os.replace(tmp, os.path.join(folder, part['weights']))
        config = rank.adapter_config(part['config'], part['lora'], kept, total) if kept else part['config']
        with open(os.path.join(folder, 'adapter_config.json'), 'w') as f:
            f.write(config)


def to_file_layout(entry, t):
    """The prefix table's column blocks in the file's order (file block b = our block order[b])."""
    blocks = entry.get('blocks')
    if not blocks:
        return t.reshape(entry['shape'])
    w = blocks['width']
    return torch.cat([t[:, o * w:(o + 1) * w] for o in blocks['order']], 1)


def train(args):
    if not args.out:
        raise UsageError('training needs --out DIR (the checkpoint folder)')
    if args.data is None:
        raise UsageError('no training data: give --data (a data.safetensors written by peftc build --data)')
    world = World(args.device)
    if world.size > 1 and args.device.startswith('cuda'):
        args.device = f'cuda:{int(os.environ.get("LOCAL_RANK", "0"))}'
    train_rows, valid_rows = load_data(args)
    model = new_model(args)
    opt = make_optimizer(model, args)
    global_batch = args.batch * world.size
    total = args.steps or max(1, math.ceil(len(train_rows) / global_batch))
    start, log = 0, []
    if args.resume:
        state = torch.load(os.path.join(args.resume, STATE_FILE))
        load_state(model, state)
        opt.load_state_dict(state['optimizer'])
        start, total, log = state['step'], state['total'], state['log']
    ranks = rank_selection(model, total, args)
    if ranks and args.resume and 'ranks' in state:
        try:
            ranks.restore(state['ranks'])
        except (KeyError, TypeError, AttributeError, RuntimeError):
            raise UsageError(f'--resume {args.resume}: its rank selection state (masks, scores) does not fit this model') from None
    if world.rank == 0:
        for skipped in BUILD['export_skipped']:
            print(f'train.py: note: not in the adapter folder (trainer_state.pt keeps it): {skipped}', file=sys.stderr)
    every = args.eval_every or max(1, total // 5)
    stop = min(total, args.stop_at) if args.stop_at else total
    net = model
    if world.size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[torch.device(args.device).index] if args.device.startswith('cuda') else None)
    model.train()
    for step in range(start, stop):
        t0 = time.time()
        lr = learning_rate(args, step, total)
        for g in opt.param_groups:
            g['lr'] = lr * g.get('lr_scale', 1.0)
        rows = global_batch_index(len(train_rows), step, global_batch, args.seed)
        mine = rows[world.rank * args.batch:(world.rank + 1) * args.batch]
        count = count_targets(train_rows.take(rows)[1]).to(args.device).double()  # of the global batch
        torch.manual_seed(args.seed * 1000003 + step * world.size + world.rank)  # dropout masks
        if ranks:
            ranks.train_masks(step)
        loss_sum, _ = forward_sum(net, train_rows, mine, args.device)
        # DDP averages gradients over processes: × size makes them those of Σ/count of the global batch.
        (loss_sum * world.size / count.clamp(min=1) + model.regularizer()).backward()
        raw = ranks.gradients() if ranks else None  # AdaLoRA's importance takes them unclipped
        norm = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], args.clip if args.clip > 0 else float('inf'))
        opt.step()
        if ranks:
            ranks.after_step(step + 1, raw, opt)
        opt.zero_grad(set_to_none=True)
        loss = (world.sum(loss_sum.detach().double()) / count.clamp(min=1)).item()
        entry = {'step': step + 1, 'loss': loss, 'lr': lr, 'grad_norm': float(norm), 'seconds': round(time.time() - t0, 4)}
        log.append(entry)
        report(entry, args, world)
        if (step + 1) % every == 0 or step + 1 == stop:
            v = evaluate(model, valid_rows, args, world, ranks)
            if v is not None:
                report({'step': step + 1, 'valid_loss': v}, args, world)
            if world.rank == 0:
                save_checkpoint(model, opt, step + 1, total, log, args, ranks)
    if ranks and ranks.auto and world.rank == 0:
        report({'step': stop, 'ranks': ranks.ranks()}, args, world)
    world.close()


def rank_selection(model, total, args):
    """DyLoRA's and AdaLoRA's masks for this run (None without rank selection)."""
    if not BUILD.get('ranks'):
        return None
    try:
        return rank.RankSelection(BUILD['ranks'], model, total, args.seed)
    except ValueError as e:
        raise UsageError(str(e)) from None


def load_state(model, state):
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, t in state['trainable'].items():
            if name not in params:
                raise UsageError(f'--resume: the checkpoint holds {name}, which this model does not have')
            params[name].copy_(t.to(params[name].dtype))


def report(entry, args, world):
    if world.rank != 0:
        return
    if args.json:
        print(json.dumps(entry), flush=True)
    elif 'ranks' in entry:
        print('ranks: ' + ', '.join(f'{m} {r}' for m, r in entry['ranks'].items()), flush=True)
    elif 'valid_loss' in entry:
        print(f"step {entry['step']}: validation loss {entry['valid_loss']:.4f}", flush=True)
    else:
        print(f"step {entry['step']}: loss {entry['loss']:.4f} lr {entry['lr']:.3g} grad norm {entry['grad_norm']:.3g}", flush=True)


def main(argv):
    args = parse_args(argv)
    try:
        if args.resume and not os.path.isfile(os.path.join(args.resume, STATE_FILE)):
            raise UsageError(f'--resume {args.resume}: no {STATE_FILE} (not a checkpoint of this trainer)')
        grad(args) if args.grad else train(args)
    except UsageError as e:
        print(f'train.py: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
